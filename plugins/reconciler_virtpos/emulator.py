"""A fake of the VirtPOS store API (`/api/store`, `updateOnhand`, `getOnhandVersion`,
`setZeroOnhand`) and of its neighbours `/api/item` and `/api/warehouse`, served as an
ASGI app, as strict as the document.

The reference is the VirtPOS store API document (`shared/seeds/virtpos-store-api.ru.txt`)
and API-FACTS section 4, read independently of the client; every statement is a row of
docs/providers/virtpos-conformance.md with the test that checks it. Where both are
silent the emulator takes the stricter reading:

- Parameters. Each endpoint takes the parameters its section lists, plus `apikey` and
  `format` everywhere; any other is `success: 0`. A parameter marked "get only" is read
  from the query string only: in a form body it is refused (`success: 0`), or, with
  `get_only_in_body="ignore"`, not read at all, as a server reading only the query would.
  The others may be in either; one given in both with different values is refused.
- Answers are XML by default, indented as the document's samples (so the samples come
  back byte for byte), and JSON with `format=json`, mirroring the XML tree with lists for
  repeated tags. Any other `format` is refused (in XML). A wrong apikey is HTTP 200 with
  `success: 0`, like every refusal.
- Ids are never invented: an unknown warehouse or item id, internal or external, is
  `success: 0` with an `info` text. `updateOnhand` of a known item in a known warehouse
  with no on-hand record yet adds one (`isnew: 1`); the answer's `id` is that record's id.
- `GET /api/store` answers exactly the document's shape: per warehouse `id`, `name`,
  `count`, `items`; per item `id`, `quantity`, `available_quantity` (quantity less
  reserves), `lot_number` (empty when none), and what `fields` asks for (`itemname` as
  `name`, `article`, `cogs`, `price`, `optionalprices` as `prices`). No dates, no external
  ids. `turnovercalc` and `expdate` (API-FACTS) are accepted but, their shape being
  unknown, add nothing; any other field name is refused. `stockonly=1` lists only
  quantities above 0; `article` and `itemname` filter by exact value.
- `updateOnhand` sets absolute values; quantity is a number >= 0 with at most 3 decimals,
  cogs >= 0 with at most 2, dates are `YYYY-MM-DD`, no value may be empty, and at least
  one field must be given. All is checked before anything changes.
- Versions: `getOnhandVersion` starts a new version of the warehouse and answers
  `{"success": 1, "version": n}`; every `updateOnhand` stamps its record with the
  warehouse's current version; `setZeroOnhand(version)` (version required) zeroes every
  record stamped older than that version and answers `success: 1` alone. Any version
  but the warehouse's latest is refused (stale, or never given).
- `/api/item` lists items (`id`, `name`, `article`, `external_id`, `barcodes` as a
  comma-separated string, `price`), `/api/warehouse` lists shops (`id`, `name`,
  `external_id`), both in the same envelope, each with an optional get-only id filter.
- Sales made at the till (`sell`, `POST /_emulator/sales`) lower the quantity without
  touching the version stamp.
- With a data file, the emulator rereads it whenever another process replaced it. A seed
  (`{"warehouses": [...], "items": [...], "stock": [...]}`) is loaded only when the data
  file is new.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, JsonFile, faults_endpoint

from .mapping import ITEM_PATH, STORE_PATH, UPDATE_PATH, VERSION_PATH, WAREHOUSE_PATH, ZERO_PATH

# The parameters of each endpoint as the document lists them: name -> "get only".
PARAMETERS: dict[str, dict[str, bool]] = {
    STORE_PATH: {"apikey": False, "format": True, "stockonly": True, "warehouseid": True, "itemid": True,
                 "article": True, "itemname": True, "fields": False},
    UPDATE_PATH: {"apikey": False, "format": True, "warehouseid": True, "itemid": True, "ext_warehouseid": True,
                  "ext_itemid": True, "quantity": False, "manuf_date": False, "cogs": False, "expir_date": False,
                  "lot_number": False},
    # The version calls list no `format`, but their examples send it.
    VERSION_PATH: {"apikey": False, "format": True, "warehouseid": True, "ext_warehouseid": True},
    ZERO_PATH: {"apikey": False, "format": True, "version": True, "warehouseid": True, "ext_warehouseid": True},
    # API-FACTS names these lists but not their parameters: an id filter, get only as in the store API.
    ITEM_PATH: {"apikey": False, "format": True, "itemid": True},
    WAREHOUSE_PATH: {"apikey": False, "format": True, "warehouseid": True},
}
FIELDS = ("itemname", "article", "cogs", "price", "optionalprices", "turnovercalc", "expdate")
EDITABLE = ("quantity", "manuf_date", "cogs", "expir_date", "lot_number")
SINGULAR = {"warehouses": "warehouse", "items": "item", "prices": "price"}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# The document's sample read: shop 3 with item 17007 (2 on hand, 1 reserved, lot 12345)
# and its two price lists. `reconciler emulate virtpos` starts with it.
DOCUMENT_SAMPLE: dict[str, Any] = {
    "warehouses": [{"id": 3, "name": "Магазин 1"}],
    "items": [{"id": 17007, "name": "63838 Корм для собак 2кг", "article": "63838", "price": "1126.00",
               "prices": [{"pricelistid": 4, "price": "1126.00"}, {"pricelistid": 3, "price": "866.00"}]}],
    "stock": [{"warehouseid": 3, "itemid": 17007, "quantity": "2", "reserved": "1", "lot_number": "12345"}],
}


def _empty_state() -> dict[str, Any]:
    return {"apikeys": [], "warehouses": {}, "items": {}, "stock": {}, "last_record_id": 0, "requests": []}


def _q(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.001")))


class Refused(Exception):
    """An answer with success 0 and this info text."""


class VirtPOSEmulator:
    """VirtPOS data and behaviour; HTTP stays in `create_app`."""

    def __init__(self, path: Path | None = None, seed: Path | dict | None = None,
                 get_only_in_body: Literal["refuse", "ignore"] = "refuse") -> None:
        self.path = Path(path) if path is not None else None
        self.get_only_in_body = get_only_in_body
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

    # set-up and inspection: what a shop holds before the reconciler's first call

    def load_seed(self, seed: Path | dict) -> None:
        data = json.loads(Path(seed).read_text("utf-8")) if not isinstance(seed, dict) else seed
        for warehouse in data.get("warehouses", []):
            self.add_warehouse(warehouse["id"], warehouse["name"], warehouse.get("external_id"))
        for item in data.get("items", []):
            self.add_item(**item)
        for record in data.get("stock", []):
            record = dict(record)
            self.put_stock(record.pop("warehouseid"), record.pop("itemid"), str(record.pop("quantity")), **record)

    def add_apikey(self, key: str) -> None:
        self._refresh()
        if key not in self._state["apikeys"]:
            self._state["apikeys"].append(key)
            self._save()

    def add_warehouse(self, id: str | int, name: str, external_id: str | None = None) -> None:
        self._refresh()
        self._state["warehouses"][str(id)] = {"name": name, "external_id": external_id, "version": 0}
        self._save()

    def add_item(self, id: str | int, name: str | None = None, article: str | None = None, price: str = "0.00",
                 external_id: str | None = None, barcodes: list[str] | tuple[str, ...] = (),
                 prices: list[dict[str, Any]] | tuple[dict[str, Any], ...] = ()) -> None:
        """An item of the VirtPOS catalog (the store API cannot create one)."""
        self._refresh()
        self._state["items"][str(id)] = {
            "name": name or f"Товар {id}", "article": article or str(id), "price": price,
            "external_id": external_id, "barcodes": list(barcodes),
            "prices": [{"pricelistid": int(p["pricelistid"]), "price": str(p["price"])} for p in prices]}
        self._save()

    def put_stock(self, warehouse_id: str | int, item_id: str | int, quantity: str, *, name: str | None = None,
                  price: str | None = None, cogs: str = "0.00", reserved: str = "0",
                  external_id: str | None = None, **lot: str) -> None:
        """An on-hand record a shop already has; adds the warehouse and item when unknown."""
        self._refresh()
        if str(warehouse_id) not in self._state["warehouses"]:
            self.add_warehouse(warehouse_id, f"Склад {warehouse_id}")
        if str(item_id) not in self._state["items"]:
            self.add_item(item_id)
        item = self._state["items"][str(item_id)]
        for key, value in (("name", name), ("price", price), ("external_id", external_id)):
            if value is not None:
                item[key] = value
        record = self._record(str(warehouse_id), str(item_id))
        record.update({"quantity": _q(Decimal(quantity)), "reserved": _q(Decimal(reserved)), "cogs": cogs, **lot})
        self._save()

    def sell(self, warehouse_id: str | int, item_id: str | int, quantity: str) -> str:
        """A sale at the till: the on-hand drops; returns the new quantity."""
        self._refresh()
        record = self._state["stock"].get(str(warehouse_id), {}).get(str(item_id))
        if record is None:
            raise KeyError(f"no stock of item {item_id} in warehouse {warehouse_id}")
        record["quantity"] = _q(Decimal(record["quantity"]) - Decimal(quantity))
        self._save()
        return record["quantity"]

    def stock(self, warehouse_id: str | int) -> dict[str, dict[str, Any]]:
        self._refresh()
        return copy.deepcopy(self._state["stock"].get(str(warehouse_id), {}))

    def quantities(self, warehouse_id: str | int) -> dict[str, str]:
        return {item: record["quantity"] for item, record in self.stock(warehouse_id).items()}

    @property
    def requests(self) -> list[dict[str, Any]]:
        self._refresh()
        return copy.deepcopy(self._state["requests"])

    def reset(self) -> None:
        """Forget warehouses, items, stock and the request log; keep the apikeys."""
        self._refresh()
        self._state = {**_empty_state(), "apikeys": self._state["apikeys"]}
        self.faults.clear()
        self._save()

    def log(self, record: dict[str, Any]) -> None:
        self._refresh()
        self._state["requests"].append(record)
        self._save()

    # the API

    def handle(self, path: str, query: dict[str, str], form: dict[str, str] | None = None) -> dict[str, Any]:
        """One call with its query-string and form-body parameters; the answer's fields
        (success and info included)."""
        self._refresh()
        form = form or {}
        if query.get("apikey", form.get("apikey")) not in self._state["apikeys"]:
            return {"success": 0, "info": "Неверный ключ API (apikey)"}
        handlers = {STORE_PATH: self._read, ITEM_PATH: self._items, WAREHOUSE_PATH: self._warehouses,
                    UPDATE_PATH: self._update, VERSION_PATH: self._version, ZERO_PATH: self._zero}
        try:
            answer = handlers[path](self._parameters(path, query, form))
        except Refused as exc:
            return {"success": 0, "info": str(exc)}
        self._save()
        return {"success": 1, **answer}

    def _parameters(self, path: str, query: dict[str, str], form: dict[str, str]) -> dict[str, str]:
        known = PARAMETERS[path]
        params = dict(query)
        for name, value in form.items():
            if known.get(name):
                if self.get_only_in_body == "ignore":
                    continue
                raise Refused(f"Параметр {name} передаётся только в строке запроса (get only)")
            if params.get(name, value) != value:
                raise Refused(f"Параметр {name} передан в строке запроса и в теле запроса с разными значениями")
            params[name] = value
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise Refused(f"Неизвестный параметр: {', '.join(unknown)}")
        if params.get("format", "xml") not in ("xml", "json"):
            raise Refused(f"Неверный формат: {params['format']} (xml или json)")
        return params

    def _warehouse_id(self, params: dict[str, str], required: bool = True) -> str | None:
        return self._resolve(params, "warehouseid", "warehouses", "склад", required)

    def _item_id(self, params: dict[str, str], required: bool = True) -> str | None:
        return self._resolve(params, "itemid", "items", "товар", required)

    def _resolve(self, params: dict[str, str], name: str, table: str, noun: str, required: bool) -> str | None:
        """The internal id `name` gives, or else the one whose external id is `ext_<name>`
        (used only when `name` is not given); unknown ids are refused, never made up."""
        records = self._state[table]
        if params.get(name):
            if params[name] not in records:
                raise Refused(f"{noun.capitalize()} не найден: {params[name]}")
            return params[name]
        external = params.get(f"ext_{name}")
        if external:
            for internal, record in records.items():
                if record.get("external_id") == external:
                    return internal
            raise Refused(f"{noun.capitalize()} с внешним кодом {external} не найден")
        if required:
            raise Refused(f"Не указан {noun} ({name} или ext_{name})")
        return None

    def _record(self, warehouse_id: str, item_id: str) -> dict[str, Any]:
        records = self._state["stock"].setdefault(warehouse_id, {})
        if item_id not in records:
            self._state["last_record_id"] += 1
            records[item_id] = {"id": self._state["last_record_id"], "quantity": "0.000", "reserved": "0.000",
                                "cogs": "0.00", "stamp": 0}
        return records[item_id]

    def _read(self, params: dict[str, str]) -> dict[str, Any]:
        fields = [name for name in params.get("fields", "").split(":") if name]
        for name in fields:
            if name not in FIELDS:
                raise Refused(f"Неизвестное поле: {name}")
        if params.get("stockonly", "0") not in ("0", "1"):
            raise Refused(f"Неверное значение stockonly: {params['stockonly']}")
        stockonly = params.get("stockonly") == "1"
        warehouse_id = self._warehouse_id(params, required=False)
        item_id = self._item_id(params, required=False)
        wanted = [warehouse_id] if warehouse_id else sorted(self._state["warehouses"], key=int)
        warehouses = []
        for warehouse_id in wanted:
            items = []
            for record_item, record in sorted(self._state["stock"].get(warehouse_id, {}).items(),
                                              key=lambda kv: int(kv[0])):
                item = self._state["items"][record_item]
                if ((item_id and record_item != item_id) or (stockonly and Decimal(record["quantity"]) <= 0)
                        or params.get("article", item["article"]) != item["article"]
                        or params.get("itemname", item["name"]) != item["name"]):
                    continue
                items.append(self._stock_item(record_item, item, record, fields))
            warehouses.append({"id": int(warehouse_id), "name": self._state["warehouses"][warehouse_id]["name"],
                               "count": len(items), "items": items})
        return {"type": "store", "stockonly": int(stockonly), "count": len(warehouses), "warehouses": warehouses}

    @staticmethod
    def _stock_item(item_id: str, item: dict[str, Any], record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        quantity = Decimal(record["quantity"])
        out: dict[str, Any] = {"id": int(item_id), "quantity": record["quantity"],
                               "available_quantity": _q(quantity - Decimal(record["reserved"])),
                               "lot_number": record.get("lot_number") or ""}
        if "itemname" in fields:
            out["name"] = item["name"]
        if "article" in fields:
            out["article"] = item["article"]
        if "cogs" in fields:
            out["cogs"] = record["cogs"]
        if "price" in fields:
            out["price"] = item["price"]
        if "optionalprices" in fields:
            out["prices"] = [dict(price) for price in item.get("prices", [])]
        return out

    def _update(self, params: dict[str, str]) -> dict[str, Any]:
        warehouse_id = self._warehouse_id(params)
        item_id = self._item_id(params)
        values = self._editable_values(params)
        isnew = item_id not in self._state["stock"].get(warehouse_id, {})
        record = self._record(warehouse_id, item_id)
        before = record["quantity"]
        record.update(values)
        record["stamp"] = self._state["warehouses"][warehouse_id]["version"]
        return {"id": record["id"], "itemid": int(item_id), "warehouseid": int(warehouse_id),
                "isnew": int(isnew), "quantity_before": before}

    @staticmethod
    def _editable_values(params: dict[str, str]) -> dict[str, str]:
        """The fields an updateOnhand sets, each checked; nothing changes if one is wrong."""
        given = {name: params[name] for name in EDITABLE if name in params}
        if not given:
            raise Refused("Не указано ни одно изменяемое поле (quantity, manuf_date, cogs, expir_date, lot_number)")
        values = {}
        for name, text in given.items():
            if text == "":
                raise Refused(f"Пустое значение {name}")
            if name in ("quantity", "cogs"):
                places = Decimal("0.001") if name == "quantity" else Decimal("0.01")
                try:
                    number = Decimal(text)
                    exact = number.is_finite() and number >= 0 and number.quantize(places) == number
                except InvalidOperation:
                    exact = False
                if not exact:
                    raise Refused(f"Неверное значение {name}: {text}")
                values[name] = str(number.quantize(places))
            elif name in ("manuf_date", "expir_date") and not DATE.fullmatch(text):
                raise Refused(f"Неверная дата {name}: {text} (ожидается ГГГГ-ММ-ДД)")
            else:
                values[name] = text
        return values

    def _items(self, params: dict[str, str]) -> dict[str, Any]:
        wanted = self._item_id(params, required=False)
        items = []
        for item_id, item in sorted(self._state["items"].items(), key=lambda kv: int(kv[0])):
            if wanted and item_id != wanted:
                continue
            items.append({"id": int(item_id), "name": item["name"], "article": item["article"],
                          "external_id": item.get("external_id") or "", "barcodes": ",".join(item.get("barcodes", [])),
                          "price": item["price"]})
        return {"type": "item", "count": len(items), "items": items}

    def _warehouses(self, params: dict[str, str]) -> dict[str, Any]:
        wanted = self._warehouse_id(params, required=False)
        warehouses = [{"id": int(warehouse_id), "name": warehouse["name"], "external_id": warehouse.get("external_id") or ""}
                      for warehouse_id, warehouse in sorted(self._state["warehouses"].items(), key=lambda kv: int(kv[0]))
                      if not wanted or warehouse_id == wanted]
        return {"type": "warehouse", "count": len(warehouses), "warehouses": warehouses}

    def _version(self, params: dict[str, str]) -> dict[str, Any]:
        warehouse = self._state["warehouses"][self._warehouse_id(params)]
        warehouse["version"] += 1
        return {"version": warehouse["version"]}

    def _zero(self, params: dict[str, str]) -> dict[str, Any]:
        warehouse_id = self._warehouse_id(params)
        current = self._state["warehouses"][warehouse_id]["version"]
        if not params.get("version"):
            raise Refused("Не указана версия (version)")
        if not params["version"].isdigit():
            raise Refused(f"Неверная версия: {params['version']}")
        version = int(params["version"])
        if version < current:
            raise Refused(f"Устаревшая версия остатков {version} (текущая {current})")
        if version != current or current == 0:
            raise Refused(f"Неизвестная версия остатков {version}: получите её через getOnhandVersion")
        for record in self._state["stock"].get(warehouse_id, {}).values():
            if record["stamp"] < version:
                record["quantity"] = "0.000"
        return {}

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = create_app(self)
        return self._app


# --- HTTP ----------------------------------------------------------------------------


def to_xml(answer: dict[str, Any]) -> bytes:
    """The answer as VirtPOS writes XML: `<root>`, one element per field, repeated tags
    for lists, indented by four spaces as in the document's samples."""

    def fill(element: ElementTree.Element, value: Any) -> None:
        if isinstance(value, dict):
            for tag, inner in value.items():
                child = ElementTree.SubElement(element, tag)
                if isinstance(inner, list):
                    for entry in inner:
                        fill(ElementTree.SubElement(child, SINGULAR[tag]), entry)
                else:
                    fill(child, inner)
        else:
            element.text = str(value)

    root = ElementTree.Element("root")
    fill(root, answer)
    ElementTree.indent(root, space="    ")
    text = ElementTree.tostring(root, encoding="unicode", short_empty_elements=False)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode("utf-8")


