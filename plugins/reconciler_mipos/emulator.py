"""A fake of the miPOS inventory integration API, served as an ASGI app.

Follows the miPOS document and API-FACTS. Where both are silent it picks one behaviour:

- Tokens: `POST /api/oauth/token` with the account's client_id, client_secret, email,
  password and `grant_type=client_credentials`; `expires_in` is a Unix timestamp string.
  Unknown or expired tokens get 401 `{"message": "Unauthenticated."}`.
- Validation: missing top-level fields are a Laravel 422 `{"field": [...]}`; the rules
  of the document's error list are a 409 `{"message": [...], "data": null}` naming every
  problem at once. A refused request changes nothing.
- `system/sync` replaces the store's items, units and suppliers with the ones sent.
- `system/stock/update` applies the movement (type 1 adds, 2 removes `quantity`) and then
  takes `current_stock` as the level, as the document calls it the item's current stock.
- `webhook/manage` keeps one URL per type; only type 3 exists.
- Emission: a stock change made through `set_stock` (or `POST /_emulator/stores/{id}/
  items/{external_id}/stock`) posts a signed type-3 webhook to the registered URL, retried
  on anything but a 2xx. The outgoing client's transport is injectable.
- Faults (latency, http_error, unknown = 503, rate_limit = 429, timeout, drop) apply to
  every API route including the token one (use `path` or `match`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, faults_endpoint

from . import mapping
from .mapping import API, TOKEN_PATH, WEBHOOK_PATH, sync_problems
from .webhooks import SIGNATURE_HEADER, now_text, signature

UNAUTHENTICATED = {"message": "Unauthenticated."}
SYNC_REQUIRED = (("items", "The items field is required."),
                 ("inventory_system_id", "The inventory system id field is required."),
                 ("units", "The units field is required."), ("suppliers", "The suppliers field is required."),
                 ("user_id_tps", "The user id tps field is required."))
STOCK_REQUIRED = (("user_id_tps", "The user id tps field is required."),
                  ("inventory_system_id", "The inventory system id field is required."),
                  ("current_stock", "The current stock field is required."),
                  ("quantity", "The quantity field is required."), ("date", "The date field is required."),
                  ("movement_type", "The movement type field is required."))


def default_account() -> dict[str, str]:
    return {"client_id": "emulator-client", "client_secret": secrets.token_urlsafe(24),
            "email": "pos@example.com", "password": secrets.token_urlsafe(12), "user_id_tps": "30",
            "inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9", "pos_id": "1"}


def _empty() -> dict[str, Any]:
    return {"tokens": {}, "stores": {}, "webhooks": {}, "requests": [], "deliveries": []}


def _missing(body: dict, required) -> dict[str, list[str]]:
    return {key: [message] for key, message in required if body.get(key) in (None, "")}


class MiPOSEmulator:
    """miPOS's data and behaviour; HTTP stays in `create_app`."""

    def __init__(self, path: Path | None = None, account: dict[str, str] | None = None,
                 token_lifetime: float = 3600, clock: Callable[[], float] = time.time,
                 outgoing: httpx.AsyncBaseTransport | None = None, delivery_attempts: int = 3,
                 delivery_backoff: float = 0.2):
        self.path = Path(path) if path else None
        self.account = account or default_account()
        self.token_lifetime, self.clock = token_lifetime, clock
        self.outgoing = outgoing  # the transport webhooks leave through; None is the network
        self.delivery_attempts, self.delivery_backoff = delivery_attempts, delivery_backoff
        self.faults = FaultQueue()
        self._memory = _empty()
        self._app: Starlette | None = None

    # -- persistence: the whole state is small, so it is read and written per operation
    def _load(self) -> dict[str, Any]:
        if self.path is not None and self.path.exists():
            return {**_empty(), **json.loads(self.path.read_text("utf-8"))}
        return self._memory

    def _save(self, state: dict[str, Any]) -> None:
        self._memory = state
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state), "utf-8")
            tmp.replace(self.path)

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
    def _account_problem(self, body: dict, stock: bool) -> str | None:
        if body.get("user_id_tps") != self.account["user_id_tps"] or body.get("inventory_system_id") != self.account["inventory_system_id"]:
            if stock:
                return "This user_id_tps does not own this inventory system."
            return "The third_party_id does not have an Inventory System role or does not exist."
        return None

    def sync(self, store_id: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            body = {}
        missing = _missing(body, SYNC_REQUIRED)
        if missing:
            return 422, missing
        problems = [p for p in [self._account_problem(body, False)] if p] + sync_problems(body)
        if problems:
            return 409, {"message": problems, "data": None}
        state = self._load()
        state["stores"][store_id] = {
            "items": {str(i["external_id"]): dict(i) for i in body["items"]},
            "units": {u["external_id"]: dict(u) for u in body["units"]},
            "suppliers": {s["external_id"]: dict(s) for s in body["suppliers"]},
        }
        self._save(state)
        return 200, {"message": "Synchronization data was sent to the inventory system.", "data": None}

    def stock_update(self, store_id: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            body = {}
        missing = _missing(body, STOCK_REQUIRED)
        if body.get("movement_type") not in (None, mapping.ADD, mapping.REMOVE):
            missing.setdefault("movement_type", []).append("The selected movement type is invalid.")
        if missing:
            return 422, missing
        problem = self._account_problem(body, True)
        state = self._load()
        item = state["stores"].get(store_id, {}).get("items", {}).get(str(body.get("external_id")))
        if problem is None and item is None:
            problem = "External id not found for this store in the inventory system."
        if problem is None:
            try:
                moved = Decimal(str(body["quantity"])) * (1 if body["movement_type"] == mapping.ADD else -1)
                Decimal(str(body["current_stock"]))
            except InvalidOperation:
                return 422, {"quantity": ["The quantity must be a number."]}
            item["stock"] = str(body["current_stock"])
            item["moved"] = str(Decimal(item.get("moved", "0")) + moved)
            self._save(state)
            return 200, {"message": "Stock update was sent to the inventory system.", "data": None}
        return 409, {"message": [problem], "data": None}

    def manage_webhook(self, body: Any) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        missing = {k: [f"The {k} field is required."] for k in ("type", "url") if body.get(k) in (None, "")}
        if missing:
            return 422, missing
        if str(body["type"]) != mapping.STOCK_WEBHOOK_TYPE:
            return 409, {"message": ["Invalid type."], "data": None}
        state = self._load()
        created = mapping.STOCK_WEBHOOK_TYPE not in state["webhooks"]
        state["webhooks"][mapping.STOCK_WEBHOOK_TYPE] = body["url"]
        self._save(state)
        return 200, {"message": f"Webhook successfully {'created' if created else 'updated'}.", "data": None}

    # -- emission
    async def set_stock(self, store_id: str, external_id: str, current_stock: str) -> dict[str, Any]:
        """A stock change made inside the inventory system; returns the delivery record."""
        state = self._load()
        item = state["stores"].get(store_id, {}).get("items", {}).get(external_id)
        if item is None:
            raise KeyError(f"store {store_id} has no item {external_id}")
        old = Decimal(item["stock"])
        item["stock"] = current_stock
        self._save(state)
        url = state["webhooks"].get(mapping.STOCK_WEBHOOK_TYPE)
        if url is None:
            return {"url": None, "delivered": False, "attempts": 0, "statuses": []}
        change = Decimal(current_stock) - old
        return await self._deliver(url, store_id, {
            "pos_id": self.account["pos_id"], "inventory_system_id": self.account["inventory_system_id"],
            "current_stock": current_stock, "quantity": mapping.decimal_text(abs(change)),
            "date": now_text(self.clock), "movement_type": mapping.ADD if change > 0 else mapping.REMOVE,
            "external_id": external_id, "store_id": store_id,
        })

    async def _deliver(self, url: str, store_id: str, event: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0, "statuses": [], "body": None}
        async with httpx.AsyncClient(transport=self.outgoing, timeout=5) as client:
            for attempt in range(self.delivery_attempts):
                if attempt:
                    await asyncio.sleep(self.delivery_backoff * 2 ** (attempt - 1))
                now = now_text(self.clock)  # every attempt is a new request with its own signature
                body = {**event, "now": now}
                sign = signature(self.account["client_secret"], url, body["inventory_system_id"], store_id, now)
                record["attempts"] += 1
                record["body"] = body
                try:
                    response = await client.post(url, json=body, headers={SIGNATURE_HEADER: sign})
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
        self._save(_empty())
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
        payload = _json_or_none(body)
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

    async def inspect_store(request: Request) -> Response:
        return JSONResponse(emulator.store(request.path_params["store_id"]))

    async def change_stock(request: Request) -> Response:
        try:
            payload = await request.json()
            record = await emulator.set_stock(request.path_params["store_id"], request.path_params["external_id"],
                                              str(payload["current_stock"]))
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(record)

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
        Route("/_emulator/stores/{store_id}", inspect_store, methods=["GET"]),
        Route("/_emulator/stores/{store_id}/items/{external_id}/stock", change_stock, methods=["POST"]),
        Route("/_emulator/requests", request_log, methods=["GET"]),
        Route("/_emulator/deliveries", deliveries, methods=["GET"]),
        Route("/_emulator/webhooks", webhooks, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/tokens", tokens, methods=["DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ])
