"""Canonical JSON and content hashes: the same data always gives the same bytes."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def encode_body(value: Any) -> bytes:
    """The exact bytes a JSON request body is sent as; key order as built."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
