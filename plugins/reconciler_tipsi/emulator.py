"""A fake of Tipsi's POS sync API (`/api/rest/v001`), served as an ASGI app.

It follows the Tipsi POS sync document and what is known beyond it. Where both are
silent it takes the stricter reading; every choice is a `TP-G*` row of
docs/providers/tipsi-conformance.md:

- Login takes JSON `{"username"|"email": ..., "password": ...}` (which field names are
  accepted is configurable; both by default) and answers with a `sessionid` cookie and a
  `csrftoken` cookie. A call without a valid session is refused with
  `{"detail": "Authentication credentials were not provided."}`: HTTP 403, as Django REST
  framework answers when session authentication comes first (`unauthenticated_status`
  makes it 401, as with a token authenticator first).
- CSRF is enforced as Django's SessionAuthentication does on an unsafe method of a
  logged-in session (every sync; a login only when it carries a live session): an
  `Origin` header must name this host; over HTTPS a `Referer` of this host is required;
  the `csrftoken` cookie must be sent and `X-CSRFToken` must repeat it. A failure is a
  403 `{"detail": "CSRF Failed: <Django's reason>"}`.
- Bodies are JSON only (`Content-Type: application/json`), else HTTP 415; a body that is
  not JSON is a 400 `{"detail": "JSON parse error - ..."}`.
- Errors are Django REST framework style. A body that is not a list is
  `{"non_field_errors": [...]}`; a list with bad items is a list of one error object per
  item (`{}` for good items), like DRF's ListSerializer. A batch with any error changes
  nothing.
- Stricter than DRF: unknown item fields are a 400 (DRF would ignore them), so a client
  that sends stray keys is caught; `null` is refused for every field ("This field may not
  be null."), so no value clears a field; text is at most 255 characters and not blank;
  `in_stock` at most 2**31-1; prices have at most 2 decimal places. Tipsi's own `id` is a
  400 as the facts say.
- A new item (an `external_id` the store does not hold) needs a non-empty `barcodes`
  list and `category` (`wine` or `drink`), as the facts say; an update may leave any
  field out (omitted fields are not updated). The document's own sample creates 10005
  without a category: `require_category=False` is that reading.
- `external_id` may be an integer or a string; it is stored as a string, so 10003 and
  "10003" are one item. New items are created with `matched: false` (unmatched, waiting in
  Tipsi's TODO list).
- Barcodes are unique per store: a batch item may not take a barcode another item keeps
  (even one out of stock, even one of the older barcode-keyed items).
- Older barcode-keyed items (items without an `external_id`, from the old POS sync; the
  document's migration section) are loaded from a seed. By default the new sync never
  matches them: a new item with one of their barcodes is a 400 naming the item, so the
  store must be migrated first, as the document says. With `adopt_barcode_items` such an
  item takes the new `external_id` instead (counted as updated).
  `sync_clear` zeroes them like any item not in the batch.
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
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, JsonFile, faults_endpoint

from .mapping import API, CATEGORIES, LOGIN_PATH, MAX_STOCK, MAX_TEXT, PRICE_PLACES

ITEM_FIELDS = frozenset({"external_id", "barcodes", "in_stock", "price", "special_price",
                         "special_price_on", "special_price_amount", "unit_size",
                         "pos_item_name", "category"})
TEXT_FIELDS = ("unit_size", "pos_item_name")
LOGIN_FIELDS = ("username", "email")
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
REQUIRED = "This field is required."
TOO_LONG = f"Ensure this field has no more than {MAX_TEXT} characters."


def _empty_state() -> dict[str, Any]:
    return {"users": {}, "sessions": {}, "stores": {}, "barcode_items": {}, "next_id": 1, "requests": []}


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
    if not number.is_finite():
        return "A valid number is required."
    if number < 0:
        return "Ensure this value is greater than or equal to 0."
    if number.as_tuple().exponent < -PRICE_PLACES:
        return f"Ensure that there are no more than {PRICE_PLACES} decimal places."
    return None


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "Not a valid string."
    if not value.strip():
        return "This field may not be blank."
    if len(value) > MAX_TEXT:
        return TOO_LONG
    return None


def _barcodes_problem(barcodes: Any) -> list[str] | dict[str, list[str]] | None:
    if not isinstance(barcodes, list):
        return [f'Expected a list of items but got type "{type(barcodes).__name__}".']
    if not barcodes:
        return ["This list may not be empty."]
    children = {str(i): [problem] for i, b in enumerate(barcodes) if (problem := _text_problem(b))}
    if children:
        return children  # DRF's ListField nests child errors by index
    if len(set(barcodes)) != len(barcodes):
        return ["A barcode is listed twice."]
    return None


def item_errors(item: Any) -> dict[str, Any]:
    """DRF-style errors of one batch item's fields; {} when they are good."""
    if not isinstance(item, dict):
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(item).__name__}."]}
    errors: dict[str, Any] = {}
    if "id" in item:
        errors["id"] = ["Tipsi's own id cannot be sent; items are matched by external_id."]
    for key in sorted(set(item) - ITEM_FIELDS - {"id"}):
        errors[key] = ["Unknown field."]
    for key in sorted(ITEM_FIELDS & set(item)):
        if item[key] is None:
            errors[key] = ["This field may not be null."]
    external_id = item.get("external_id")
    if "external_id" not in item:
        errors["external_id"] = [REQUIRED]
    elif external_id is not None and not _is_int(external_id):
        if (problem := _text_problem(external_id)) is not None:
            errors["external_id"] = [problem]
    if item.get("in_stock") is not None:
        if not _is_int(item["in_stock"]):
            errors["in_stock"] = ["A valid integer is required."]
        elif item["in_stock"] < 0:
            errors["in_stock"] = ["Ensure this value is greater than or equal to 0."]
        elif item["in_stock"] > MAX_STOCK:
            errors["in_stock"] = [f"Ensure this value is less than or equal to {MAX_STOCK}."]
    if item.get("barcodes") is not None and (problem := _barcodes_problem(item["barcodes"])) is not None:
        errors["barcodes"] = problem
    if item.get("category") is not None and item["category"] not in CATEGORIES:
        errors["category"] = [f'"{item["category"]}" is not a valid choice.']
    for key in ("price", "special_price"):
        if item.get(key) is not None and (problem := _decimal_problem(item[key])) is not None:
            errors[key] = [problem]
    for key in TEXT_FIELDS:
        if item.get(key) is not None and (problem := _text_problem(item[key])) is not None:
            errors[key] = [problem]
    if item.get("special_price_on") is not None and not isinstance(item["special_price_on"], bool):
        errors["special_price_on"] = ["Must be a valid boolean."]
    if item.get("special_price_amount") is not None and not _is_int(item["special_price_amount"]):
        errors["special_price_amount"] = ["A valid integer is required."]
    return errors


