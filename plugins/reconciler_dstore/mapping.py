"""Pure translation between the catalog and D-Store `syncProduct` payloads."""

from __future__ import annotations

from typing import Any

from reconciler.sdk import StoreProduct, StoreView, to_minor_units

SYNC_PATH = "/v2/pos/syncProduct"
STATUS_BATCH = 10  # products per status update, fixed by the API
FULL_SYNC_LIMIT = 1500  # products per full sync, fixed by the API
MAX_INT = 2147483647  # every integer D-Store takes: amounts in minor units, quantity bounds
# The document gives 255 for requestId and posAccountId; syncStore gives 64 for
# posAccountId. Product and store ids and names are not specified, so the provider takes
# the strictest limit the gateway family documents for an id (64) and 255 for names.
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 255
STATUS_TYPES = ("SINGLE", "MODIFIER")
STORE_FIELDS = ("price", "status")  # what a store can set of a product that D-Store holds (not stock)


def amount(value: Any, currency: str) -> dict[str, Any]:
    return {"currency": currency, "value": to_minor_units(value, currency)}


def product_resource(view: StoreView, item: StoreProduct) -> dict[str, Any]:
    """One product exactly as a full sync sends it (and as the state remembers it)."""
    product = item.product
    resource: dict[str, Any] = {
        "posProductId": item.id,
        "type": product.type,
        "status": item.status,
        "name": product.name,
    }
    if product.type != "GROUP" and item.price is not None:
        resource["price"] = amount(item.price, view.currency)
    if product.quantity is not None:
        resource["quantityRule"] = {"min": product.quantity.min, "max": product.quantity.max}
    if product.overloads:
        overloads = []
        for group_id, overload in product.overloads.items():
            entry: dict[str, Any] = {"posProductIds": [group_id]}
            if overload.price is not None:
                entry["price"] = amount(overload.price, view.currency)
            if overload.quantity is not None:
                entry["quantityRule"] = {"min": overload.quantity.min, "max": overload.quantity.max}
            overloads.append(entry)
        resource["overloads"] = overloads
    if product.sub_products:
        resource["subProducts"] = list(product.sub_products)
    return resource


def store_meta(view: StoreView) -> dict[str, Any]:
    return {"name": view.store.name}


def full_sync_body(request_id: str, account: str, remote_id: str, meta: dict[str, Any],
                   products: list[dict[str, Any]]) -> dict[str, Any]:
    store: dict[str, Any] = {"posStoreId": remote_id}
    if meta.get("name"):
        store["name"] = meta["name"]
    return {"requestId": request_id, "posAccountId": account, "store": store, "products": products}


def status_body(request_id: str, account: str, remote_id: str, statuses: list[tuple[str, str]]) -> dict[str, Any]:
    """A status-only update. Only `posProductId` and `status` per product, and only
    `posStoreId` for the store: any optional field turns it into a full sync that would
    replace the store's whole menu with these few products."""
    return {
        "requestId": request_id,
        "posAccountId": account,
        "store": {"posStoreId": remote_id},
        "products": [{"posProductId": pid, "status": status} for pid, status in statuses],
    }
