"""A faithful fake of D-Store's `POST /v2/pos/syncProduct`, served as an ASGI app.

It follows the API document (docs/providers/dstore-conformance.md lists every statement),
including its sharp edge: a status update that carries any optional parameter (a product
field besides `posProductId` and `status`, `store.name`, `extendInfo`) is processed as a
full sync and replaces the store's whole catalog. Where the document is silent, the
emulator takes the stricter reading:

- Parameters the document does not show (at any level) are PARAM_ILLEGAL. Ids
  (`posStoreId`, `posProductId`) take at most 64 characters, names 255 and non-empty;
  `requestId` and `posAccountId` 255 as documented. Integers (amounts, quantity bounds)
  are 0..2147483647; a value that is not a number gets the document's own message.
- Product structure as in every example: a GROUP has subProducts (SINGLE or MODIFIER),
  no price and no overloads; a SINGLE or MODIFIER offers choices only through GROUPs;
  an overload names a GROUP that lists the product, once; its price is below the item's
  own and its quantityRule differs from the item's (the combo and bundle sections say
  "always lower", "always different"); one currency per request.
- In a full sync only `posProductId` and `status` are required (all a status update
  carries, so the trap goes through as the document says); an explicit SINGLE or
  MODIFIER needs a price.
- A status update names at most 10 products, each once, each a SINGLE or MODIFIER the
  store holds ("update the statuses of single items and modifiers"); a GROUP's status
  changes only with a full sync.
- Keys, not values, decide the mode, and `null` is not taken as "absent": a field sent
  as `null` makes the request a full sync and then fails that field's validation.
- `store_name_makes_full_sync=False` follows the document's "Modifiers" status example
  (which carries `store.name`) instead of its text.
- An empty `products` list is rejected: as a status update it would mean nothing and as a
  full sync it would wipe the store, and the document does not say which one D-Store picks.
- Idempotency is keyed by `requestId` alone. Results of processing (SUCCESS,
  PARAM_ILLEGAL, PROCESS_FAIL) are final and replayed for any later request with that id,
  even with a different body; the gateway's refusals (signature, INVALID_API,
  ACCESS_DENIED, rate limit, U) are not stored. Requests rejected before the body could
  be trusted (headers, signature, unparsable JSON, bad `requestId`) store nothing.
- Every answer is HTTP 200 with a `result` object, signed, except INVALID_SIGNATURE
  (unsigned). Any other POST path is INVALID_API. The codes a well-formed request cannot
  provoke (PROCESS_FAIL, ACCESS_DENIED, ...) come from a `result` fault with that code.
- `keyVersion` in the Signature header is ignored; `algorithm` must be RSA256.
- `verify_signatures=False` skips only the Signature check; the other header rules stay.
- The `timeout` fault hangs for `seconds` (default an hour) and then cuts the connection, so
  a patient client still gets no answer; a client that hangs up ends the wait early.
- `reset()` clears catalogs, stored results, the request log and pending faults, but keeps
  registered clients and the gateway key pair. Faults are never persisted.
- With a data file, the emulator rereads it whenever another process has replaced it.
  Concurrent writers are not coordinated: the last write wins.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Scope

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, JsonFile, faults_endpoint
from reconciler_dstore import signing

SYNC_PRODUCT_PATH = "/v2/pos/syncProduct"

MAX_FULL_SYNC_PRODUCTS = 1500
MAX_STATUS_UPDATE_PRODUCTS = 10
MAX_REQUEST_ID_LENGTH = 255  # requestId and posAccountId, as the document gives
MAX_POS_ID_LENGTH = 64  # posStoreId, posProductId: not given; syncStore's 64 for an id
MAX_NAME_LENGTH = 255  # store and product names: not given; the longest string limit
MAX_EXTEND_INFO_LENGTH = 4096
MAX_INT = 2147483647
STATUSES = ("AVAILABLE", "SOLDOUT")
PRODUCT_TYPES = ("SINGLE", "GROUP", "MODIFIER")
STATUS_UPDATABLE_TYPES = ("SINGLE", "MODIFIER")
STATUS_UPDATE_KEYS = frozenset({"posProductId", "status"})
# Every parameter the document shows; anything else is PARAM_ILLEGAL ("parameter names
# ... do not meet the specified requirements").
REQUEST_KEYS = ("requestId", "posAccountId", "store", "products", "extendInfo")
STORE_KEYS = ("posStoreId", "name")
PRODUCT_KEYS = ("posProductId", "type", "status", "name", "price", "quantityRule", "subProducts", "overloads")
OVERLOAD_KEYS = ("posProductIds", "price", "quantityRule")
AMOUNT_KEYS = ("currency", "value")
QUANTITY_RULE_KEYS = ("min", "max")
_CURRENCY = re.compile(r"[A-Z]{3}")


# --- results -------------------------------------------------------------------------


def _result(status: str, code: str, message: str) -> dict[str, str]:
    # The document's key order (its response examples): code, message, status.
    return {"resultCode": code, "resultMessage": message, "resultStatus": status}


# The document's result table: code -> (status, message).
DOCUMENTED_RESULTS = {
    "SUCCESS": ("S", "success"),
    "PROCESS_FAIL": ("F", "A general business failure occurred. Do not retry."),
    "PARAM_ILLEGAL": ("F", "Parameter names or values do not meet the specified requirements."),
    "INVALID_API": ("F", "The called API is invalid or not active."),
    "INVALID_SIGNATURE": ("F", "Signature is invalid."),
    "ACCESS_DENIED": ("F", "Access is denied"),
    "REQUEST_TRAFFIC_EXCEED_LIMIT": ("F", "The request traffic exceeds the limit."),
    "UNKNOWN_EXCEPTION": ("U", "An API calling is failed, which is caused by unknown reasons."),
}
# Results of processing the request itself: final for its requestId, as any result of a
# processed request is. The others are the gateway's (not processed, nothing stored).
PROCESSING_RESULTS = ("SUCCESS", "PROCESS_FAIL", "PARAM_ILLEGAL")
# The document's own PARAM_ILLEGAL response names non-numeric input; this is its message.
NON_NUMERIC_MESSAGE = "Illegal parameters. For example, non-numeric input, invalid date."


def documented_result(code: str) -> dict[str, str]:
    """The answer for `code` as the document's table gives it; an F for codes it does not
    list ("multiple possible values exist, such as PROCESS_FAIL, PARAM_ILLEGAL, etc.")."""
    status, message = DOCUMENTED_RESULTS.get(code, ("F", f"{code} (a failure the document does not list)"))
    return _result(status, code, message)


def _success() -> dict[str, str]:
    return documented_result("SUCCESS")


def _param_illegal(message: str) -> dict[str, str]:
    return _result("F", "PARAM_ILLEGAL", message)


# The fault kinds every emulator knows, as D-Store answers them.
_FAULT_CODES = {"unknown": "UNKNOWN_EXCEPTION", "rate_limit": "REQUEST_TRAFFIC_EXCEED_LIMIT"}


class ParamIllegal(Exception):
    """A request breaking a documented rule; the text becomes the resultMessage."""


class SignatureRejected(Exception):
    """The request cannot be attributed to a registered client."""


# --- validation ----------------------------------------------------------------------


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _check_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise ParamIllegal(f"{_at(where, key)} is not a parameter of syncProduct")


def _require_string(value: Any, where: str, max_length: int | None = None) -> str:
    if value is None:
        raise ParamIllegal(f"{where} is required")
    if not isinstance(value, str) or not value:
        raise ParamIllegal(f"{where} must be a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise ParamIllegal(f"{where} must be at most {max_length} characters (got {len(value)})")
    return value


def _check_int(value: Any, where: str) -> int:
    if value is None:
        raise ParamIllegal(f"{where} is required")
    # bool is an int in Python but not in JSON; a string or an object is not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamIllegal(NON_NUMERIC_MESSAGE)
    if not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ParamIllegal(f"{where} must be an integer between 0 and {MAX_INT}")
    return value


def _check_status(value: Any, where: str) -> None:
    if value is None:
        raise ParamIllegal(f"{where} is required")
    if value not in STATUSES:
        raise ParamIllegal(f"{where} must be one of {', '.join(STATUSES)}")


def _check_object(value: Any, allowed: tuple[str, ...], where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParamIllegal(f"{where} must be an object with {what}")
    _check_keys(value, allowed, where)
    return value


def _check_price(price: Any, where: str) -> str:
    _check_object(price, AMOUNT_KEYS, where, "currency and value")
    currency = price.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ParamIllegal(f"{where}.currency must be a 3-letter uppercase ISO 4217 code")
    _check_int(price.get("value"), f"{where}.value")
    return currency


def _check_quantity_rule(rule: Any, where: str) -> None:
    _check_object(rule, QUANTITY_RULE_KEYS, where, "min and max")
    low = _check_int(rule.get("min"), f"{where}.min")
    high = _check_int(rule.get("max"), f"{where}.max")
    if low > high:
        raise ParamIllegal(f"{where}.min must not exceed {where}.max")


def _check_id_list(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise ParamIllegal(f"{where} must be an array of posProductIds")
    for j, item in enumerate(value):
        _require_string(item, f"{where}[{j}]", MAX_POS_ID_LENGTH)
        if item in value[:j]:
            raise ParamIllegal(f"{where}[{j}] {item!r} is listed twice")


def _check_overloads(overloads: Any, where: str) -> list[str]:
    """The prices' currencies; shape only (references are checked once all are known)."""
    if not isinstance(overloads, list):
        raise ParamIllegal(f"{where} must be an array")
    currencies = []
    for k, overload in enumerate(overloads):
        at = f"{where}[{k}]"
        _check_object(overload, OVERLOAD_KEYS, at, "posProductIds, price and quantityRule")
        _check_id_list(overload.get("posProductIds"), f"{at}.posProductIds")
        if not overload["posProductIds"]:
            raise ParamIllegal(f"{at}.posProductIds must not be empty")
        if "price" in overload:
            currencies.append(_check_price(overload["price"], f"{at}.price"))
        if "quantityRule" in overload:
            _check_quantity_rule(overload["quantityRule"], f"{at}.quantityRule")
    return currencies