def _holder(owner: str | int) -> str:
    """How an error names the item that holds a barcode: its external_id, or Tipsi's
    own id for an older barcode-keyed item."""
    return f"{owner} (no external_id)" if isinstance(owner, int) else str(owner)


# --- the backend ---------------------------------------------------------------------


class TipsiEmulator:
    """Tipsi's data and behaviour; HTTP stays in `create_app`."""

    def __init__(self, path: Path | None = None, seed: Path | dict | None = None,
                 login_fields: tuple[str, ...] = LOGIN_FIELDS, adopt_barcode_items: bool = False,
                 unauthenticated_status: int = 403, require_category: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.login_fields = tuple(login_fields)
        self.adopt_barcode_items = adopt_barcode_items
        self.unauthenticated_status = unauthenticated_status
        self.require_category = require_category
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
        """Items already in Tipsi before the reconciler's first call (matched ones).

        An item without `external_id` is one of the older barcode-keyed items; it gets
        Tipsi's own `id` (the seed's, or the next free one).
        """
        data = json.loads(Path(seed).read_text("utf-8")) if not isinstance(seed, dict) else seed
        self._refresh()
        for store_id, items in data.get("stores", {}).items():
            store = self._state["stores"].setdefault(str(store_id), {})
            for item in items:
                stored = {"matched": True, **copy.deepcopy(item)}
                if item.get("external_id") is None:
                    stored.pop("external_id", None)
                    stored["id"] = item.get("id") or self._state["next_id"]
                    self._state["next_id"] = max(self._state["next_id"], stored["id"]) + 1
                    self._state["barcode_items"].setdefault(str(store_id), []).append(stored)
                    continue
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
        """The store's items that have an external_id, by external_id."""
        self._refresh()
        return copy.deepcopy(self._state["stores"].get(str(store_id), {}))

    def barcode_items_of(self, store_id: str | int) -> list[dict[str, Any]]:
        """The store's older barcode-keyed items (no external_id), with Tipsi's own id."""
        self._refresh()
        return copy.deepcopy(self._state["barcode_items"].get(str(store_id), []))

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

    def _batch_errors(self, store_id: str, batch: list[Any]) -> list[dict[str, Any]] | None:
        """Per-item errors of a batch, or None when the whole batch is good."""
        stored = self._state["stores"].get(store_id, {})
        old = self._state["barcode_items"].get(store_id, [])
        errors = [item_errors(item) for item in batch]
        batch_ids = {str(i["external_id"]) for i, e in zip(batch, errors) if not e}
        adopted = self._adoptions(store_id, batch, errors)
        # barcode -> holder (an external id, or Tipsi's id of a barcode-keyed item), the
        # store as it will be: items of the batch take their barcodes from the batch.
        owner: dict[str, str | int] = {}
        for external_id, item in stored.items():
            if external_id not in batch_ids:
                owner.update(dict.fromkeys(item.get("barcodes", []), external_id))
        for item in old:
            if item["id"] not in adopted.values():
                owner.update(dict.fromkeys(item.get("barcodes", []), item["id"]))
        seen_ids: dict[str, int] = {}
        for index, (item, problems) in enumerate(zip(batch, errors)):
            if problems:
                continue
            external_id = str(item["external_id"])
            if external_id in seen_ids:
                problems["external_id"] = [f"external_id {external_id} is also item {seen_ids[external_id]} of this batch."]
                continue
            seen_ids[external_id] = index
            if external_id not in stored and external_id not in adopted:
                needed = ("barcodes", "category") if self.require_category else ("barcodes",)
                for key in needed:  # a new item: what Tipsi needs to create it
                    if key not in item:
                        problems[key] = [REQUIRED]
            barcodes = item["barcodes"] if "barcodes" in item else stored.get(external_id, {}).get("barcodes", [])
            for barcode in barcodes:
                if owner.get(barcode, external_id) != external_id:
                    problems["barcodes"] = [f"Barcode {barcode} is already used by item {_holder(owner[barcode])} "
                                            "in this store."]
                    break
                owner[barcode] = external_id
        return errors if any(errors) else None

    def _adoptions(self, store_id: str, batch: list[Any], errors: list[dict]) -> dict[str, int]:
        """With `adopt_barcode_items`: new external ids that take over a barcode-keyed
        item sharing a barcode with them ({external_id: Tipsi id}); else none."""
        if not self.adopt_barcode_items:
            return {}
        stored = self._state["stores"].get(store_id, {})
        by_barcode = {b: item["id"] for item in self._state["barcode_items"].get(store_id, [])
                      for b in item.get("barcodes", [])}
        adopted: dict[str, int] = {}
        for item, problems in zip(batch, errors):
            external_id = None if problems else str(item["external_id"])
            if external_id is None or external_id in stored:
                continue
            for barcode in item.get("barcodes", []):
                if barcode in by_barcode and by_barcode[barcode] not in adopted.values():
                    adopted[external_id] = by_barcode[barcode]
                    break
        return adopted

    def sync(self, store_id: str, batch: Any, clear: bool) -> tuple[int, Any]:
        """Apply one batch; (HTTP status, answer)."""
        self._refresh()
        if not isinstance(batch, list):
            return 400, {"non_field_errors": [f'Expected a list of items but got type "{type(batch).__name__}".']}
        errors = self._batch_errors(store_id, batch)
        if errors is not None:
            return 400, errors
        adopted = self._adoptions(store_id, batch, [{}] * len(batch))
        store = self._state["stores"].setdefault(store_id, {})
        old = self._state["barcode_items"].setdefault(store_id, [])
        created = updated = cleared = 0
        for item in batch:
            external_id = str(item["external_id"])
            fields = {**copy.deepcopy(item), "external_id": external_id}
            if external_id in adopted:
                [taken] = [i for i in old if i["id"] == adopted[external_id]]
                old.remove(taken)
                taken.pop("id")
                store[external_id] = taken
            if external_id in store:
                store[external_id].update(fields)  # omitted fields are not updated
                updated += 1
            else:
                store[external_id] = {"matched": False, **fields}
                created += 1
        if clear:
            sent = {str(item["external_id"]) for item in batch}
            others = [item for key, item in store.items() if key not in sent] + old
            for item in others:
                if item.get("in_stock", 0) != 0:
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


def csrf_failure(request: Request) -> str | None:
    """Why Django's CSRF check would refuse this unsafe request, or None.

    The order is Django's: Origin, then (HTTPS only) Referer, then the cookie, then the
    token, which must repeat the cookie (the double-submit check; Django keeps no server
    copy).
    """
    here = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None and origin != here:
        return f"Origin checking failed - {origin} does not match any trusted origins."
    if origin is None and request.url.scheme == "https":
        referer = request.headers.get("referer")
        if not referer:
            return "Referer checking failed - no Referer."
        if urlsplit(referer).scheme != "https" or urlsplit(referer).netloc != request.url.netloc:
            return f"Referer checking failed - {referer} does not match any trusted origins."
    cookie = request.cookies.get("csrftoken")
    if not cookie:
        return "CSRF cookie not set."
    token = request.headers.get("x-csrftoken")
    if not token:
        return "CSRF token missing."
    if not secrets.compare_digest(token, cookie):
        return "CSRF token incorrect."
    return None


def _media_type_problem(request: Request) -> dict[str, str] | None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return {"detail": f'Unsupported media type "{media_type}" in request.'}
    return None


def _parsed(body: bytes) -> tuple[Any, dict[str, str] | None]:
    try:
        return json.loads(body), None
    except ValueError as exc:
        return None, {"detail": f"JSON parse error - {exc}"}


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

    def refused_session(request: Request) -> tuple[int, Any] | None:
        """DRF's order: a live session must pass CSRF; no session is not authenticated."""
        if emulator.session_user(request.cookies.get("sessionid")) is None:
            return emulator.unauthenticated_status, NOT_AUTHENTICATED
        reason = csrf_failure(request)
        if reason is not None:
            return 403, {"detail": f"CSRF Failed: {reason}"}
        return None

    async def login(request: Request) -> Any:
        body = await request.body()

        def handle():
            if emulator.session_user(request.cookies.get("sessionid")) is not None and (reason := csrf_failure(request)):
                return 403, {"detail": f"CSRF Failed: {reason}"}, {}
            if (problem := _media_type_problem(request)) is not None:
                return 415, problem, {}
            payload, problem = _parsed(body)
            if problem is not None:
                return 400, problem, {}
            token = emulator.log_in(payload)
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
                refused = refused_session(request)
                if refused is not None:
                    return (*refused, {})
                if (problem := _media_type_problem(request)) is not None:
                    return 415, problem, {}
                batch, problem = _parsed(body)
                if problem is not None:
                    return 400, problem, {}
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
