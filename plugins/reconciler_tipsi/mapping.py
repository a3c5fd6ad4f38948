"""Pure translation between the catalog and Tipsi `ext/sync` items.

Only SINGLE products are Tipsi items; GROUP and MODIFIER products belong to menu
structures Tipsi has no notion of, so they are left out without a word.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable

from reconciler.sdk import StoreProduct, StoreView

API = "/api/rest/v001"
LOGIN_PATH = f"{API}/login"
CATEGORIES = ("wine", "drink")
DEFAULT_CHUNK = 300
# Limits the documents leave open, read the strict way (Django's usual field sizes) and
# shared by validation and the emulator: docs/providers/tipsi-conformance.md, TP-G*.
MAX_TEXT = 255  # characters of external_id, a barcode, pos_item_name, unit_size
MAX_STOCK = 2**31 - 1  # in_stock is a database integer
PRICE_PLACES = 2  # decimal places of price and special_price
# Fields ext/sync cannot clear: an omitted field is not updated and no documented value
# (null, "") clears one, so Tipsi keeps the last value sent (`held_item`). pos_item_name,
# barcodes and in_stock are always sent; category is required by validation.
UNCLEARABLE = ("price", "unit_size", "category")
# The document's external ids are JSON integers (10003); a catalog id that reads as one
# is sent as one. Leading zeros, letters or more digits than an int32 holds stay text.
_INTEGER_ID = re.compile(r"0|[1-9][0-9]{0,8}")


def sync_path(store_id: str) -> str:
    return f"{API}/store/{store_id}/ext/sync"


def sync_clear_path(store_id: str) -> str:
    return f"{API}/store/{store_id}/ext/sync_clear"


def tipsi_products(view: StoreView) -> Iterable[StoreProduct]:
    return (item for item in view.products.values() if item.product.type == "SINGLE")


def whole_stock(item: StoreProduct) -> int | None:
    """The stock as Tipsi's integer, or None when it is fractional, negative or too big."""
    if item.stock is None:
        return 0  # no entry: nothing on hand, so the item shows as out of stock
    quantity = item.stock.quantity
    if quantity < 0 or quantity > MAX_STOCK or quantity != quantity.to_integral_value():
        return None
    return int(quantity)


def price_text(value: Decimal) -> str:
    # A string keeps the decimal exact; DRF's DecimalField takes "12.50" as readily as 12.5.
    cents = value.quantize(Decimal("0.01"))
    return str(cents) if cents == value else str(value)


def external_id(product_id: str) -> int | str:
    return int(product_id) if _INTEGER_ID.fullmatch(product_id) else product_id


def item_resource(item: StoreProduct) -> dict[str, Any]:
    """One item exactly as `ext/sync` sends it (and as the state remembers it)."""
    product = item.product
    resource: dict[str, Any] = {
        "external_id": external_id(item.id),
        "barcodes": list(product.barcodes),
        "in_stock": whole_stock(item) or 0,
        "pos_item_name": product.name,
    }
    if item.price is not None:
        resource["price"] = price_text(item.price)
    if product.unit_size is not None:
        resource["unit_size"] = product.unit_size
    if product.category is not None:
        resource["category"] = product.category
    return resource


def zeroed(product_id: str) -> dict[str, Any]:
    """A removed item: Tipsi never deletes through sync, it only sets the stock to 0."""
    return {"external_id": external_id(product_id), "in_stock": 0}


def held_item(desired: dict[str, Any], applied: dict[str, Any] | None) -> dict[str, Any] | None:
    """What Tipsi holds after `desired` is sent over `applied`, when that differs from
    `desired`: the fields the catalog dropped and ext/sync cannot clear stay. Else None."""
    if applied is None:
        return None
    kept = {name: applied[name] for name in UNCLEARABLE if name in applied and name not in desired}
    return {**desired, **kept} if kept else None


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]