def _check_product_shape(product: Any, where: str) -> list[str]:
    """One product of a full sync on its own; returns the currencies of its prices.

    Only `posProductId` and `status` are required: they are all a status update needs,
    and a status update with an optional field is processed as a full sync (the trap
    must go through, as the document says, not fail on a missing name)."""
    if not isinstance(product, dict):
        raise ParamIllegal(f"{where} must be an object")
    _check_keys(product, PRODUCT_KEYS, where)
    _require_string(product.get("posProductId"), f"{where}.posProductId", MAX_POS_ID_LENGTH)
    _check_status(product.get("status"), f"{where}.status")
    kind = product.get("type", "SINGLE")
    if kind not in PRODUCT_TYPES:
        raise ParamIllegal(f"{where}.type must be one of {', '.join(PRODUCT_TYPES)}")
    if "name" in product:
        _require_string(product["name"], f"{where}.name", MAX_NAME_LENGTH)
    currencies = []
    if "price" in product:
        currencies.append(_check_price(product["price"], f"{where}.price"))
    if "quantityRule" in product:
        _check_quantity_rule(product["quantityRule"], f"{where}.quantityRule")
    if "subProducts" in product:
        _check_id_list(product["subProducts"], f"{where}.subProducts")
    if "overloads" in product:
        currencies += _check_overloads(product["overloads"], f"{where}.overloads")
    if kind == "GROUP":
        if not product.get("subProducts"):
            raise ParamIllegal(f"{where} is a GROUP and must have non-empty subProducts")
        if "price" in product:
            raise ParamIllegal(f"{where} is a GROUP and must not have a price")
        if "overloads" in product:
            raise ParamIllegal(f"{where} is a GROUP and must not have overloads")
    elif "type" in product and "price" not in product:
        # Only an explicit type demands a price, so a status update turned full sync by
        # an optional field (the documented trap) still goes through.
        raise ParamIllegal(f"{where} is a {kind} and must have a price")
    return currencies


