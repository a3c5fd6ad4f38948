"""Alipay+ gateway signing: the scheme, checked against a vector computed by openssl."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote_plus

import pytest

from reconciler_dstore import signing

# Throwaway key made for this test only; it signs nothing real.
TEST_PRIVATE_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDIqG2NnkwWteG4
YFWdmEJtAQYuwwEjnJcX3eByqDfVz6XyQYQI+bl9kmFjSiNF8jAp7vuDmaXUabXK
ROFJRdtpQgKPgg01nlNAfrJapJEZ9iClwcUTE8fVtmWfWgnVV7pkbYf+57PTCbjj
wTAt72UdLxpt7m6HSH+jCj2CXHEepZoLgGStppdRWpRuyLi5WBlm5f4yjW1gucPc
d0loFFHWN/OSLfTVJy1QQd0h+jLxztc5caLMmZbRjKQBRinBbwyCaMjgfwQW+PN5
kE02UKlV+nqxCLOwmMAA9g9y3Idv/h5KaXAwafnhhL6Y+pZpZLCw+aG3PdgLO8T3
k+fAao+LAgMBAAECggEAG+BxDpE05JzSe0Eq89DbkvWRodJ7/dy7OFjIs1/VGKfC
Ar+BCUGEYxfV3tZFwz8Whjo03WoYWe5xD+T04C9L1bo9d9QrY00X0ih9PSQ1d8QJ
chh9pB0F5hYdKn/MSO7orsYcHtjwKHwRIIHONeYsh9rrkuU38XnW0v77tPjZywDF
8Vs/tASyqDVl28PmWOxBVoX9wiRqCLjS9Hf0X/Z1y0WWlWBA+qwTYgoOQF7F2cti
bU/ruFijaUHKPIPn9Cde4J/n7xL/kwC0ar0PGLXIZpMCOt1XM9jMiSIFD21A0qvT
rpc1cVXwXLRk7DVgppfhITA2h+jO+4Xh3pIKLsMEyQKBgQDzjiid1Gw18Ip/S8ru
ThEzmM2H1In08gI/g+YTPHxaMoZ35S/7L/XilR+DEZanzJQrpY6Qrqu9RfL6Y/B0
/qZ+exYN10WZOr5msOyfd+oEorS63X36SwsiPUqNiHWNjpOTAt4z8m1Byn8jEAiY
p/GLn10xb4C69sepHweRXoPl+QKBgQDS6SWuGR8zT6tYjUQgcW+07hQkp9pnx1wH
ZAlrq3XD5wXJU4wdcxiTWV+SrMPiersY86OI80eZ5qC6vkd2B8JaqLrWK1/MLEZD
TT6Dj4/Ae9x4kUl7TfaJtG8G92qQOB6ytNeYZOZQT5wBkrZP85+kmI7cf7XCZe0Z
Vd9jQsiyowKBgQDgBrEBjDUE4H7kXFkLHi/gX/sdp7hF4J2EwtRMeWSAqtzZR6z8
xb7MbhKQQwtqyVi5VQ1vs9swvDilbGvvkZSf3qQIkyznpwsf9jmQ7YIKRYcsIzQP
mBtjoTEEQrKuRKklnou5CJLK43JSVBs0H7akkS/tmvyz/O7mdy5E3sVAMQKBgQDA
NOM25wQNEeTYPV1Bp78ihvlqcmHSw9b1kVAYhFg9YPNgBzigufxChGdZ1wJpCmop
kheNvg+ZjJkbtj6PrQCM+EnU1hBmlE6wFNwMry9VPkuswNLTgThVRE8ObTn7Fnm7
aJ0173YI6JQGxvpIoH/zU2iWP/iXoaXSufRrlDgsuwKBgB2QIrbOyd7fZ6UR+Jd+
DXLHZv3uFxGJCw2MYT+d8jjUgOyesTCRp8uLbyzA8tfNJ4VgIHNknNcgkdW0D5wC
o7gGENyzBUhYpRTQ3l+7OIXGlbinYhiYhu62/SehLagAmCS0LiJKw/KS6OF/QMRW
Q+vONW2KSP1f/zNdl37ZcAwZ
-----END PRIVATE KEY-----
"""