def create_app(emulator: VirtPOSEmulator) -> Starlette:
    def render(answer: dict[str, Any], fmt: str, status: int = 200) -> Response:
        if fmt == "json":
            return JSONResponse(answer, status_code=status)
        return Response(to_xml(answer), status_code=status, media_type="application/xml")

    async def api(request: Request) -> Any:
        body = await request.body()
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if body else {}
        query = dict(request.query_params)
        path = request.url.path
        fmt = "json" if query.get("format") == "json" else "xml"
        visible = {k: v for k, v in {**query, **form}.items() if k != "apikey"}
        fault = emulator.faults.take(path, json.dumps(visible, ensure_ascii=False).encode("utf-8"))
        record: dict[str, Any] = {"path": path, "method": request.method, "params": visible,
                                  "query": {k: v for k, v in query.items() if k != "apikey"},
                                  "form": {k: v for k, v in form.items() if k != "apikey"},
                                  "success": None, "fault": fault and fault.kind}

        def run() -> dict[str, Any]:
            answer = emulator.handle(path, query, form)
            record["success"], record["answer"] = answer["success"], answer
            return answer

        if fault is None or fault.kind == "latency":
            if fault is not None:
                await asyncio.sleep(fault.seconds)
            answer = run()
            emulator.log(record)
            return render(answer, fmt)
        if fault.kind in ("http_error", "unknown", "rate_limit"):
            status = {"unknown": 503, "rate_limit": 429}.get(fault.kind, fault.status)
            record["status"] = status
            emulator.log(record)
            return render({"success": 0, "info": f"injected fault: HTTP {status}"}, fmt, status)
        answer_bytes = b""
        if fault.after_processing:
            answer_bytes = to_xml(run())
        emulator.log(record)
        if fault.kind == "timeout":
            return Hang(fault.seconds or 3600)
        return DroppedConnection(answer_bytes)

    def posted(action: Any, expected: str) -> Any:
        """An inspection endpoint taking a JSON object; 400 saying what it expected."""
        async def endpoint(request: Request) -> Response:
            try:
                answer = action(await request.json())
            except (TypeError, ValueError, KeyError, InvalidOperation) as exc:
                return JSONResponse({"error": f"expected {expected}: {exc}"}, 400)
            return JSONResponse(answer or {"ok": True}, status_code=201)
        return endpoint

    def put_stock(payload: dict[str, Any]) -> None:
        emulator.put_stock(payload.pop("warehouseid"), payload.pop("itemid"), str(payload.pop("quantity")), **payload)

    def sell(payload: dict[str, Any]) -> dict[str, Any]:
        return {"quantity": emulator.sell(payload["warehouseid"], payload["itemid"], str(payload["quantity"]))}

    async def stock(request: Request) -> Response:
        return JSONResponse(emulator.stock(request.path_params["warehouse_id"]))

    async def request_log(request: Request) -> Response:
        return JSONResponse(emulator.requests)

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    return Starlette(routes=[
        *(Route(p, api, methods=["GET", "POST"]) for p in PARAMETERS),
        Route("/_emulator/warehouses/{warehouse_id}/stock", stock, methods=["GET"]),
        Route("/_emulator/warehouses", posted(lambda p: emulator.add_warehouse(p["id"], p["name"], p.get("external_id")),
                                              "id, name and external_id"), methods=["POST"]),
        Route("/_emulator/items", posted(lambda p: emulator.add_item(**p),
                                         "id, and name, article, price, external_id, barcodes, prices"), methods=["POST"]),
        Route("/_emulator/stock", posted(put_stock, "warehouseid, itemid, quantity and item fields"), methods=["POST"]),
        Route("/_emulator/sales", posted(sell, "warehouseid, itemid and quantity"), methods=["POST"]),
        Route("/_emulator/requests", request_log, methods=["GET"]),
        Route("/_emulator/faults", faults_endpoint(emulator.faults), methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/apikeys", posted(lambda p: emulator.add_apikey(str(p["apikey"])), "apikey"), methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ])