def _is_group(product: dict[str, Any]) -> bool:
    return product.get("type") == "GROUP"


def _check_references(
    product: dict[str, Any], where: str, products: list[dict[str, Any]], index: dict[str, int]
) -> None:
    own_id = product["posProductId"]
    for j, sub_id in enumerate(product.get("subProducts", [])):
        at = f"{where}.subProducts[{j}]"
        if sub_id not in index:
            raise ParamIllegal(f"{at} {sub_id!r} is not a product in this request")
        # As in every example of the document: a GROUP offers items (SINGLE, MODIFIER)
        # and an item offers choices through GROUPs.
        if _is_group(product) and _is_group(products[index[sub_id]]):
            raise ParamIllegal(f"{at} {sub_id!r} is a GROUP; a GROUP's subProducts are SINGLE or MODIFIER products")
        if not _is_group(product) and not _is_group(products[index[sub_id]]):
            raise ParamIllegal(f"{at} {sub_id!r} is not a GROUP; a product's choices are GROUPs")
    named: set[str] = set()
    for k, overload in enumerate(product.get("overloads", [])):
        at_overload = f"{where}.overloads[{k}]"
        for j, group_id in enumerate(overload["posProductIds"]):
            at = f"{at_overload}.posProductIds[{j}]"
            if group_id not in index:
                raise ParamIllegal(f"{at} {group_id!r} is not a product in this request")
            group = products[index[group_id]]
            if not _is_group(group):
                raise ParamIllegal(f"{at} {group_id!r} is not a GROUP")
            if own_id not in group["subProducts"]:
                raise ParamIllegal(f"{at} {group_id!r} does not list {own_id!r} in its subProducts")
            if group_id in named:
                raise ParamIllegal(f"{at} {group_id!r} already has an overload of {own_id!r}")
            named.add(group_id)
        # The combo and bundle examples: "products.overloads.price.value ... is always
        # lower than the price of the single item"; "products.overloads.quantityRule ...
        # is always different from that of the single item". A free item cannot be lower:
        # its overload may be free too.
        if ("price" in overload and "price" in product and overload["price"]["value"] >= product["price"]["value"]
                and product["price"]["value"] > 0):
            raise ParamIllegal(
                f"{at_overload}.price.value {overload['price']['value']} must be lower than "
                f"{where}.price.value {product['price']['value']}, the price of the item on its own")
        if "quantityRule" in overload and overload["quantityRule"] == product.get("quantityRule"):
            raise ParamIllegal(
                f"{at_overload}.quantityRule must differ from {where}.quantityRule, the rule of the item on its own")