SAMPLE_BODY = (
    b'{"requestId":"20231220bsefibb334","posAccountId":"bk001","store":{"posStoreId":"s1",'
    b'"name":"s1-name"},"products":[{"posProductId":"p1","type":"SINGLE","status":"AVAILABLE",'
    b'"name":"green tea","price":{"currency":"SGD","value":1000}}]}'
)

# Computed independently when this test was written:
#   openssl dgst -sha256 -sign key.pem content.bin | base64 -w0, then urllib.parse.quote_plus
EXPECTED_SAMPLE_SIGNATURE = (
    "YeWe2%2Ffi3XZ1mUFxYECP63C882Xo9aWOE9nifqSnHHNviirn%2F7ZGU3AYzQJOl%2FP33he6kObzri"
    "QX5EAvWo%2FGbG0xHgh45NkZrgyVrGxQra6ON0aX4a%2F6zT1RxBAiF9oD%2FBgiYu%2FZjhHH%2FbIr"
    "1TlaApy2Q%2BFl4jC7tA5MoZcKyJ7xr5c0geu4opgvq0OZ%2BeONFOOvBM%2B9SWYf7AA67RXevZJ7rl"
    "NnyJpMRwEWyU1cs2JpTk9Q0L50ZOZ8rF8bWabzURWvfT3W2NNHajfbVnVYrX3xQUQwQ2E%2FvY%2FaC4"
    "JyG1OfV6sR8xkoNrfvrdvfyuBprMNWhr%2BzdyWzVh2gkbkNXg%3D%3D"
)

SAMPLE_CONTENT = (
    b"POST /v2/pos/syncProduct\n375Y903U2Y45KE00600.2022-10-10T23:00:56+08:00." + SAMPLE_BODY
)


@pytest.fixture(scope="module")
def private_key():
    return signing.load_private_key(TEST_PRIVATE_KEY_PEM)


@pytest.fixture(scope="module")
def public_key(private_key):
    return private_key.public_key()


def test_signed_content_follows_the_official_sample_layout():
    content = signing.signed_content(
        "POST", "/v2/pos/syncProduct", "375Y903U2Y45KE00600", "2022-10-10T23:00:56+08:00", SAMPLE_BODY
    )
    assert content == SAMPLE_CONTENT


def test_signed_content_keeps_body_bytes_untouched():
    body = '{"name":"café"}'.encode("utf-8") + b"\r\n"
    assert signing.signed_content("POST", "/p?a=1", "c", "t", body).endswith(b"c.t." + body)
    assert signing.signed_content("POST", "/p?a=1", "c", "t", body).startswith(b"POST /p?a=1\n")


def test_signature_matches_the_openssl_vector(private_key, public_key):
    assert signing.sign(private_key, SAMPLE_CONTENT) == EXPECTED_SAMPLE_SIGNATURE
    assert signing.verify(public_key, SAMPLE_CONTENT, EXPECTED_SAMPLE_SIGNATURE)


def test_signature_value_is_url_encoded(private_key):
    value = signing.sign(private_key, SAMPLE_CONTENT)
    assert re.fullmatch(r"[A-Za-z0-9%]+", value)
    assert "%3D" in value  # the base64 padding of a 256-byte signature


def test_document_sample_signature_has_the_same_encoding():
    # Signed with the sandbox key, which we do not have: only its form can be checked.
    document_sample = (
        "EVCRST9tbtIaCqYvozPbVhi7d0D5rfdIHUUh6fIjx7nf9%2FeCbkRFrxoCOzzp3ac%2FcMhQnxtmvYZFOQDLAmhz"
        "UjhB68Z3bMm0O03wqPExowRlDHGFPWJL8bmgUQMGyblViAfCaSjCcpCa1C%2Fk6A6CCaAAh9MRMNQZ8X36lS5f64"
        "Db07IIKIJ53aqDl40y4MNUcJiY3nDmOZeVxATUubKc8HnZgm2IkgxEOqRpodP%2FWAyZq8iHR4rID%2B4xeQDGdP"
        "TlRg3Z3G15lebb38yuukgcYE337rYjMgENTDol3rWz1ZTMJ5pwPxWkT5rlqE%2FG55tyDf6dfy%2BxK3bt9JLvL3"
        "bb8A%3D%3D"
    )
    assert len(base64.b64decode(unquote_plus(document_sample), validate=True)) == 256
    assert re.fullmatch(r"[A-Za-z0-9%]+", document_sample)


