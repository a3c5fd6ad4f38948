"""A fake of the VirtPOS store API (`/api/store`, `updateOnhand`, `getOnhandVersion`,
`setZeroOnhand`) and of the item list `/api/item`, served as an ASGI app.

It follows the VirtPOS document and API-FACTS section 4. Where both are silent:

- Answers are XML by default and JSON with `format=json`; the JSON mirrors the XML tree
  with lists for repeated tags. Quantities are 3-decimal strings in both.
- A wrong or missing apikey is HTTP 200 with `success: 0` and an `info` text.
- `updateOnhand` sets an absolute on-hand value. An unknown numeric item id or
  warehouse id is created on first use (an unknown `ext_warehouseid` gets a new internal
  id), so a fresh emulator takes any catalog; a non-numeric item id is `success: 0`.
  `ext_itemid` (used only when `itemid` is not given) finds the item whose `external_id`
  it is; an unknown one is a new item with the next internal id. The answer's `itemid`
  is always the internal id.
- `GET /api/item` (API-FACTS section 4: items with `external_id`, barcodes as a
  comma-separated string, the same envelope) lists every item: `id`, `name`, `article`,
  `external_id` (empty when none), `barcodes`, `price` when set; `itemid` narrows it.
- Versions: `getOnhandVersion` starts a new version of the warehouse and returns it;
  every `updateOnhand` stamps the record with the warehouse's current version;
  `setZeroOnhand(version)` zeroes every record stamped older than that version, and is
  `success: 0` for any version other than the warehouse's latest (stale).
- `GET /api/store` lists every record of the warehouse (stockonly=1: quantity > 0) with
  `lot_number`, `manuf_date`, `expir_date` when set, and the warehouse's `external_id`.
- Sales made at the till (`sell`, `POST /_emulator/sales`) lower the quantity without
  touching the version stamp.
- With a data file, the emulator rereads it whenever another process replaced it.
"""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sdk import DroppedConnection, FaultQueue, Hang, JsonFile, faults_endpoint

from .mapping import ITEM_PATH, STORE_PATH, UPDATE_PATH, VERSION_PATH, ZERO_PATH

SINGULAR = {"warehouses": "warehouse", "items": "item", "prices": "price"}
EDITABLE = ("quantity", "manuf_date", "cogs", "expir_date", "lot_number")


def _empty_state() -> dict[str, Any]:
    return {"apikeys": [], "warehouses": {}, "items": {}, "stock": {}, "requests": []}


