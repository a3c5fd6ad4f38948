"""Expansion: a menu shared by many stores, plus each store's overrides, becomes one
concrete view per (backend, store) that a provider maps to its own resources."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from .model import Menu, Product, StockLevel, Store
from .project import Catalog


@dataclass(frozen=True, slots=True)
class StoreProduct:
    """One product as it is in one store: the menu's definition plus the store's values."""

    id: str
    product: Product
    price: Decimal | None
    status: str
    stock: StockLevel | None


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
    # Products this store overrides (price, status or stock): every other product is the
    # menu's own StoreProduct object, the same in every store of the menu.
    overridden: frozenset[str] = frozenset()
    # The same, per field: a provider that maps no stock need not redo a product whose
    # only override is its stock (in a real chain, every product of every store).
    overrides: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # `owned: true` on the store's binding: the reconciler owns the whole store there.
    owned: bool = False

    @property
    def currency(self) -> str:
        return self.menu.currency

    def overridden_in(self, fields: Iterable[str] | None) -> frozenset[str]:
        """The products whose `fields` (price, status, stock; None: any) this store overrides."""
        if fields is None:
            return self.overridden
        return frozenset().union(*(self.overrides.get(name, frozenset()) for name in fields))

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


@dataclass(frozen=True, slots=True)
class StoreProducts:
    """A store's products with its overrides applied, shared by its views on every backend."""

    products: dict[str, StoreProduct]
    overridden: frozenset[str]
    overrides: Mapping[str, frozenset[str]]


def store_products(catalog: Catalog, store_id: str, stock: dict[str, StockLevel],
                   reads: Iterable[str] | None = None) -> StoreProducts:
    """The store's products: the menu's own `StoreProduct` objects, shared by every store
    that does not override a product, and new ones where the store sets a price, status
    or stock. Sharing is what lets providers map and hash a product once per chain
    rather than once per store (see `ResourceCache`). `reads`: the fields any backend of
    the store reads (`Provider.store_fields`; None: all); overrides of other fields
    leave the menu's product in place."""
    store = catalog.stores[store_id]
    menu = catalog.menus[store.menu]
    products = dict(menu_products(menu))
    # Validation reports overrides of products the menu does not have.
    overrides = {name: frozenset(pid for pid in values if pid in menu.products)
                 for name, values in (("price", store.prices), ("status", store.status), ("stock", stock))}
    overridden = frozenset().union(*(overrides[name] for name in (overrides if reads is None else reads)))
    for product_id in overridden:
        product = menu.products[product_id]
        products[product_id] = StoreProduct(
            product_id, product, store.prices.get(product_id, product.price),
            store.status.get(product_id, product.status), stock.get(product_id))
    return StoreProducts(products, overridden, overrides)


def expand_store(
    catalog: Catalog, store_id: str, backend: str, binding: Any, stock: dict[str, StockLevel],
    owned: bool = False, made: StoreProducts | None = None,
) -> StoreView:
    """The store's view for one backend; `made`: its `store_products`, when the caller
    has them already (a store on several backends builds them once)."""
    store = catalog.stores[store_id]
    if made is None:
        made = store_products(catalog, store_id, stock)
    return StoreView(backend, store_id, store, store.menu, catalog.menus[store.menu], binding, made.products,
                     catalog, overridden=made.overridden, overrides=made.overrides, owned=owned)


_MENU_PRODUCTS: dict[int, tuple[Menu, dict[str, StoreProduct]]] = {}


def menu_products(menu: Menu) -> dict[str, StoreProduct]:
    """Each product of a menu as it is in a store without overrides, built once per menu."""
    entry = _MENU_PRODUCTS.get(id(menu))
    if entry is None or entry[0] is not menu:
        entry = (menu, {pid: StoreProduct(pid, product, product.price, product.status, None)
                        for pid, product in menu.products.items()})
        _MENU_PRODUCTS[id(menu)] = entry
    return entry[1]


class ResourceCache:
    """What a provider builds from each product, built once per menu product.

    Stores without overrides share the menu's `StoreProduct` objects, so a 1,500-product
    menu in 500 stores is mapped 1,500 times plus once per override, not 750,000 times.
    `extra` names anything else the result depends on (a currency, a setting). Results
    are shared between stores and must not be changed in place.
    """

    def __init__(self, reads: Iterable[str] | None = None) -> None:
        """`reads`: the store fields (price, status, stock) that `make` reads of a product;
        a product the store overrides only in other fields keeps the menu's value."""
        self._menus: dict[tuple, tuple[Menu, dict[str, Any]]] = {}
        self.reads = None if reads is None else tuple(reads)

    def menu_values(self, view: StoreView, make: Callable[[StoreProduct], Any], *extra: Any) -> tuple[dict[str, Any], bool]:
        """make(item) for each of the menu's own products, and whether they were made just
        now (the first store of this menu to ask)."""
        key = (id(view.menu), *extra)
        entry = self._menus.get(key)
        if entry is not None and entry[0] is view.menu:
            return entry[1], False
        values = {pid: make(item) for pid, item in menu_products(view.menu).items()}
        self._menus[key] = (view.menu, values)
        return values, True

    def store_values(self, view: StoreView, make: Callable[[StoreProduct], Any], *extra: Any) -> dict[str, Any]:
        """make(item) for each product of this store: the menu's values, with the store's
        overridden products made for this store alone. Menu order is kept."""
        values = dict(self.menu_values(view, make, *extra)[0])
        for pid in view.overridden_in(self.reads):
            values[pid] = make(view.products[pid])
        return values
