"""Pure translation between the catalog and miPOS inventory payloads.

A store's SINGLE products become miPOS items. Each item resource is the `system/sync`
item plus the names of the unit(s) and supplier it refers to, so renaming a unit or a
supplier changes the items that use it and takes the full path. Only the units and
suppliers that some item of the store refers to are sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from reconciler.sdk import StoreProduct, StoreView

from .rules import ADD, DATE_FORMAT, REMOVE

API = "/api/v1/inventory/pos"
TOKEN_PATH = "/api/oauth/token"
WEBHOOK_PATH = f"{API}/webhook/manage"
STOCK_WEBHOOK_TYPE = "3"
ITEM_FIELDS = ("name", "external_id", "purchase_unit_external_id", "consumption_unit_external_id",
               "supplier_external_id", "cost", "stock")


def sync_path(store_id: str) -> str:
    return f"{API}/store/{store_id}/system/sync"


def stock_path(store_id: str) -> str:
    return f"{API}/store/{store_id}/system/stock/update"


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as miPOS writes times (`2020-05-30 12:45:03`), on the wall clock of `zone`."""
    return moment.astimezone(zone).strftime(DATE_FORMAT)


def document_json(value: Any) -> str:
    """JSON laid out as the document prints its examples: one key or element per line,
    no indentation (exactly `json.dumps(indent=0)`), so a body built here can be compared
    with the document's bytes."""
    return json.dumps(value, indent=0, ensure_ascii=False)


def decimal_text(value: Decimal) -> str:
    # format "f" keeps the digits as written ("5.50" stays "5.50") and never uses exponents.
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def mipos_products(view: StoreView) -> Iterable[StoreProduct]:
    return (item for item in view.products.values() if item.product.type == "SINGLE")


def units_of(item: StoreProduct) -> tuple[str | None, str | None]:
    unit = item.product.unit
    if unit is None or isinstance(unit, str):
        return unit, unit
    return unit.purchase, unit.consumption


def item_resource(item: StoreProduct, view: StoreView) -> dict[str, Any]:
    """The item as `system/sync` sends it, plus the unit and supplier records it needs."""
    product = item.product
    purchase, consumption = units_of(item)
    units = {}
    for unit_id in (purchase, consumption):
        unit = view.catalog.units.get(unit_id) if unit_id else None
        if unit is not None:
            units[unit_id] = {"name": unit.name, "short_name": unit.short_name}
    supplier = view.catalog.suppliers.get(product.supplier) if product.supplier else None
    return {
        "name": product.name,
        "external_id": item.id,
        "purchase_unit_external_id": purchase,
        "consumption_unit_external_id": consumption,
        "supplier_external_id": product.supplier,
        "cost": decimal_text(product.cost) if product.cost is not None else None,
        "stock": decimal_text(item.stock.quantity) if item.stock is not None else None,
        "units": units,
        "supplier": {"name": supplier.name} if supplier is not None else None,
    }


def sync_body(resources: dict[str, dict[str, Any]], user_id_tps: str, inventory_system_id: str) -> dict[str, Any]:
    items, units, suppliers = [], {}, {}
    for key in sorted(resources):
        resource = resources[key]
        items.append({field: resource[field] for field in ITEM_FIELDS})
        units.update(resource.get("units") or {})
        if resource.get("supplier"):
            suppliers[resource["supplier_external_id"]] = resource["supplier"]
    return {
        "items": items,
        "user_id_tps": user_id_tps,
        "inventory_system_id": inventory_system_id,
        "units": [{**units[k], "external_id": k} for k in sorted(units)],
        "suppliers": [{**suppliers[k], "external_id": k} for k in sorted(suppliers)],
    }


def movement(external_id: str, old: str | None, new: str, user_id_tps: str, inventory_system_id: str,
             date: str) -> dict[str, Any]:
    """One stock movement from the last known level to the desired one."""
    change = Decimal(new) - Decimal(old or "0")
    return {
        "user_id_tps": user_id_tps,
        "inventory_system_id": inventory_system_id,
        "current_stock": new,
        "quantity": decimal_text(abs(change)),
        "date": date,
        "movement_type": ADD if change > 0 else REMOVE,
        "external_id": external_id,
    }


def stock_only(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """Whether two versions of an item differ in their stock and nothing else."""
    if old is None or new is None or old.get("stock") == new.get("stock"):
        return False
    return {k: v for k, v in old.items() if k != "stock"} == {k: v for k, v in new.items() if k != "stock"}
