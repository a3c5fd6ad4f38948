"""A fake of the miPOS inventory integration API, served as an ASGI app.

miPOS relays: `system/sync` sends the POS's items to the inventory system, and
`system/stock/update` sends it one stock movement; the inventory system posts its own
stock changes back to the POS as type-3 webhooks. The emulator plays miPOS and the
inventory system together, one stock level per item.

It follows the miPOS document and API-FACTS (every row: docs/providers/mipos-conformance.md).
Where both are silent it takes the stricter reading, configurable where the real system
may differ (`settings`, persisted with the data; `configure()` or `PUT /_emulator/settings`):

- `omitted_items`: what a `system/sync` does to items, units and suppliers of the store
  it does not name. "removed" (default: the sync replaces the store's contents, the worst
  case for contents the reconciler never saw) or "kept" (the sync adds and updates only).
- `stock_check`: a movement is applied (type 1 adds `quantity`, type 2 removes it) and
  the result compared with `current_stock`. "strict" (default) refuses a movement whose
  result differs (409, nothing changes), so a movement applied twice is refused the
  second time; "current_stock" takes `current_stock` as the new level.
- `stock_relay`: whether the inventory system takes stock movements. "available"
  (default), "type_unavailable" ("This type of webhook is not available.") or
  "not_registered" ("This inventory system does not have this type of webhook available.").
- `provision_stores`: False (default): only stores seeded with `seed_store` exist, others
  are "You don't have this store available."; True (the in-process `emulator://` backend
  and `reconciler emulate`): a store id is provisioned, integrated, on first use.
- `timezone`: the zone of `date` and `now` in the webhooks it sends (default UTC).

Other choices: tokens (`POST /api/oauth/token`, `expires_in` a Unix timestamp string;
unknown or expired tokens are 401 `{"message": "Unauthenticated."}`); 422 field errors
before 409 data rules; the 409 checks in the document's order, store-level ones one at a
time, the item list all at once; a refused request changes nothing.

Emission: a stock change made inside the inventory system (`set_stock`, or
`POST /_emulator/stores/{id}/items/{external_id}/stock`) posts a signed type-3 webhook to
the registered URL, in the document's key order and layout, `store_id` a number when the
store id is one; retried on anything but a 2xx, each attempt with its own `now`.

Faults (latency, http_error, unknown = 503, rate_limit = 429, timeout, drop) apply to
every API route including the token one (use `path` or `match`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, JsonFile, faults_endpoint

from . import mapping
from .mapping import API, TOKEN_PATH, WEBHOOK_PATH
from .rules import (
    ADD, INVALID_TYPE, NO_EXTERNAL_ID, NO_INTEGRATION, NO_STORE, NOT_INVENTORY_SYSTEM, NOT_OWNER, NOT_REGISTERED, REMOVE,
    STOCK_FIELDS, STOCK_MISMATCH, SYNC_FIELDS, TYPE_UNAVAILABLE, WEBHOOK_MANAGE_FIELDS, field_errors, sync_problems,
)
from .webhooks import SIGNATURE_HEADER, signature

UNAUTHENTICATED = {"message": "Unauthenticated."}
SYNC_DONE = "Synchronization data was sent to the inventory system."
STOCK_DONE = "Stock update was sent to the inventory system."  # not in the document: our choice
WEBHOOK_DONE = "Webhook successfully created."  # the document's only answer, for a create or an update


SETTINGS = {
    "omitted_items": ("removed", "kept"),
    "stock_check": ("strict", "current_stock"),
    "stock_relay": ("available", "type_unavailable", "not_registered"),
    "provision_stores": (False, True),
}


def default_account() -> dict[str, str]:
    return {"client_id": "emulator-client", "client_secret": secrets.token_urlsafe(24),
            "email": "pos@example.com", "password": secrets.token_urlsafe(12), "user_id_tps": "30",
            "inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9", "pos_id": "1"}


def _refused(*messages: str) -> tuple[int, Any]:
    return 409, {"message": list(messages), "data": None}


def _done(message: str) -> tuple[int, Any]:
    return 200, {"message": message, "data": None}


def _wire_store_id(store_id: str) -> Any:
    """The store id as the document's webhook example carries it: a number when it is one."""
    return int(store_id) if store_id.isdigit() and str(int(store_id)) == store_id else store_id