def _q(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.001")))


class Refused(Exception):
    """An answer with success 0 and this info text."""


class VirtPOSEmulator:
    """VirtPOS data and behaviour; HTTP stays in `create_app`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.faults = FaultQueue()
        self._state = _empty_state()
        self._file = JsonFile(self.path)
        self._app: Starlette | None = None
        self._refresh()

    # persistence

    def _refresh(self) -> None:
        data = self._file.load_if_changed()
        if data is not None:
            self._state = {**_empty_state(), **data}

    def _save(self) -> None:
        self._file.save(self._state)

    # set-up and inspection

    def add_apikey(self, key: str) -> None:
        self._refresh()
        if key not in self._state["apikeys"]:
            self._state["apikeys"].append(key)
            self._save()

    def add_warehouse(self, warehouse_id: str | int, name: str, external_id: str | None = None) -> None:
        self._refresh()
        self._state["warehouses"][str(warehouse_id)] = {"name": name, "external_id": external_id, "version": 0}
        self._save()

    def put_stock(self, warehouse_id: str | int, item_id: str | int, quantity: str, *, name: str | None = None,
                  price: str | None = None, cogs: str = "0.00", reserved: str = "0",
                  external_id: str | None = None, **lot: str) -> None:
        """An item on hand before the reconciler's first call, as a shop already has it."""
        self._refresh()
        item = self._item(str(item_id))
        if external_id is not None:
            item["external_id"] = external_id
        if name is not None:
            item["name"] = name
        if price is not None:
            item["price"] = price
        record = self._record(self._warehouse(str(warehouse_id)), str(item_id))
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

    def _item(self, item_id: str) -> dict[str, Any]:
        if not item_id.isdigit():
            raise Refused(f"Товар не найден: {item_id}")
        return self._state["items"].setdefault(item_id, {"name": f"Товар {item_id}", "article": item_id, "price": None,
                                                         "external_id": None})

    def _resolve_item(self, params: dict[str, str]) -> str:
        """The internal id of `itemid`, or else of the item whose external id is `ext_itemid`."""
        if params.get("itemid") or not params.get("ext_itemid"):
            item_id = params.get("itemid") or ""
            if not item_id.isdigit():
                raise Refused(f"Товар не найден: {item_id}")
            return item_id
        external = params["ext_itemid"]
        for item_id, item in self._state["items"].items():
            if item.get("external_id") == external:
                return item_id
        new_id = str(max((int(i) for i in self._state["items"]), default=0) + 1)
        self._state["items"][new_id] = {"name": f"Товар {external}", "article": external, "price": None,
                                        "external_id": external}
        return new_id

    def _warehouse(self, warehouse_id: str) -> str:
        if not warehouse_id.isdigit():
            raise Refused(f"Склад не найден: {warehouse_id}")
        self._state["warehouses"].setdefault(warehouse_id, {"name": f"Склад {warehouse_id}", "external_id": None,
                                                            "version": 0})
        return warehouse_id

    def _resolve_warehouse(self, params: dict[str, str], create: bool = True) -> str:
        if params.get("warehouseid"):
            return self._warehouse(params["warehouseid"])
        external = params.get("ext_warehouseid")
        if not external:
            raise Refused("Не указан склад (warehouseid или ext_warehouseid)")
        for warehouse_id, warehouse in self._state["warehouses"].items():
            if warehouse.get("external_id") == external:
                return warehouse_id
        new_id = str(max((int(w) for w in self._state["warehouses"]), default=0) + 1)
        self._state["warehouses"][new_id] = {"name": f"Склад {external}", "external_id": external, "version": 0}
        return new_id

    def _record(self, warehouse_id: str, item_id: str) -> dict[str, Any]:
        records = self._state["stock"].setdefault(warehouse_id, {})
        if item_id not in records:
            records[item_id] = {"quantity": "0.000", "reserved": "0.000", "cogs": "0.00", "stamp": -1}
        return records[item_id]

    def handle(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """One call; the answer's fields (success and info included)."""
        self._refresh()
        if params.get("apikey") not in self._state["apikeys"]:
            return {"success": 0, "info": "Неверный ключ API (apikey)"}
        try:
            if path == STORE_PATH:
                answer = self._read(params)
            elif path == ITEM_PATH:
                answer = self._items(params)
            elif path == UPDATE_PATH:
                answer = self._update(params)
            elif path == VERSION_PATH:
                answer = self._version(params)
            else:
                answer = self._zero(params)
        except Refused as exc:
            return {"success": 0, "info": str(exc)}
        self._save()
        return {"success": 1, **answer}

    def _read(self, params: dict[str, str]) -> dict[str, Any]:
        fields = set(filter(None, params.get("fields", "").split(":")))
        stockonly = params.get("stockonly") == "1"
        wanted = [params["warehouseid"]] if params.get("warehouseid") else sorted(self._state["warehouses"], key=int)
        warehouses = []
        for warehouse_id in wanted:
            warehouse = self._state["warehouses"].get(warehouse_id)
            if warehouse is None:
                continue
            items = []
            for item_id, record in sorted(self._state["stock"].get(warehouse_id, {}).items(), key=lambda kv: int(kv[0])):
                if params.get("itemid") and params["itemid"] != item_id:
                    continue
                if stockonly and Decimal(record["quantity"]) <= 0:
                    continue
                item = self._state["items"][item_id]
                out: dict[str, Any] = {"id": int(item_id), "quantity": record["quantity"],
                                       "available_quantity": _q(Decimal(record["quantity"]) - Decimal(record["reserved"]))}
                for lot in ("lot_number", "manuf_date", "expir_date"):
                    if record.get(lot):
                        out[lot] = record[lot]
                if "itemname" in fields:
                    out["name"] = item["name"]
                if "article" in fields:
                    out["article"] = item["article"]
                if "cogs" in fields:
                    out["cogs"] = record["cogs"]
                if "price" in fields and item.get("price") is not None:
                    out["price"] = item["price"]
                items.append(out)
            warehouses.append({"id": int(warehouse_id), "name": warehouse["name"],
                               "external_id": warehouse.get("external_id") or "", "count": len(items), "items": items})
        return {"type": "store", "stockonly": int(stockonly), "count": len(warehouses), "warehouses": warehouses}

    def _update(self, params: dict[str, str]) -> dict[str, Any]:
        numbers = {}
        for name in ("quantity", "cogs"):  # checked before anything changes
            if name in params:
                try:
                    numbers[name] = Decimal(params[name])
                except InvalidOperation:
                    raise Refused(f"Неверное значение {name}: {params[name]}") from None
                if not numbers[name].is_finite():
                    raise Refused(f"Неверное значение {name}: {params[name]}")
        item_id = self._resolve_item(params)
        warehouse_id = self._resolve_warehouse(params)
        self._item(item_id)
        isnew = item_id not in self._state["stock"].get(warehouse_id, {})
        record = self._record(warehouse_id, item_id)
        before = record["quantity"]
        for name in EDITABLE:
            if name in numbers:
                record[name] = _q(numbers[name]) if name == "quantity" else str(numbers[name])
            elif name in params:
                record[name] = params[name]
        record["stamp"] = self._state["warehouses"][warehouse_id]["version"]
        return {"id": len(self._state["requests"]) + 1, "itemid": int(item_id), "warehouseid": int(warehouse_id),
                "isnew": int(isnew), "quantity_before": before}

    def _items(self, params: dict[str, str]) -> dict[str, Any]:
        items = []
        for item_id, item in sorted(self._state["items"].items(), key=lambda kv: int(kv[0])):
            if params.get("itemid") and params["itemid"] != item_id:
                continue
            out: dict[str, Any] = {"id": int(item_id), "name": item["name"], "article": item["article"],
                                   "external_id": item.get("external_id") or "", "barcodes": item.get("barcodes") or ""}
            if item.get("price") is not None:
                out["price"] = item["price"]
            items.append(out)
        return {"type": "item", "count": len(items), "items": items}

    def _version(self, params: dict[str, str]) -> dict[str, Any]:
        warehouse = self._state["warehouses"][self._resolve_warehouse(params)]
        warehouse["version"] += 1
        return {"version": warehouse["version"]}

    def _zero(self, params: dict[str, str]) -> dict[str, Any]:
        warehouse_id = self._resolve_warehouse(params)
        current = self._state["warehouses"][warehouse_id]["version"]
        try:
            version = int(params.get("version", ""))
        except ValueError:
            raise Refused("Не указана версия (version)") from None
        if version != current:
            raise Refused(f"Устаревшая версия остатков {version} (текущая {current})")
        zeroed = 0
        for record in self._state["stock"].get(warehouse_id, {}).values():
            if record["stamp"] < version and Decimal(record["quantity"]) != 0:
                record["quantity"] = "0.000"
                zeroed += 1
        return {"zeroed": zeroed}

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = create_app(self)
        return self._app


# --- HTTP ----------------------------------------------------------------------------


def to_xml(answer: dict[str, Any]) -> bytes:
    def element(tag: str, value: Any) -> str:
        if isinstance(value, list):
            inner = "".join(element(SINGULAR.get(tag, "value"), v) for v in value)
        elif isinstance(value, dict):
            inner = "".join(element(k, v) for k, v in value.items())
        else:
            inner = escape(str(value))
        return f"<{tag}>{inner}</{tag}>"

    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + element("root", answer)).encode("utf-8")


def create_app(emulator: VirtPOSEmulator) -> Starlette:
    def render(answer: dict[str, Any], fmt: str, status: int = 200) -> Response:
        if fmt == "json":
            return JSONResponse(answer, status_code=status)
        return Response(to_xml(answer), status_code=status, media_type="application/xml")

    async def api(request: Request) -> Any:
        body = await request.body()
        params = dict(parse_qsl(body.decode("utf-8"))) if body else {}
        params.update(request.query_params)  # get-only parameters win
        path = request.url.path
        fmt = params.get("format", "xml")
        visible = {k: v for k, v in params.items() if k != "apikey"}
        fault = emulator.faults.take(path, json.dumps(visible, ensure_ascii=False).encode("utf-8"))
        record: dict[str, Any] = {"path": path, "method": request.method, "params": visible,
                                  "success": None, "fault": fault and fault.kind}

        def run() -> dict[str, Any]:
            answer = emulator.handle(path, params)
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

    async def stock(request: Request) -> Response:
        return JSONResponse(emulator.stock(request.path_params["warehouse_id"]))

    async def put_stock(request: Request) -> Response:
        try:
            payload = await request.json()
            emulator.put_stock(payload.pop("warehouseid"), payload.pop("itemid"), payload.pop("quantity"), **payload)
        except (TypeError, ValueError, KeyError, InvalidOperation) as exc:
            return JSONResponse({"error": f"expected warehouseid, itemid, quantity and item fields: {exc}"}, 400)
        return JSONResponse({"ok": True}, status_code=201)

    async def sales(request: Request) -> Response:
        try:
            payload = await request.json()
            left = emulator.sell(payload["warehouseid"], payload["itemid"], str(payload["quantity"]))
        except (TypeError, ValueError, KeyError, InvalidOperation) as exc:
            return JSONResponse({"error": f"expected warehouseid, itemid and quantity: {exc}"}, 400)
        return JSONResponse({"quantity": left}, status_code=201)

    async def request_log(request: Request) -> Response:
        return JSONResponse(emulator.requests)

    faults = faults_endpoint(emulator.faults)

    async def apikeys(request: Request) -> Response:
        try:
            emulator.add_apikey(str((await request.json())["apikey"]))
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"error": f"expected apikey: {exc}"}, 400)
        return JSONResponse({"ok": True}, status_code=201)

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    api_paths = (STORE_PATH, ITEM_PATH, UPDATE_PATH, VERSION_PATH, ZERO_PATH)
    return Starlette(routes=[
        *(Route(p, api, methods=["GET", "POST"]) for p in api_paths),
        Route("/_emulator/warehouses/{warehouse_id}/stock", stock, methods=["GET"]),
        Route("/_emulator/stock", put_stock, methods=["POST"]),
        Route("/_emulator/sales", sales, methods=["POST"]),
        Route("/_emulator/requests", request_log, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/apikeys", apikeys, methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ])
