"""Alipay+ gateway message signing, shared by the D-Store client and its emulator.

The scheme follows Alipay's official SDK (global-open-sdk-python, signature_tool.py):
SHA256withRSA (PKCS#1 v1.5) over "<METHOD> <path>\\n<client id>.<time>.<body>", the
signature base64-encoded and then URL-encoded, because it travels inside a header whose
parts are separated by commas and whose keys and values are separated by '='.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from urllib.parse import quote_plus, unquote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ALGORITHM = "RSA256"
KEY_BITS = 2048


def signed_content(method: str, path: str, client_id: str, timestamp: str, body: bytes) -> bytes:
    # The body is appended as raw bytes: re-encoding it could change what was signed.
    return f"{method} {path}\n{client_id}.{timestamp}.".encode("utf-8") + body


def sign(private_key: rsa.RSAPrivateKey, content: bytes) -> str:
    raw = private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
    return quote_plus(base64.b64encode(raw).decode("ascii"))


def verify(public_key: rsa.RSAPublicKey, content: bytes, signature_value: str) -> bool:
    """Whether `signature_value` (URL-encoded, as sent) signs `content`.

    Never raises: a malformed signature is just an invalid one to the caller.
    """
    try:
        raw = base64.b64decode(unquote_plus(signature_value), validate=True)
        public_key.verify(raw, content, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False
    return True


def format_signature_header(value: str, key_version: str = "1") -> str:
    return f"algorithm={ALGORITHM},keyVersion={key_version},signature={value}"


def parse_signature_header(header: str) -> dict[str, str]:
    """Split "algorithm=RSA256, keyVersion=1, signature=..." into its parts.

    Real gateways put spaces after the commas and do not promise an order, so both are
    tolerated. Parts without '=' carry no information and are skipped.
    """
    parts: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            parts[key.strip()] = value.strip()
    return parts


def _pem_or_der(key: str | bytes) -> tuple[bytes, bool]:
    text = key.decode("ascii") if isinstance(key, bytes) else key
    if "-----BEGIN" in text:
        return text.strip().encode("ascii"), True
    # Alipay hands keys out as bare base64 of the DER encoding, often wrapped or padded.
    return base64.b64decode("".join(text.split()), validate=True), False


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    data, is_pem = _pem_or_der(pem)
    loader = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
    key = loader(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the gateway only accepts RSA keys")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    data, is_pem = _pem_or_der(pem)
    loader = serialization.load_pem_public_key if is_pem else serialization.load_der_public_key
    key = loader(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the gateway only accepts RSA keys")
    return key


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def generate_key_pair() -> tuple[str, str]:
    """A fresh (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM) pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return private_key_pem(key), public_key_pem(key.public_key())


def request_time_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
