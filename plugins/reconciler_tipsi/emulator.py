"""A fake of Tipsi's POS sync API (`/api/rest/v001`), served as an ASGI app.

It follows the Tipsi POS sync document and what is known beyond it. Where both are
silent, the emulator picks one behaviour:

- Login takes JSON `{"username"|"email": ..., "password": ...}` (which field names are
  accepted is configurable; both by default) and answers with a `sessionid` cookie and a
  `csrftoken` cookie. CSRF is not enforced. Any call without a valid session is a 401
  `{"detail": "Authentication credentials were not provided."}`.
- Errors are Django REST framework style. A body that is not a list is
  `{"non_field_errors": [...]}`; a list with bad items is a list of one error object per
  item (`{}` for good items), like DRF's ListSerializer. A batch with any error changes
  nothing.
- The emulator is stricter than DRF: unknown item fields are a 400 (DRF would ignore
  them), so a client that sends stray keys is caught. Tipsi's own `id` is a 400 as the
  facts say.
- `external_id` may be an integer or a string; it is stored as a string, so 10003 and
  "10003" are one item. New items are created with `matched: false` (unmatched, waiting in
  Tipsi's TODO list).
- Barcodes are unique per store: a batch item may not reuse a barcode of another item of
  the batch or of the store (even one out of stock).
- `updated_items` counts every batch item that existed, changed or not; `cleared_items`
  counts the items `sync_clear` set from a non-zero stock to 0.
- Faults are taken by every API route, login included (use `path` or `match`):
  `unknown` is an HTTP 503, `rate_limit` an HTTP 429 (never processed).
- With a data file, the emulator rereads it whenever another process replaced it. A seed
  file (`{"stores": {"19771": [items...]}}`) is loaded only when the data file is new.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, JsonFile, faults_endpoint

from .mapping import API, LOGIN_PATH

ITEM_FIELDS = frozenset({"external_id", "barcodes", "in_stock", "price", "special_price",
                         "special_price_on", "special_price_amount", "unit_size",
                         "pos_item_name", "category"})
CATEGORIES = ("wine", "drink")
LOGIN_FIELDS = ("username", "email")
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}


def _empty_state() -> dict[str, Any]:
    return {"users": {}, "sessions": {}, "stores": {}, "requests": []}


# --- validation ----------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decimal_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "A valid number is required."
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return "A valid number is required."
    if not number.is_finite() or number < 0:
        return "Ensure this value is greater than or equal to 0."
    if number.as_tuple().exponent < -2:
        return "Ensure that there are no more than 2 decimal places."
    return None


def item_errors(item: Any) -> dict[str, list[str]]:
    """DRF-style errors of one batch item; {} when it is good."""
    if not isinstance(item, dict):
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(item).__name__}."]}
    errors: dict[str, list[str]] = {}
    if "id" in item:
        errors["id"] = ["Tipsi's own id cannot be sent; items are matched by external_id."]
    for key in sorted(set(item) - ITEM_FIELDS - {"id"}):
        errors[key] = ["Unknown field."]
    external_id = item.get("external_id")
    if external_id is None:
        errors["external_id"] = ["This field is required."]
    elif not (_is_int(external_id) or (isinstance(external_id, str) and external_id)):
        errors["external_id"] = ["A valid integer or non-empty string is required."]
    if "in_stock" in item:
        if not _is_int(item["in_stock"]):
            errors["in_stock"] = ["A valid integer is required."]
        elif item["in_stock"] < 0:
            errors["in_stock"] = ["Ensure this value is greater than or equal to 0."]
    if "barcodes" in item:
        barcodes = item["barcodes"]
        if not isinstance(barcodes, list) or not all(isinstance(b, str) and b for b in barcodes):
            errors["barcodes"] = ["Expected a list of non-empty strings."]
        elif len(set(barcodes)) != len(barcodes):
            errors["barcodes"] = ["A barcode is listed twice."]
    if "category" in item and item["category"] not in CATEGORIES:
        errors["category"] = [f'"{item["category"]}" is not a valid choice.']
    for key in ("price", "special_price"):
        if key in item and item[key] is not None:
            problem = _decimal_problem(item[key])
            if problem:
                errors[key] = [problem]
    for key in ("unit_size", "pos_item_name"):
        if key in item and not isinstance(item[key], str):
            errors[key] = ["Not a valid string."]
    if "special_price_on" in item and not isinstance(item["special_price_on"], bool):
        errors["special_price_on"] = ["Must be a valid boolean."]
    if "special_price_amount" in item and not _is_int(item["special_price_amount"]):
        errors["special_price_amount"] = ["A valid integer is required."]
    return errors


def batch_errors(batch: list[Any], stored: dict[str, dict[str, Any]]) -> list[dict[str, list[str]]] | None:
    """Per-item errors of a batch, or None when the whole batch is good."""
    errors = [item_errors(item) for item in batch]
    seen_ids: dict[str, int] = {}
    owner: dict[str, str] = {}  # barcode -> external id, the store's items as they will be
    batch_ids = {str(i["external_id"]) for i, e in zip(batch, errors) if not e}
    for external_id, item in stored.items():
        if external_id not in batch_ids:
            for barcode in item.get("barcodes", []):
                owner[barcode] = external_id
    for index, (item, problems) in enumerate(zip(batch, errors)):
        if problems:
            continue
        external_id = str(item["external_id"])
        if external_id in seen_ids:
            problems["external_id"] = [f"external_id {external_id} is also item {seen_ids[external_id]} of this batch."]
            continue
        seen_ids[external_id] = index
        barcodes = item["barcodes"] if "barcodes" in item else stored.get(external_id, {}).get("barcodes", [])
        for barcode in barcodes:
            if owner.get(barcode, external_id) != external_id:
                problems["barcodes"] = [f"Barcode {barcode} is already used by item {owner[barcode]} in this store."]
                break
            owner[barcode] = external_id
    return errors if any(errors) else None


# --- the backend ---------------------------------------------------------------------


class TipsiEmulator:
    """Tipsi's data and behaviour; HTTP stays in `create_app`."""

    def __init__(self, path: Path | None = None, seed: Path | dict | None = None,
                 login_fields: tuple[str, ...] = LOGIN_FIELDS) -> None:
        self.path = Path(path) if path is not None else None
        self.login_fields = tuple(login_fields)
        self.faults = FaultQueue()
        self._state = _empty_state()
        self._file = JsonFile(self.path)
        self._app: Starlette | None = None
        self._refresh()
        if seed is not None and (self.path is None or not self.path.exists()):
            self.load_seed(seed)

    # persistence

    def _refresh(self) -> None:
        data = self._file.load_if_changed()
        if data is not None:
            self._state = {**_empty_state(), **data}

    def _save(self) -> None:
        self._file.save(self._state)

    def load_seed(self, seed: Path | dict) -> None:
        """Items already in Tipsi before the reconciler's first call (matched ones)."""
        data = json.loads(Path(seed).read_text("utf-8")) if not isinstance(seed, dict) else seed
        self._refresh()
        for store_id, items in data.get("stores", {}).items():
            store = self._state["stores"].setdefault(str(store_id), {})
            for item in items:
                stored = {"matched": True, **copy.deepcopy(item)}
                stored["external_id"] = str(item["external_id"])
                store[stored["external_id"]] = stored
        self._save()

    # users and sessions

    def add_user(self, username: str, password: str, email: str | None = None) -> None:
        self._refresh()
        self._state["users"][username] = {"password": password, "email": email}
        self._save()

    def log_in(self, payload: Any) -> str | None:
        """A new session id for good credentials, else None."""
        self._refresh()
        if not isinstance(payload, dict):
            return None
        password = payload.get("password")
        for field in self.login_fields:
            given = payload.get(field)
            if given is None:
                continue
            for username, user in self._state["users"].items():
                if given == (username if field == "username" else user.get("email")) and user["password"] == password:
                    token = secrets.token_hex(16)
                    self._state["sessions"][token] = username
                    self._save()
                    return token
        return None

    def session_user(self, token: str | None) -> str | None:
        self._refresh()
        return self._state["sessions"].get(token) if token else None

    def expire_sessions(self) -> int:
        """End every session, as Tipsi does when they time out; returns how many ended."""
        self._refresh()
        count = len(self._state["sessions"])
        self._state["sessions"] = {}
        self._save()
        return count

    # inspection

    def items(self, store_id: str | int) -> dict[str, dict[str, Any]]:
        self._refresh()
        return copy.deepcopy(self._state["stores"].get(str(store_id), {}))

    @property
    def requests(self) -> list[dict[str, Any]]:
        self._refresh()
        return copy.deepcopy(self._state["requests"])

    @property
    def session_count(self) -> int:
        self._refresh()
        return len(self._state["sessions"])

    def reset(self) -> None:
        """Forget items, sessions, the request log and faults; keep the users."""
        self._refresh()
        self._state = {**_empty_state(), "users": self._state["users"]}
        self.faults.clear()
        self._save()

    def log(self, record: dict[str, Any]) -> None:
        self._refresh()
        self._state["requests"].append(record)
        self._save()

    # sync

    def sync(self, store_id: str, batch: Any, clear: bool) -> tuple[int, Any]:
        """Apply one batch; (HTTP status, answer)."""
        self._refresh()
        if not isinstance(batch, list):
            return 400, {"non_field_errors": [f'Expected a list of items but got type "{type(batch).__name__}".']}
        stored = self._state["stores"].get(store_id, {})
        errors = batch_errors(batch, stored)
        if errors is not None:
            return 400, errors
        store = self._state["stores"].setdefault(store_id, {})
        created = updated = cleared = 0
        for item in batch:
            external_id = str(item["external_id"])
            fields = {**copy.deepcopy(item), "external_id": external_id}
            if external_id in store:
                store[external_id].update(fields)  # omitted fields are not updated
                updated += 1
            else:
                store[external_id] = {"matched": False, **fields}
                created += 1
        if clear:
            sent = {str(item["external_id"]) for item in batch}
            for external_id, item in store.items():
                if external_id not in sent and item.get("in_stock", 0) != 0:
                    item["in_stock"] = 0
                    cleared += 1
        self._save()
        return 200, {"created_items": created, "updated_items": updated, "cleared_items": cleared}

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = create_app(self)
        return self._app


