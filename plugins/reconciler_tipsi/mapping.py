"""Pure translation between the catalog and Tipsi `ext/sync` items.

Only SINGLE products are Tipsi items; GROUP and MODIFIER products belong to menu
structures Tipsi has no notion of, so they are left out without a word.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from reconciler.sdk import StoreProduct, StoreView

API = "/api/rest/v001"
LOGIN_PATH = f"{API}/login"
CATEGORIES = ("wine", "drink")
DEFAULT_CHUNK = 300
# Limits the documents leave open, read the strict way (Django's usual field sizes) and
# shared by validation and the emulator: docs/providers/tipsi-conformance.md, TP-G*.
MAX_TEXT = 255  # characters of external_id, a barcode, pos_item_name, unit_size
MAX_STOCK = 2**31 - 1  # in_stock is a database integer
PRICE_PLACES = 2  # decimal places of price and special_price


def sync_path(store_id: str) -> str:
    return f"{API}/store/{store_id}/ext/sync"


def sync_clear_path(store_id: str) -> str:
    return f"{API}/store/{store_id}/ext/sync_clear"


def tipsi_products(view: StoreView) -> Iterable[StoreProduct]:
    return (item for item in view.products.values() if item.product.type == "SINGLE")


def whole_stock(item: StoreProduct) -> int | None:
    """The stock as Tipsi's integer, or None when it is fractional or negative."""
    if item.stock is None:
        return 0  # no entry: nothing on hand, so the item shows as out of stock
    quantity = item.stock.quantity
    if quantity < 0 or quantity != quantity.to_integral_value():
        return None
    return int(quantity)


def price_text(value: Decimal) -> str:
    # A string keeps the decimal exact; DRF's DecimalField takes "12.50" as readily as 12.5.
    cents = value.quantize(Decimal("0.01"))
    return str(cents) if cents == value else str(value)


def item_resource(item: StoreProduct) -> dict[str, Any]:
    """One item exactly as `ext/sync` sends it (and as the state remembers it)."""
    product = item.product
    resource: dict[str, Any] = {
        "external_id": item.id,
        "barcodes": list(product.barcodes),
        "in_stock": whole_stock(item) or 0,
        "pos_item_name": product.name,
    }
    if item.price is not None:
        resource["price"] = price_text(item.price)
    if product.unit_size is not None:
        resource["unit_size"] = product.unit_size
    if product.category is not None:
        resource["category"] = product.category
    return resource


def zeroed(external_id: str) -> dict[str, Any]:
    """A removed item: Tipsi never deletes through sync, it only sets the stock to 0."""
    return {"external_id": external_id, "in_stock": 0}


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]
