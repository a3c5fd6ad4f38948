"""Driving a D-Store emulator with signed requests, and reading what it received and holds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx

from reconciler_dstore import signing
from reconciler_dstore.emulator import SYNC_PRODUCT_PATH, DStoreEmulator

CLIENT_ID = "375Y903U2Y45KE00600"
ACCOUNT, STORE = "bk001", "s1"

def sync_body(products: list[dict[str, Any]], request_id: str = "r-1", **extra: Any) -> dict:
    return {
        "requestId": request_id,
        "posAccountId": ACCOUNT,
        "store": {"posStoreId": STORE, "name": "s1-name"},
        "products": copy.deepcopy(products),
        **extra,
    }


def status_body(updates: dict[str, str], request_id: str = "r-status") -> dict:
    products = [{"posProductId": pid, "status": status} for pid, status in updates.items()]
    return {
        "requestId": request_id,
        "posAccountId": ACCOUNT,
        "store": {"posStoreId": STORE},
        "products": products,
    }


def signed_headers(
    key, body: bytes, *, client_id: str = CLIENT_ID, request_time: str | None = None
) -> dict[str, str]:
    request_time = request_time or signing.request_time_now()
    content = signing.signed_content("POST", SYNC_PRODUCT_PATH, client_id, request_time, body)
    return {
        "Content-Type": "application/json; charset=UTF-8",
        "Client-Id": client_id,
        "Request-Time": request_time,
        "Signature": signing.format_signature_header(signing.sign(key, content)),
    }


class Caller:
    """A minimal signed D-Store client, just enough to drive the emulator."""

    def __init__(self, http: httpx.AsyncClient, key) -> None:
        self.http = http
        self.key = key

    async def post(self, doc: dict | bytes, **header_options: Any) -> httpx.Response:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode("utf-8")
        headers = signed_headers(self.key, body, **header_options)
        return await self.http.post(SYNC_PRODUCT_PATH, content=body, headers=headers)

    async def result(self, doc: dict | bytes, **header_options: Any) -> dict[str, str]:
        response = await self.post(doc, **header_options)
        assert response.status_code == 200
        return response.json()["result"]


SUCCESS = {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "success"}


def by_id(products: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["posProductId"]: p for p in products}



def emulator_of(project_root: Path, backend: str = "demo") -> DStoreEmulator:
    """A fresh view of the emulator data the CLI left under .reconciler/ (read after a run)."""
    return DStoreEmulator(path=project_root / ".reconciler" / "emulators" / backend / "data.json")


def processed(emulator: DStoreEmulator) -> list[dict]:
    """Requests the emulator acted on (not replays, not rejected before processing)."""
    return [r for r in emulator.requests if r.get("mode") and not r.get("replayed") and r["result"]["resultStatus"] == "S"]


async def request_body(receive) -> bytes:
    """The whole body of an ASGI request, for the tiny gateways tests write."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