def _check_no_cycles(products: list[dict[str, Any]], index: dict[str, int]) -> None:
    children = {p["posProductId"]: p.get("subProducts", []) for p in products}
    on_path, done = set(), set()
    for root in children:
        if root in done:
            continue
        # Iterative depth-first search: a 1,500-product chain would exhaust recursion.
        path, pending = [root], [iter(children[root])]
        on_path.add(root)
        while pending:
            child = next(pending[-1], None)
            if child is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                pending.pop()
            elif child in on_path:
                loop = path[path.index(child) :] + [child]
                raise ParamIllegal(
                    f"products[{index[child]}] reaches itself through subProducts: "
                    + " -> ".join(loop)
                )
            elif child not in done:
                on_path.add(child)
                path.append(child)
                pending.append(iter(children[child]))


def check_full_sync(products: list[Any]) -> None:
    if len(products) > MAX_FULL_SYNC_PRODUCTS:
        raise ParamIllegal(
            f"full sync allows at most {MAX_FULL_SYNC_PRODUCTS} products (got {len(products)})"
        )
    index: dict[str, int] = {}
    store_currency: tuple[str, str] | None = None  # (currency, where it was first seen)
    for i, product in enumerate(products):
        where = f"products[{i}]"
        for currency in _check_product_shape(product, where):
            if store_currency is None:
                store_currency = (currency, where)
            elif currency != store_currency[0]:
                raise ParamIllegal(
                    f"{where} is priced in {currency} but {store_currency[1]} in {store_currency[0]};"
                    " a store has one currency")
        product_id = product["posProductId"]
        if product_id in index:
            first = index[product_id]
            raise ParamIllegal(
                f"products[{i}].posProductId {product_id!r} duplicates products[{first}]"
            )
        index[product_id] = i
    for i, product in enumerate(products):
        _check_references(product, f"products[{i}]", products, index)
    _check_no_cycles(products, index)