class MiPOSEmulator:
    """miPOS's data and behaviour; HTTP stays in `create_app`."""

    def __init__(self, path: Path | None = None, account: dict[str, str] | None = None,
                 token_lifetime: float = 3600, clock: Callable[[], float] = time.time,
                 outgoing: httpx.AsyncBaseTransport | None = None, delivery_attempts: int = 3,
                 delivery_backoff: float = 0.2, **settings: Any):
        self.path = Path(path) if path else None
        self.account = account or default_account()
        self.token_lifetime, self.clock = token_lifetime, clock
        self.outgoing = outgoing  # the transport webhooks leave through; None is the network
        self.delivery_attempts, self.delivery_backoff = delivery_attempts, delivery_backoff
        self.faults = FaultQueue()
        # The settings a new data file starts with; a file's own settings win.
        self._initial_settings = {"omitted_items": "removed", "stock_check": "strict", "stock_relay": "available",
                                  "provision_stores": False, "timezone": "UTC"}
        self._initial_settings.update(self._checked(settings))
        self._file = JsonFile(self.path)
        self._state = self._empty()
        self._app: Starlette | None = None

    # -- persistence: one JSON file, reloaded when another process saved it
    def _empty(self) -> dict[str, Any]:
        return {"settings": dict(self._initial_settings), "tokens": {}, "stores": {}, "webhooks": {},
                "requests": [], "deliveries": []}

    def _load(self) -> dict[str, Any]:
        data = self._file.load_if_changed()
        if data is not None:
            self._state = {**self._empty(), **data}
        return self._state

    def _save(self, state: dict[str, Any]) -> None:
        self._state = state
        self._file.save(state)

    # -- settings
    @staticmethod
    def _checked(settings: dict[str, Any]) -> dict[str, Any]:
        for key, value in settings.items():
            if key == "timezone":
                ZoneInfo(value)
            elif key not in SETTINGS or value not in SETTINGS[key]:
                raise ValueError(f"unknown emulator setting {key}={value!r}; settings: {SETTINGS} and timezone")
        return settings

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._load()["settings"])

    def configure(self, **settings: Any) -> None:
        state = self._load()
        state["settings"].update(self._checked(settings))
        self._save(state)

    # -- stores: which ones the account has, and what each holds
    def seed_store(self, store_id: str, items: list[dict] = (), units: list[dict] = (), suppliers: list[dict] = (),
                   integrated: bool = True, linked: bool = True) -> None:
        """A store of the account, as miPOS holds it before the reconciler's first call.

        `integrated`: an integration record with the inventory system exists; `linked`:
        the inventory system knows the store (its external id)."""
        state = self._load()
        state["stores"][str(store_id)] = {
            "integrated": integrated, "linked": linked,
            "items": {i["external_id"]: dict(i) for i in items},
            "units": {u["external_id"]: dict(u) for u in units},
            "suppliers": {s["external_id"]: dict(s) for s in suppliers},
            "movements": [],
        }
        self._save(state)

    def _store(self, state: dict[str, Any], store_id: str) -> dict[str, Any] | None:
        store = state["stores"].get(store_id)
        if store is None and state["settings"]["provision_stores"]:
            store = state["stores"][store_id] = {"integrated": True, "linked": True, "items": {}, "units": {},
                                                 "suppliers": {}, "movements": []}
        return store

    # -- tokens
    def issue_token(self, payload: Any) -> tuple[int, Any]:
        keys = ("client_id", "client_secret", "email", "password")
        if not isinstance(payload, dict):
            return 422, {"client_id": ["The client id field is required."]}
        missing = {k: [f"The {k.replace('_', ' ')} field is required."] for k in (*keys, "grant_type") if not payload.get(k)}
        if missing:
            return 422, missing
        if payload["grant_type"] != "client_credentials" or any(payload[k] != self.account[k] for k in keys):
            return 401, {"message": "Invalid credentials.", "data": None}
        state = self._load()
        token, expires = secrets.token_hex(20), int(self.clock() + self.token_lifetime)
        state["tokens"][token] = expires
        self._save(state)
        return 200, {"data": {"token": token, "token_type": "bearer", "expires_in": str(expires)}}

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        expires = self._load()["tokens"].get(header[len("Bearer "):])
        return expires is not None and self.clock() < expires

    def expire_tokens(self) -> int:
        state = self._load()
        count, state["tokens"] = len(state["tokens"]), {}
        self._save(state)
        return count

    # -- the API
    def sync(self, store_id: str, body: Any) -> tuple[int, Any]:
        errors = field_errors(body, SYNC_FIELDS)
        if errors:
            return 422, errors
        state = self._load()
        store = self._store(state, store_id)
        if store is None:
            return _refused(NO_STORE)
        if body["user_id_tps"] != self.account["user_id_tps"] or body["inventory_system_id"] != self.account["inventory_system_id"]:
            return _refused(NOT_INVENTORY_SYSTEM)
        if not store["integrated"]:
            return _refused(NO_INTEGRATION)
        if not store["linked"]:
            return _refused(NO_EXTERNAL_ID)
        problems = sync_problems(body)
        if problems:
            return _refused(*problems)
        sent = {"items": {i["external_id"]: dict(i) for i in body["items"]},
                "units": {u["external_id"]: dict(u) for u in body["units"]},
                "suppliers": {s["external_id"]: dict(s) for s in body["suppliers"]}}
        for kind, records in sent.items():
            store[kind] = records if state["settings"]["omitted_items"] == "removed" else {**store[kind], **records}
        self._save(state)
        return _done(SYNC_DONE)

    def stock_update(self, store_id: str, body: Any) -> tuple[int, Any]:
        errors = field_errors(body, STOCK_FIELDS)
        if errors:
            return 422, errors
        state = self._load()
        store = self._store(state, store_id)
        if store is None:
            return _refused(NO_STORE)  # the document lists it for system/sync only; the same check here
        if body["user_id_tps"] != self.account["user_id_tps"] or body["inventory_system_id"] != self.account["inventory_system_id"]:
            return _refused(NOT_OWNER)
        if not store["integrated"]:
            return _refused(NO_INTEGRATION)
        item = store["items"].get(body.get("external_id")) if isinstance(body.get("external_id"), str) else None
        if not store["linked"] or item is None:
            return _refused(NO_EXTERNAL_ID)
        relay = state["settings"]["stock_relay"]
        if relay != "available":
            return _refused(TYPE_UNAVAILABLE if relay == "type_unavailable" else NOT_REGISTERED)
        quantity, current = Decimal(body["quantity"]), Decimal(body["current_stock"])
        after = Decimal(item["stock"]) + (quantity if body["movement_type"] == ADD else -quantity)
        if after != current and state["settings"]["stock_check"] == "strict":
            return _refused(STOCK_MISMATCH.format(current=body["current_stock"], after=mapping.decimal_text(after)))
        item["stock"] = body["current_stock"]
        store["movements"].append({k: body[k] for k in ("external_id", "movement_type", "quantity", "date")})
        self._save(state)
        return _done(STOCK_DONE)

    def manage_webhook(self, body: Any) -> tuple[int, Any]:
        errors = field_errors(body, WEBHOOK_MANAGE_FIELDS)
        if errors:
            return 422, errors
        if str(body["type"]) != mapping.STOCK_WEBHOOK_TYPE:
            return _refused(INVALID_TYPE)
        state = self._load()
        state["webhooks"][mapping.STOCK_WEBHOOK_TYPE] = body["url"]
        self._save(state)
        return _done(WEBHOOK_DONE)

    # -- emission
    async def set_stock(self, store_id: str, external_id: str, current_stock: str,
                        date: str | None = None) -> dict[str, Any]:
        """A stock change made inside the inventory system (dated `date`, default now);
        returns the delivery record of the type-3 webhook it sends."""
        state = self._load()
        item = state["stores"].get(store_id, {}).get("items", {}).get(external_id)
        if item is None:
            raise KeyError(f"store {store_id} has no item {external_id}")
        change = Decimal(current_stock) - Decimal(item["stock"])
        item["stock"] = current_stock
        self._save(state)
        url = state["webhooks"].get(mapping.STOCK_WEBHOOK_TYPE)
        if url is None or not change:
            return {"url": url, "delivered": False, "attempts": 0, "statuses": [], "body": None}
        # The document's key order and types: pos_id a string, store_id a number.
        return await self._deliver(url, {
            "pos_id": self.account["pos_id"], "inventory_system_id": self.account["inventory_system_id"],
            "current_stock": current_stock, "quantity": mapping.decimal_text(abs(change)),
            "date": date or self._now(), "movement_type": ADD if change > 0 else REMOVE,
            "external_id": external_id, "now": None, "store_id": _wire_store_id(store_id),
        })

    def _now(self) -> str:
        """The emulator's clock on the wall clock of its time zone, as miPOS writes times."""
        moment = datetime.fromtimestamp(self.clock(), timezone.utc)
        return mapping.local_time(moment, ZoneInfo(self._load()["settings"]["timezone"]))

    async def _deliver(self, url: str, event: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0, "statuses": [], "body": None}
        async with httpx.AsyncClient(transport=self.outgoing, timeout=5) as client:
            for attempt in range(self.delivery_attempts):
                if attempt:
                    await asyncio.sleep(self.delivery_backoff * 2 ** (attempt - 1))
                body = {**event, "now": self._now()}  # every attempt is a new request with its own signature
                sign = signature(self.account["client_secret"], url, body["inventory_system_id"], body["store_id"],
                                 body["now"])
                raw = mapping.document_json(body)
                record["attempts"] += 1
                record["body"] = raw
                try:
                    response = await client.post(url, content=raw.encode("utf-8"), headers={
                        "Content-Type": "application/json", SIGNATURE_HEADER: sign})
                    record["statuses"].append(response.status_code)
                    if 200 <= response.status_code < 300:
                        record["delivered"] = True
                        break
                except httpx.TransportError as exc:
                    record["statuses"].append(type(exc).__name__)
        state = self._load()
        state["deliveries"].append(record)
        self._save(state)
        return record

    # -- inspection
    def store(self, store_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._load()["stores"].get(str(store_id), {}))

    def items(self, store_id: str) -> dict[str, dict[str, Any]]:
        return self.store(store_id).get("items", {})

    def movements(self, store_id: str) -> list[dict[str, Any]]:
        return self.store(store_id).get("movements", [])

    @property
    def webhooks(self) -> dict[str, str]:
        return dict(self._load()["webhooks"])

    @property
    def requests(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._load()["requests"])

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._load()["deliveries"])

    def log(self, record: dict[str, Any]) -> None:
        state = self._load()
        state["requests"].append(record)
        self._save(state)

    def reset(self) -> None:
        settings = self._load()["settings"]
        self._save({**self._empty(), "settings": settings})
        self.faults.clear()

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = create_app(self)
        return self._app


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def create_app(emulator: MiPOSEmulator) -> Starlette:
    async def faulted(request: Request, handle, authenticated: bool = True) -> Any:
        body = await request.body()
        path = request.url.path
        fault = emulator.faults.take(path, body)
        # Like Laravel, only a JSON content type makes the body's fields the request's.
        json_body = request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
        payload = _json_or_none(body) if json_body else None
        record = {"path": path, "body": payload if path != TOKEN_PATH else None, "status": None,
                  "response": None, "fault": fault and fault.kind}

        def run() -> tuple[int, Any]:
            if authenticated and not emulator.authorized(request.headers.get("authorization")):
                status, answer = 401, UNAUTHENTICATED
            else:
                status, answer = handle(payload)
            record["status"], record["response"] = status, answer
            return status, answer

        if fault is None or fault.kind == "latency":
            if fault is not None:
                await asyncio.sleep(fault.seconds)
            status, answer = run()
            emulator.log(record)
            return JSONResponse(answer, status_code=status)
        if fault.kind in ("http_error", "unknown", "rate_limit"):
            status = {"unknown": 503, "rate_limit": 429}.get(fault.kind, fault.status)
            record["status"] = status
            emulator.log(record)
            return JSONResponse({"message": f"injected fault: HTTP {status}"}, status_code=status)
        if fault.after_processing:
            run()
        emulator.log(record)
        return Hang(fault.seconds or 3600) if fault.kind == "timeout" else DroppedConnection()

    async def token(request: Request) -> Any:
        return await faulted(request, emulator.issue_token, authenticated=False)

    async def sync(request: Request) -> Any:
        return await faulted(request, lambda body: emulator.sync(request.path_params["store_id"], body))

    async def stock(request: Request) -> Any:
        return await faulted(request, lambda body: emulator.stock_update(request.path_params["store_id"], body))

    async def webhook(request: Request) -> Any:
        return await faulted(request, emulator.manage_webhook)

    async def store(request: Request) -> Response:
        store_id = request.path_params["store_id"]
        if request.method == "PUT":
            try:
                emulator.seed_store(store_id, **await request.json())
            except (TypeError, ValueError, KeyError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(emulator.store(store_id))

    async def change_stock(request: Request) -> Response:
        try:
            payload = await request.json()
            record = await emulator.set_stock(request.path_params["store_id"], request.path_params["external_id"],
                                              str(payload["current_stock"]), payload.get("date"))
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(record)

    async def settings(request: Request) -> Response:
        if request.method == "PUT":
            try:
                emulator.configure(**await request.json())
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(emulator.settings)

    async def request_log(request: Request) -> Response:
        return JSONResponse(emulator.requests)

    async def deliveries(request: Request) -> Response:
        return JSONResponse(emulator.deliveries)

    async def webhooks(request: Request) -> Response:
        return JSONResponse(emulator.webhooks)

    faults = faults_endpoint(emulator.faults)

    async def tokens(request: Request) -> Response:
        return JSONResponse({"expired": emulator.expire_tokens()})

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    return Starlette(routes=[
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(API + "/store/{store_id}/system/sync", sync, methods=["POST"]),
        Route(API + "/store/{store_id}/system/stock/update", stock, methods=["POST"]),
        Route(WEBHOOK_PATH, webhook, methods=["POST"]),
        Route("/_emulator/stores/{store_id}", store, methods=["GET", "PUT"]),
        Route("/_emulator/stores/{store_id}/items/{external_id}/stock", change_stock, methods=["POST"]),
        Route("/_emulator/settings", settings, methods=["GET", "PUT"]),
        Route("/_emulator/requests", request_log, methods=["GET"]),
        Route("/_emulator/deliveries", deliveries, methods=["GET"]),
        Route("/_emulator/webhooks", webhooks, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/tokens", tokens, methods=["DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ])
