"""Currencies and exact conversion between decimal major units and integer minor units.

Users write prices as decimals in major units (`10.00` SGD); backends want integers in
minor units (`1000`). The conversion is exact or it is an error: a price with more
precision than its currency has is rejected, never rounded.
"""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 active codes with their minor-unit exponent. Codes not listed here are unknown.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
    "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
    "TWD TZS UAH USD USN UYU UZS VED VES WST XCD YER ZAR ZMW ZWG ZWL"
)

CURRENCY_EXPONENT: dict[str, int] = {
    **{code: 0 for code in _EXPONENT_0.split()},
    **{code: 2 for code in _EXPONENT_2.split()},
    **{code: 3 for code in _EXPONENT_3.split()},
    **{code: 4 for code in _EXPONENT_4.split()},
}


def is_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENT


def precision_problem(amount: Decimal, currency: str) -> str | None:
    """Why `amount` cannot be written in `currency`, or None if it can."""
    exponent = CURRENCY_EXPONENT[currency]
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        places = "no decimal places" if exponent == 0 else f"{exponent} decimal place{'s' * (exponent > 1)}"
        return f"{amount} {currency} has more precision than {currency} allows ({places}); write it exactly"
    return None


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Exact conversion; callers validate precision first, so a remainder is a bug."""
    scaled = amount.scaleb(CURRENCY_EXPONENT[currency])
    if scaled != scaled.to_integral_value():
        raise ValueError(precision_problem(amount, currency))
    return int(scaled)


def from_minor_units(value: int, currency: str) -> Decimal:
    exponent = CURRENCY_EXPONENT[currency]
    return (Decimal(value).scaleb(-exponent)).quantize(Decimal(1).scaleb(-exponent))