def check_status_update(
    products: list[dict[str, Any]], stored: Mapping[str, dict[str, Any]]
) -> None:
    if len(products) > MAX_STATUS_UPDATE_PRODUCTS:
        raise ParamIllegal(
            f"status update allows at most {MAX_STATUS_UPDATE_PRODUCTS} products"
            f" (got {len(products)})"
        )
    seen: set[str] = set()
    for i, product in enumerate(products):
        where = f"products[{i}]"
        product_id = _require_string(product["posProductId"], f"{where}.posProductId", MAX_POS_ID_LENGTH)
        _check_status(product["status"], f"{where}.status")
        if product_id in seen:
            raise ParamIllegal(f"{where}.posProductId {product_id!r} is listed twice")
        seen.add(product_id)
        existing = stored.get(product_id)
        if existing is None:
            raise ParamIllegal(f"{where}.posProductId {product_id!r} does not exist in this store")
        kind = existing.get("type", "SINGLE")
        if kind not in STATUS_UPDATABLE_TYPES:
            raise ParamIllegal(
                f"{where}.posProductId {product_id!r} is a {kind}; "
                "only SINGLE and MODIFIER statuses can be updated"
            )


def is_status_update(request: "SyncRequest", store_name_makes_full_sync: bool = True) -> bool:
    """Whether the request carries only the required parameters of a status update.

    "Including optional parameters results in D-Store processing the request as a full
    product information synchronization": any optional parameter, wherever it is (a
    product field, `store.name`, `extendInfo`), makes it a full sync. Keys decide, not
    values: a parameter sent as null is present.
    """
    optional_store = set(request.store) - {"posStoreId"}
    if not store_name_makes_full_sync:
        optional_store.discard("name")
    return (not request.extend_info_sent and not optional_store
            and all(isinstance(p, dict) and p.keys() == STATUS_UPDATE_KEYS for p in request.products))


@dataclass(frozen=True)
class SyncRequest:
    request_id: str
    account_id: str
    store_id: str
    store: dict[str, Any]
    products: list[Any]
    extend_info_sent: bool

    @property
    def store_name(self) -> str | None:
        return self.store.get("name")


def parse_sync_request(doc: dict[str, Any]) -> SyncRequest:
    _check_keys(doc, REQUEST_KEYS, "")
    request_id = _require_string(doc.get("requestId"), "requestId", MAX_REQUEST_ID_LENGTH)
    account_id = _require_string(doc.get("posAccountId"), "posAccountId", MAX_REQUEST_ID_LENGTH)
    store = doc.get("store")
    if not isinstance(store, dict):
        raise ParamIllegal("store is required and must be an object")
    _check_keys(store, STORE_KEYS, "store")
    store_id = _require_string(store.get("posStoreId"), "store.posStoreId", MAX_POS_ID_LENGTH)
    if "name" in store:
        _require_string(store["name"], "store.name", MAX_NAME_LENGTH)
    products = doc.get("products")
    if not isinstance(products, list):
        raise ParamIllegal("products is required and must be an array")
    if not products:
        raise ParamIllegal("products must contain at least one product")
    if "extendInfo" in doc:
        extend_info = doc["extendInfo"]
        if not isinstance(extend_info, dict):
            raise ParamIllegal("extendInfo must be an object")
        size = len(json.dumps(extend_info, separators=(",", ":"), ensure_ascii=False))
        if size > MAX_EXTEND_INFO_LENGTH:
            raise ParamIllegal(
                f"extendInfo must be at most {MAX_EXTEND_INFO_LENGTH} characters (got {size})"
            )
    return SyncRequest(request_id, account_id, store_id, store, products, "extendInfo" in doc)


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ParamIllegal(
            "Request-Time header must be ISO 8601 with a UTC offset,"
            " e.g. 2022-10-10T23:00:56+08:00"
        )
    return moment


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


# --- the backend ---------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayReply:
    """The result, and the exact bytes and headers that carry it (signed over those bytes)."""

    result: dict[str, str]
    body: bytes
    headers: dict[str, str]


def _empty_state() -> dict[str, Any]:
    return {"gateway": None, "clients": {}, "stores": {}, "results": {}, "requests": []}


