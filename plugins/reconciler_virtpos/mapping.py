"""Pure translation between the catalog and VirtPOS stock records.

A resource is one item's stock record in one warehouse, keyed by the catalog product id
(the VirtPOS item id, or with `item_ids: external` the item's external id; a live item
that has no external id is keyed `itemid:<id>`): `{"quantity": "12.000"}` plus `cogs`, `lot_number`,
`manuf_date` and `expir_date` when the catalog gives them. Quantities are 3-decimal
strings, as VirtPOS writes them, so equal amounts compare equal as text.

`GET /api/store` returns `quantity`, `lot_number` and (with `fields=cogs`) `cogs` of a
record, but not the dates `updateOnhand` writes (`manuf_date`, `expir_date`): those are
write-only, compared with the last applied state (`Provider.write_only_fields`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable

from reconciler.sdk import StoreProduct, StoreView

STORE_PATH = "/api/store"
ITEM_PATH = "/api/item"
WAREHOUSE_PATH = "/api/warehouse"
UPDATE_PATH = "/api/store/updateOnhand"
VERSION_PATH = "/api/store/getOnhandVersion"
ZERO_PATH = "/api/store/setZeroOnhand"
LOT_FIELDS = ("lot_number", "manuf_date", "expir_date")
# What updateOnhand writes but GET /api/store never returns.
WRITE_ONLY = ("manuf_date", "expir_date")
# How a lot date is written (the document gives no format: ISO, the stricter reading).
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Parameters the document marks "get only" on any of the four endpoints (no name is get
# only on one and not on another); everything else may travel as a form body.
GET_ONLY = frozenset({"format", "warehouseid", "ext_warehouseid", "itemid", "ext_itemid", "version",
                      "stockonly", "article", "itemname"})
THOUSANDTH = Decimal("0.001")
EXT_PREFIX = "ext:"
INTERNAL_PREFIX = "itemid:"  # in external-id mode, a live item with no external id


def virtpos_products(view: StoreView) -> Iterable[StoreProduct]:
    return (item for item in view.products.values() if item.product.type == "SINGLE")


def quantity_text(value: Decimal) -> str | None:
    """`2.000`; None when the value needs more than three decimals (never rounded)."""
    exact = value.quantize(THOUSANDTH)
    return str(exact) if exact == value else None


def money_text(value: Decimal) -> str:
    """`780.00`; a value with more decimals as it is (never rounded)."""
    cents = value.quantize(Decimal("0.01"))
    return str(cents) if cents == value else str(value)


def same_number(text: str | None) -> str | None:
    """A backend's number as the canonical text of its kind (quantities: 3 places)."""
    return None if text is None else str(Decimal(text).quantize(THOUSANDTH))


def stock_resource(item: StoreProduct) -> dict[str, Any]:
    resource: dict[str, Any] = {"quantity": quantity_text(item.stock.quantity) if item.stock else "0.000"}
    if item.product.cost is not None:
        resource["cogs"] = money_text(item.product.cost)
    if item.stock is not None:
        for name in LOT_FIELDS:
            value = getattr(item.stock, name)
            if value is not None:
                resource[name] = value
    return resource


def warehouse_params(remote_id: str) -> dict[str, str]:
    if remote_id.startswith(EXT_PREFIX):
        return {"ext_warehouseid": remote_id[len(EXT_PREFIX):]}
    return {"warehouseid": remote_id}


def item_params(key: str, external: bool) -> dict[str, str]:
    """How updateOnhand addresses the item of a resource key: `itemid`, or `ext_itemid`
    for a key that is an external id (external-id mode, or any non-numeric key)."""
    if key.startswith(INTERNAL_PREFIX):
        return {"itemid": key[len(INTERNAL_PREFIX):]}
    if external or not key.isdigit():
        return {"ext_itemid": key}
    return {"itemid": key}


def live_key(internal_id: str, external_ids: dict[str, str] | None) -> str:
    """The resource key of a live item: its internal id, or in external-id mode its
    external id (`itemid:<id>` when VirtPOS has none for it)."""
    if external_ids is None:
        return internal_id
    return external_ids.get(internal_id) or INTERNAL_PREFIX + internal_id


def external_ids_of(answer: dict[str, Any], listing: str = "items") -> dict[str, str]:
    """internal id -> external id, from a `GET /api/item` (`items`) or `GET /api/warehouse`
    (`warehouses`) answer; entries without an external id are left out."""
    found = {}
    for entry in answer.get(listing) or []:
        if isinstance(entry, dict) and str(entry.get("external_id") or "").strip() and entry.get("id") not in (None, ""):
            found[str(entry["id"])] = str(entry["external_id"]).strip()
    return found


def update_params(remote_id: str, item_id: str, resource: dict[str, Any], external: bool = False) -> dict[str, str]:
    return {**warehouse_params(remote_id), **item_params(item_id, external), **{k: str(v) for k, v in resource.items()}}


def live_resource(item: dict[str, Any]) -> dict[str, Any]:
    """An item of `GET /api/store` as a resource with every field the read can return:
    `quantity`, `lot_number` (empty when the record has none), `cogs` when asked for."""
    resource: dict[str, Any] = {"quantity": same_number(item.get("quantity")) or "0.000"}
    if item.get("cogs") not in (None, ""):
        resource["cogs"] = money_text(Decimal(item["cogs"]))
    if item.get("lot_number") not in (None, ""):
        resource["lot_number"] = str(item["lot_number"])
    return resource


def project_onto(live: dict[str, Any], shape: set[str] | None) -> dict[str, Any]:
    """Only the fields the catalog sets for this item, so an unused field is never drift."""
    if shape is None:
        return {"quantity": live["quantity"]}
    return {k: v for k, v in live.items() if k in shape}
