"""Expansion: a menu shared by many stores, plus each store's overrides, becomes one
concrete view per (backend, store) that a provider maps to its own resources."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

from .model import Menu, Product, StockEntry, Store
from .project import Catalog


@dataclass(frozen=True, slots=True)
class StoreProduct:
    """One product as it is in one store: the menu's definition plus the store's values."""

    id: str
    product: Product
    price: Decimal | None
    status: str
    stock: StockEntry | None


@dataclass(frozen=True)
class StoreView:
    """Everything a provider needs to map one store for one backend."""

    backend: str
    store_id: str
    store: Store
    menu_id: str
    menu: Menu
    binding: Any  # the provider's Binding model instance
    products: dict[str, StoreProduct]
    catalog: Catalog

    @property
    def currency(self) -> str:
        return self.menu.currency

    def product_path(self, product_id: str, *rest: Any) -> tuple[Any, ...]:
        """Catalog path of a product field, for a Finding."""
        return ("menus", self.menu_id, "products", product_id, *rest)

    def store_path(self, *rest: Any) -> tuple[Any, ...]:
        return ("stores", self.store_id, *rest)

    def binding_path(self, *rest: Any) -> tuple[Any, ...]:
        return ("stores", self.store_id, "backends", self.backend, *rest)

    def price_path(self, product_id: str) -> tuple[Any, ...]:
        """Where the effective price of a product was written (store override or menu)."""
        if product_id in self.store.prices:
            return self.store_path("prices", product_id)
        return self.product_path(product_id, "price")


def expand_store(
    catalog: Catalog, store_id: str, backend: str, binding: Any, stock: dict[str, StockEntry]
) -> StoreView:
    store = catalog.stores[store_id]
    menu = catalog.menus[store.menu]
    products: dict[str, StoreProduct] = {}
    for product_id, product in menu.products.items():
        price = store.prices.get(product_id, product.price)
        status = store.status.get(product_id, product.status)
        products[product_id] = StoreProduct(product_id, product, price, status, stock.get(product_id))
    return StoreView(backend, store_id, store, store.menu, menu, binding, products, catalog)


def iter_bindings(catalog: Catalog) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(store id, backend name, raw binding) for every store binding in the catalog."""
    for store_id, store in catalog.stores.items():
        for backend, binding in store.backends.items():
            yield store_id, backend, binding