class DStoreEmulator:
    """D-Store's data and behaviour; HTTP stays in `create_app`."""

    def __init__(
        self,
        path: Path | None = None,
        clock_skew_seconds: int = 300,
        verify_signatures: bool = True,
        store_name_makes_full_sync: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.clock_skew_seconds = clock_skew_seconds
        self.verify_signatures = verify_signatures
        # The document's text makes any optional parameter, store.name included, turn a
        # status update into a full sync; its "Modifiers" example carries store.name
        # anyway. False follows the example (store.name kept out of the decision).
        self.store_name_makes_full_sync = store_name_makes_full_sync
        self.faults = FaultQueue()
        self._state = _empty_state()
        self._file = JsonFile(self.path)
        self._gateway_key: Any = None
        self._app: Starlette | None = None
        self._refresh()

    # persistence

    def _refresh(self) -> None:
        data = self._file.load_if_changed()
        if data is not None:
            self._state = {**_empty_state(), **data}
            self._gateway_key = None

    def _save(self) -> None:
        self._file.save(self._state)

    # keys and clients

    def _gateway_private_key(self) -> Any:
        if self._gateway_key is None:
            if self._state["gateway"] is None:
                private_pem, public_pem = signing.generate_key_pair()
                self._state["gateway"] = {"private_key": private_pem, "public_key": public_pem}
                self._save()
            self._gateway_key = signing.load_private_key(self._state["gateway"]["private_key"])
        return self._gateway_key

    @property
    def gateway_public_key_pem(self) -> str:
        self._refresh()
        self._gateway_private_key()
        return self._state["gateway"]["public_key"]

    def register_client(self, client_id: str, public_key_pem: str) -> None:
        signing.load_public_key(public_key_pem)  # a bad key fails here, not on every request
        self._refresh()
        self._state["clients"][client_id] = public_key_pem
        self._save()

    def seed_store(self, pos_account_id: str, pos_store_id: str, name: str | None,
                   products: list[dict[str, Any]]) -> None:
        """Put a store in place as if it had been synced, without a request (benchmarks,
        tests that start from an existing menu)."""
        self._refresh()
        stores = self._state["stores"].setdefault(pos_account_id, {})
        stores[pos_store_id] = {"name": name, "products": {p["posProductId"]: copy.deepcopy(p) for p in products}}
        self._save()

    # inspection

    def _store(self, account_id: str, store_id: str) -> dict[str, Any] | None:
        return self._state["stores"].get(account_id, {}).get(store_id)

    def products(self, pos_account_id: str, pos_store_id: str) -> dict[str, dict[str, Any]]:
        self._refresh()
        store = self._store(pos_account_id, pos_store_id)
        return copy.deepcopy(store["products"]) if store else {}

    def store_name(self, pos_account_id: str, pos_store_id: str) -> str | None:
        self._refresh()
        store = self._store(pos_account_id, pos_store_id)
        return store["name"] if store else None

    @property
    def requests(self) -> list[dict[str, Any]]:
        self._refresh()
        return copy.deepcopy(self._state["requests"])

    def reset(self) -> None:
        self._refresh()
        self._state = {
            **_empty_state(),
            "gateway": self._state["gateway"],
            "clients": self._state["clients"],
        }
        self.faults.clear()
        self._save()

    # syncProduct

    def sync_product(
        self, target: str, headers: Mapping[str, str], body: bytes, *, fault: str | None = None
    ) -> GatewayReply:
        """Answer one call. `target` is the path with query string, as the client signed it."""
        self._refresh()
        headers = {name.lower(): value for name, value in headers.items()}
        record = self._new_record(target, body, fault)
        signed = True
        try:
            self._authenticate(target, headers, body)
            result = self._apply(body, record)
        except SignatureRejected as exc:
            result = _result("F", "INVALID_SIGNATURE", f"Signature is invalid: {exc}")
            signed = False
        except ParamIllegal as exc:
            result = _param_illegal(str(exc))
        record["result"] = result
        self._log(record)
        return self.reply(target, headers.get("client-id", ""), result, signed=signed)

    def answer_unprocessed(
        self,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        fault: str | None,
        result: dict[str, str] | None = None,
    ) -> GatewayReply | None:
        """Log a call that was not processed (an injected fault, an API that does not
        exist); reply with `result` if given.

        A result of processing (PROCESS_FAIL, PARAM_ILLEGAL) is final for the request's
        requestId, as every result of a processed request is: a retry gets it again."""
        self._refresh()
        record = self._new_record(target, body, fault)
        record["result"] = result
        request_id = record["requestId"]
        if (result is not None and result["resultCode"] in PROCESSING_RESULTS
                and isinstance(request_id, str) and request_id):
            self._state["results"].setdefault(request_id, result)
        self._log(record)
        if result is None:
            return None
        client_id = {name.lower(): value for name, value in headers.items()}.get("client-id", "")
        return self.reply(target, client_id, result)

    def reply(
        self, target: str, client_id: str, result: dict[str, str], *, signed: bool = True
    ) -> GatewayReply:
        # Serialized once: the signature must cover exactly the bytes that are sent.
        body = json.dumps({"result": result}, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if client_id:
            headers["Client-Id"] = client_id
        if signed:
            response_time = signing.request_time_now()
            content = signing.signed_content("POST", target, client_id, response_time, body)
            headers["Response-Time"] = response_time
            headers["Signature"] = signing.format_signature_header(
                signing.sign(self._gateway_private_key(), content)
            )
        return GatewayReply(result, body, headers)

    @staticmethod
    def _new_record(target: str, body: bytes, fault: str | None) -> dict[str, Any]:
        doc = _json_or_none(body)
        request_id = doc.get("requestId") if isinstance(doc, dict) else None
        return {
            "requestId": request_id,
            "path": target,
            "mode": None,
            "body": doc,
            "body_sha256": hashlib.sha256(body).hexdigest(),  # shows a retry sent the same bytes
            "result": None,
            "replayed": False,
            "fault": fault,
        }

    def _log(self, record: dict[str, Any]) -> None:
        self._state["requests"].append(record)
        self._save()

    def _authenticate(self, target: str, headers: Mapping[str, str], body: bytes) -> None:
        client_id = headers.get("client-id")
        if not client_id:
            raise ParamIllegal("Client-Id header is required")
        request_time = headers.get("request-time")
        if not request_time:
            raise ParamIllegal("Request-Time header is required")
        skew = (datetime.now(timezone.utc) - _parse_time(request_time)).total_seconds()
        if abs(skew) > self.clock_skew_seconds:
            raise ParamIllegal("Request-Time is outside the allowed clock skew")
        if not self.verify_signatures:
            return
        header = headers.get("signature")
        if not header:
            raise SignatureRejected("the Signature header is missing")
        parts = signing.parse_signature_header(header)
        if parts.get("algorithm") != signing.ALGORITHM:
            raise SignatureRejected(f"algorithm must be {signing.ALGORITHM}")
        if not parts.get("signature"):
            raise SignatureRejected("the Signature header has no signature value")
        public_pem = self._state["clients"].get(client_id)
        if public_pem is None:
            raise SignatureRejected(f"no public key is registered for Client-Id {client_id!r}")
        content = signing.signed_content("POST", target, client_id, request_time, body)
        if not signing.verify(signing.load_public_key(public_pem), content, parts["signature"]):
            raise SignatureRejected("the signature does not match the request")

    def _apply(self, body: bytes, record: dict[str, Any]) -> dict[str, str]:
        doc = _json_or_none(body)
        if not isinstance(doc, dict):
            raise ParamIllegal("the request body must be a JSON object")
        request_id = _require_string(doc.get("requestId"), "requestId", MAX_REQUEST_ID_LENGTH)
        stored = self._state["results"].get(request_id)
        if stored is not None:
            record["replayed"] = True
            return dict(stored)
        try:
            result = self._apply_new(doc, record)
        except ParamIllegal as exc:
            result = _param_illegal(str(exc))
        self._state["results"][request_id] = result
        return result

    def _apply_new(self, doc: dict[str, Any], record: dict[str, Any]) -> dict[str, str]:
        request = parse_sync_request(doc)
        store = self._store(request.account_id, request.store_id)
        if is_status_update(request, self.store_name_makes_full_sync):
            record["mode"] = "status"
            check_status_update(request.products, store["products"] if store else {})
            for product in request.products:
                store["products"][product["posProductId"]]["status"] = product["status"]
        else:
            record["mode"] = "full"
            check_full_sync(request.products)
            stores = self._state["stores"].setdefault(request.account_id, {})
            store = stores.setdefault(request.store_id, {"name": None, "products": {}})
            # New requests overwrite previous data: the request is the whole catalog.
            store["products"] = {p["posProductId"]: copy.deepcopy(p) for p in request.products}
        if request.store_name is not None:
            store["name"] = request.store_name
        return _success()

    # HTTP

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = create_app(self)
        return self._app


# --- HTTP ----------------------------------------------------------------------------


def _signed_target(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    return scope["path"] + (f"?{query.decode('latin-1')}" if query else "")


def _to_response(reply: GatewayReply) -> Response:
    return Response(reply.body, status_code=200, headers=reply.headers)


def create_app(emulator: DStoreEmulator) -> Starlette:
    async def sync_product(request: Request) -> Response | ASGIApp:
        target = _signed_target(request.scope)
        body = await request.body()
        headers = request.headers
        fault = emulator.faults.take(SYNC_PRODUCT_PATH, body)
        if fault is None or fault.kind == "latency":
            if fault is not None:
                await asyncio.sleep(fault.seconds)
            return _to_response(
                emulator.sync_product(target, headers, body, fault=fault and fault.kind)
            )
        if fault.kind == "http_error":
            emulator.answer_unprocessed(target, headers, body, fault=fault.kind)
            return PlainTextResponse(
                f"injected fault: HTTP {fault.status}", status_code=fault.status
            )
        if fault.kind in _FAULT_CODES or fault.kind == "result":
            code = fault.code or _FAULT_CODES[fault.kind]
            reply = emulator.answer_unprocessed(
                target, headers, body, fault=fault.kind, result=documented_result(code)
            )
            return _to_response(reply)
        # timeout or drop: the caller learns nothing, whether or not the change happened.
        if fault.after_processing:
            reply = emulator.sync_product(target, headers, body, fault=fault.kind)
        else:
            reply = emulator.answer_unprocessed(target, headers, body, fault=fault.kind)
        if fault.kind == "timeout":
            return Hang(fault.seconds or 3600)
        return DroppedConnection(reply.body if reply else b"", content_type=b"application/json; charset=UTF-8")

    async def other_api(request: Request) -> Response:
        # The gateway answers any API it does not serve (a wrong `path`, such as the
        # document's second curl sample, /v2/pds/store/syncProduct) with INVALID_API.
        reply = emulator.answer_unprocessed(
            _signed_target(request.scope), request.headers, await request.body(),
            fault=None, result=documented_result("INVALID_API"),
        )
        return _to_response(reply)

    async def store_products(request: Request) -> Response:
        account, store = request.path_params["account"], request.path_params["store"]
        return JSONResponse(
            {
                "posAccountId": account,
                "posStoreId": store,
                "name": emulator.store_name(account, store),
                "products": emulator.products(account, store),
            }
        )

    async def request_log(request: Request) -> Response:
        return JSONResponse(emulator.requests)

    faults = faults_endpoint(emulator.faults)

    async def clients(request: Request) -> Response:
        try:
            payload = await request.json()
            emulator.register_client(payload["client_id"], payload["public_key"])
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"error": f"expected client_id and a public_key PEM: {exc}"}, 400)
        return JSONResponse({"client_id": payload["client_id"]}, status_code=201)

    async def gateway_public_key(request: Request) -> Response:
        return PlainTextResponse(emulator.gateway_public_key_pem)

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    return Starlette(
        routes=[
            Route(SYNC_PRODUCT_PATH, sync_product, methods=["POST"]),
            Route("/_emulator/stores/{account}/{store}/products", store_products, methods=["GET"]),
            Route("/_emulator/requests", request_log, methods=["GET"]),
            Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/clients", clients, methods=["POST"]),
            Route("/_emulator/gateway-public-key", gateway_public_key, methods=["GET"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
            Route("/{path:path}", other_api, methods=["POST"]),
        ]
    )