def test_round_trip(private_key, public_key):
    content = signing.signed_content("POST", "/v2/pos/syncProduct", "client", "now", b"{}")
    assert signing.verify(public_key, content, signing.sign(private_key, content))


def test_tampered_body_fails(private_key, public_key):
    value = signing.sign(private_key, SAMPLE_CONTENT)
    tampered = SAMPLE_CONTENT.replace(b'"value":1000', b'"value":1001')
    assert not signing.verify(public_key, tampered, value)


def test_other_key_fails(public_key):
    other_private_pem, _ = signing.generate_key_pair()
    other = signing.load_private_key(other_private_pem)
    assert not signing.verify(public_key, SAMPLE_CONTENT, signing.sign(other, SAMPLE_CONTENT))


@pytest.mark.parametrize(
    "value", ["", "not base64!", "%ZZ", "YWJj", EXPECTED_SAMPLE_SIGNATURE[:-6], None, 42]
)
def test_malformed_signature_is_invalid_not_an_error(public_key, value):
    assert signing.verify(public_key, SAMPLE_CONTENT, value) is False


def test_signature_header_format():
    assert (
        signing.format_signature_header("abc%3D")
        == "algorithm=RSA256,keyVersion=1,signature=abc%3D"
    )
    assert signing.format_signature_header("x", key_version="2").endswith("keyVersion=2,signature=x")


@pytest.mark.parametrize(
    "header",
    [
        "algorithm=RSA256,keyVersion=1,signature=ab%2Fc%3D%3D",
        "algorithm=RSA256, keyVersion=1, signature=ab%2Fc%3D%3D",
        "signature=ab%2Fc%3D%3D,  algorithm=RSA256 ,keyVersion=1",
        " keyVersion=1,signature=ab%2Fc%3D%3D,algorithm=RSA256,",
    ],
)
def test_signature_header_parse_is_tolerant(header):
    assert signing.parse_signature_header(header) == {
        "algorithm": "RSA256",
        "keyVersion": "1",
        "signature": "ab%2Fc%3D%3D",
    }


def test_signature_header_parse_splits_on_first_equals_and_keeps_key_case():
    assert signing.parse_signature_header("Signature=a=b,junk") == {"Signature": "a=b"}


def test_header_round_trip_with_real_signature(private_key, public_key):
    header = signing.format_signature_header(signing.sign(private_key, SAMPLE_CONTENT))
    value = signing.parse_signature_header(header)["signature"]
    assert signing.verify(public_key, SAMPLE_CONTENT, value)


def _bare_base64(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def test_keys_load_from_bare_base64_as_alipay_hands_them_out(public_key):
    private = signing.load_private_key(_bare_base64(TEST_PRIVATE_KEY_PEM))
    public_pem = signing.public_key_pem(public_key)
    public = signing.load_public_key(_bare_base64(public_pem).encode("ascii"))
    assert signing.sign(private, SAMPLE_CONTENT) == EXPECTED_SAMPLE_SIGNATURE
    assert signing.verify(public, SAMPLE_CONTENT, EXPECTED_SAMPLE_SIGNATURE)


def test_keys_load_from_pem_bytes():
    key = signing.load_private_key(TEST_PRIVATE_KEY_PEM.encode("ascii"))
    assert signing.sign(key, SAMPLE_CONTENT) == EXPECTED_SAMPLE_SIGNATURE


def test_garbage_key_is_rejected():
    with pytest.raises(ValueError):
        signing.load_public_key("not a key at all")


def test_generated_key_pair_formats():
    private_pem, public_pem = signing.generate_key_pair()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
    private = signing.load_private_key(private_pem)
    assert private.key_size == 2048
    public = signing.load_public_key(public_pem)
    content = b"POST /x\nc.t.{}"
    assert signing.verify(public, content, signing.sign(private, content))


def test_request_time_now_is_iso_8601_with_offset_in_seconds():
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", signing.request_time_now()
    )