# --- HTTP ----------------------------------------------------------------------------


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def create_app(emulator: TipsiEmulator) -> Starlette:
    async def faulted(request: Request, body: bytes, handle) -> Any:
        """Run `handle()` -> (status, answer, headers) under whatever fault is queued."""
        path = request.url.path
        fault = emulator.faults.take(path, body)
        record = {"path": path, "method": request.method, "body": _json_or_none(body),
                  "status": None, "response": None, "fault": fault and fault.kind}

        def run() -> tuple[int, Any, dict[str, str]]:
            status, answer, cookies = handle()
            record["status"], record["response"] = status, answer
            return status, answer, cookies

        if fault is None or fault.kind == "latency":
            if fault is not None:
                await asyncio.sleep(fault.seconds)
            status, answer, cookies = run()
            emulator.log(record)
            response = JSONResponse(answer, status_code=status)
            for name, value in cookies.items():
                response.set_cookie(name, value, httponly=name == "sessionid", samesite="lax")
            return response
        if fault.kind in ("http_error", "unknown", "rate_limit"):
            status = {"unknown": 503, "rate_limit": 429}.get(fault.kind, fault.status)
            record["status"] = status
            emulator.log(record)
            return JSONResponse({"detail": f"injected fault: HTTP {status}"}, status_code=status)
        # timeout or drop: the caller learns nothing, whether or not the change happened.
        answer_bytes = b""
        if fault.after_processing:
            _status, answer, _cookies = run()
            answer_bytes = json.dumps(answer).encode()
        emulator.log(record)
        if fault.kind == "timeout":
            return Hang(fault.seconds or 3600)
        return DroppedConnection(answer_bytes)

    async def login(request: Request) -> Any:
        body = await request.body()

        def handle():
            token = emulator.log_in(_json_or_none(body))
            if token is None:
                fields = " or ".join(emulator.login_fields)
                return 400, {"non_field_errors": [f"Unable to log in with provided credentials ({fields} and password)."]}, {}
            return 200, {"detail": "logged in"}, {"sessionid": token, "csrftoken": secrets.token_hex(16)}

        return await faulted(request, body, handle)

    def sync_route(clear: bool):
        async def endpoint(request: Request) -> Any:
            body = await request.body()
            store_id = request.path_params["store_id"]

            def handle():
                if emulator.session_user(request.cookies.get("sessionid")) is None:
                    return 401, NOT_AUTHENTICATED, {}
                batch = _json_or_none(body)
                if batch is None:
                    return 400, {"detail": "JSON parse error."}, {}
                status, answer = emulator.sync(store_id, batch, clear)
                return status, answer, {}

            return await faulted(request, body, handle)
        return endpoint

    async def store_items(request: Request) -> Response:
        return JSONResponse(emulator.items(request.path_params["store_id"]))

    async def request_log(request: Request) -> Response:
        return JSONResponse(emulator.requests)

    faults = faults_endpoint(emulator.faults)

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    async def sessions(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"expired": emulator.expire_sessions()})
        return JSONResponse({"sessions": emulator.session_count})

    async def users(request: Request) -> Response:
        try:
            payload = await request.json()
            emulator.add_user(payload["username"], payload["password"], payload.get("email"))
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"error": f"expected username, password and optionally email: {exc}"}, 400)
        return JSONResponse({"username": payload["username"]}, status_code=201)

    return Starlette(routes=[
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(API + "/store/{store_id}/ext/sync", sync_route(False), methods=["PATCH"]),
        Route(API + "/store/{store_id}/ext/sync_clear", sync_route(True), methods=["PATCH"]),
        Route("/_emulator/stores/{store_id}/items", store_items, methods=["GET"]),
        Route("/_emulator/requests", request_log, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/sessions", sessions, methods=["GET", "DELETE"]),
        Route("/_emulator/users", users, methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ])
