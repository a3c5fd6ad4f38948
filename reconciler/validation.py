"""Validation: every rule across the catalog, then each provider's own rules.

All problems are collected and raised together, each with a location, before anything
is sent anywhere.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, Location, Problem, ValidationFailed
from .expand import StoreView, expand_store, store_products
from .model import Menu, StockEntry, StockLevel, Store
from .money import is_currency, precision_problem
from .project import Project, pydantic_problems
from .provider import Finding, Provider, ProviderContext
from .registry import provider_class
from .yamlio import read_text


@dataclass
class Validated:
    """A project that passed validation: its providers and one view per store binding."""

    project: Project
    providers: dict[str, Provider]
    views: list[StoreView]
    warnings: list[Problem] = field(default_factory=list)  # said, but nothing refused


def validate_project(project: Project, context: ProviderContext,
                     transports: dict[str, Any] | None = None) -> Validated:
    """Every problem at once, or the providers and store views ready to plan.

    `transports` maps backend names to httpx transports: the seam tests use to put an
    emulator behind a backend without a port.
    """
    problems: list[Problem] = []
    providers = _build_providers(project, context, transports or {}, problems)
    for provider in providers.values():
        problems.extend(_locate(project, finding) for finding in provider.validate_settings())
    catalog = project.catalog
    for menu_id, menu in catalog.menus.items():
        problems.extend(_menu_problems(project, menu_id, menu))
    views: list[StoreView] = []
    for store_id, store in catalog.stores.items():
        store_problems, stock = _store_problems(project, store_id, store, providers)
        problems.extend(store_problems)
        if store_problems:
            continue
        made = None
        reads = _store_fields(providers, store)
        for backend, raw_binding in store.backends.items():
            provider = providers.get(backend)
            if provider is None:
                continue
            owned, raw_binding = _owned(project, store_id, backend, raw_binding, problems)
            binding = _shape_binding(project, provider, store_id, backend, raw_binding, problems)
            if binding is None:
                continue
            made = made or store_products(catalog, store_id, stock, reads)
            view = expand_store(catalog, store_id, backend, binding, stock, owned, made)
            for finding in provider.validate_store(view):
                problems.append(_locate(project, finding))
            views.append(view)
    # A menu product a store overrides is checked again in that store; say each thing once.
    problems = list({str(p): p for p in problems}.values())
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValidationFailed(problems)
    return Validated(project, providers, views, [p for p in problems if p.severity != "error"])


def _locate(project: Project, finding: Finding) -> Problem:
    if finding.in_project_file:
        location = project.locate_config(finding.path, finding.at_key)
    else:
        location = project.catalog.locate(finding.path, finding.at_key)
    return Problem(location, finding.message, finding.severity)


def _build_providers(project: Project, context: ProviderContext, transports: dict[str, Any],
                     problems: list[Problem]) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, entry in project.config.backends.items():
        try:
            cls = provider_class(entry.provider)
        except Exception as exc:
            problems.append(Problem(project.locate_config(("backends", name, "provider")), str(exc)))
            continue
        raw = {k: v for k, v in entry.model_dump().items() if k not in ENGINE_BACKEND_KEYS}
        try:
            settings = cls.Settings.model_validate(raw)
        except ValidationError as exc:
            problems.extend(pydantic_problems(
                exc, raw, lambda path, at_key, n=name: project.locate_config(("backends", n, *path), at_key),
                ("backends", name),
            ))
            continue
        providers[name] = cls(name, settings, replace(context, transport=transports.get(name)))
        providers[name].owned_fields = tuple(entry.owned_fields)
        providers[name].owns_stores = entry.owned
    return providers


# Keys of a backend entry the engine reads; the provider's Settings never see them.
ENGINE_BACKEND_KEYS = ("provider", "owned_fields", "owned")


def _owned(project: Project, store_id: str, backend: str, raw: dict[str, Any],
           problems: list[Problem]) -> tuple[bool, dict[str, Any]]:
    """`owned:` on a store binding is the engine's, not the provider's: taken out here."""
    if "owned" not in raw:
        return False, raw
    owned = raw["owned"]
    if not isinstance(owned, bool):
        problems.append(Problem(project.catalog.locate(("stores", store_id, "backends", backend, "owned")),
                                f"owned must be true or false, not {owned!r}"))
        owned = False
    return owned, {k: v for k, v in raw.items() if k != "owned"}


def _shape_binding(project: Project, provider: Provider, store_id: str, backend: str,
                   raw: dict[str, Any], problems: list[Problem]) -> BaseModel | None:
    try:
        return provider.Binding.model_validate(raw)
    except ValidationError as exc:
        prefix = ("stores", store_id, "backends", backend)
        problems.extend(pydantic_problems(
            exc, raw, lambda path, at_key: project.catalog.locate(prefix + path, at_key), prefix
        ))
        return None


def _menu_problems(project: Project, menu_id: str, menu: Menu) -> list[Problem]:
    catalog = project.catalog
    out: list[Problem] = []

    def problem(path: tuple, message: str, at_key: bool = False) -> None:
        out.append(Problem(catalog.locate(("menus", menu_id, *path), at_key), message))

    currency_ok = is_currency(menu.currency)
    if not currency_ok:
        problem(("currency",), f"unknown currency {menu.currency!r}; use an ISO 4217 code such as SGD")
    products = menu.products
    for pid, product in products.items():
        where = ("products", pid)
        if product.type == "GROUP":
            if not product.sub_products:
                problem(where, f"GROUP {pid!r} has no sub_products; a group offers a choice of products", True)
            if product.price is not None:
                problem((*where, "price"), f"GROUP {pid!r} cannot have a price; price its sub-products instead")
        elif product.price is None:
            problem(where, f"{product.type} {pid!r} needs a price (0 for free)", True)
        for field_name in ("price", "cost"):
            amount = getattr(product, field_name)
            if amount is not None:
                message = _amount_problem(amount, menu.currency if currency_ok else None)
                if message:
                    problem((*where, field_name), f"{field_name} {message}")
        if product.quantity is not None:
            message = _quantity_problem(product.quantity.min, product.quantity.max)
            if message:
                problem((*where, "quantity"), message)
        for index, sub in enumerate(product.sub_products):
            if sub not in products:
                problem((*where, "sub_products", index), f"sub_products names {sub!r}, which is not a product of menu {menu_id!r}")
            elif sub == pid:
                problem((*where, "sub_products", index), f"{pid!r} lists itself as a sub-product")
        for group_id, overload in product.overloads.items():
            group = products.get(group_id)
            if group is None:
                problem((*where, "overloads", group_id), f"overload names {group_id!r}, which is not a product of menu {menu_id!r}", True)
            elif group.type != "GROUP":
                problem((*where, "overloads", group_id), f"overload names {group_id!r}, which is a {group.type}, not a GROUP", True)
            elif pid not in group.sub_products:
                problem((*where, "overloads", group_id),
                        f"overload names group {group_id!r}, which does not list {pid!r} in its sub_products", True)
            if overload.price is not None:
                message = _amount_problem(overload.price, menu.currency if currency_ok else None)
                if message:
                    problem((*where, "overloads", group_id, "price"), f"overload price {message}")
            if overload.quantity is not None:
                message = _quantity_problem(overload.quantity.min, overload.quantity.max)
                if message:
                    problem((*where, "overloads", group_id, "quantity"), message)
        if product.unit is not None:
            if isinstance(product.unit, str):
                units = [((*where, "unit"), product.unit)]
            else:
                units = [((*where, "unit", "purchase"), product.unit.purchase),
                         ((*where, "unit", "consumption"), product.unit.consumption)]
            for path, unit in units:
                if unit not in catalog.units:
                    problem(path, f"unit {unit!r} is not defined in units")
        if product.supplier is not None and product.supplier not in catalog.suppliers:
            problem((*where, "supplier"), f"supplier {product.supplier!r} is not defined in suppliers")
    for cycle in _cycles(products):
        problem(("products", cycle[0], "sub_products"), "cycle in sub_products: " + " -> ".join(cycle + [cycle[0]]))
    return out


def _cycles(products: dict) -> list[list[str]]:
    """Each cycle of the sub-product graph once, found by depth-first search."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(products, white)
    found: list[list[str]] = []
    for start in products:
        if colour[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        colour[start] = grey
        while stack:
            node, index = stack[-1]
            subs = [s for s in products[node].sub_products if s in products and s != node]
            if index < len(subs):
                stack[-1] = (node, index + 1)
                nxt = subs[index]
                if colour[nxt] == grey:
                    found.append(trail[trail.index(nxt):])
                elif colour[nxt] == white:
                    colour[nxt] = grey
                    stack.append((nxt, 0))
                    trail.append(nxt)
            else:
                colour[node] = black
                stack.pop()
                trail.pop()
    return found


def _amount_problem(amount: Decimal, currency: str | None) -> str | None:
    if amount < 0:
        return f"{amount} is negative; prices are 0 or more"
    if currency is not None:
        return precision_problem(amount, currency)
    return None


def _quantity_problem(low: int, high: int) -> str | None:
    if low < 0 or high < 0:
        return f"quantity min and max must not be negative (min {low}, max {high})"
    if low > high:
        return f"quantity min {low} is greater than max {high}"
    return None


def _store_problems(project: Project, store_id: str, store: Store,
                    providers: dict[str, Provider]) -> tuple[list[Problem], dict[str, StockLevel]]:
    catalog = project.catalog
    out: list[Problem] = []

    def problem(path: tuple, message: str, at_key: bool = False) -> None:
        out.append(Problem(catalog.locate(("stores", store_id, *path), at_key), message))

    for backend in store.backends:
        if backend not in project.config.backends:
            known = ", ".join(sorted(project.config.backends)) or "none"
            problem(("backends", backend), f"backend {backend!r} is not defined in reconciler.yaml (defined: {known})", True)
    menu = catalog.menus.get(store.menu)
    if menu is None:
        problem(("menu",), f"menu {store.menu!r} is not defined in menus")
        return out, {}
    products = menu.products
    for section in ("prices", "status"):
        for pid in getattr(store, section):
            if pid not in products:
                problem((section, pid), f"{section} names {pid!r}, which is not a product of menu {store.menu!r}", True)
    for pid, price in store.prices.items():
        product = products.get(pid)
        if product is not None and product.type == "GROUP":
            problem(("prices", pid), f"{pid!r} is a GROUP and cannot have a price")
        message = _amount_problem(price, menu.currency if is_currency(menu.currency) else None)
        if message:
            problem(("prices", pid), f"price {message}")
    stock, lines, stock_problems = _load_stock(project, store_id, store)
    out.extend(stock_problems)
    for pid in [pid for pid in stock if pid not in products]:
        # Located only when a problem needs it: finding a line costs a walk of the file.
        where = lines[pid] if lines is not None else catalog.locate(("stores", store_id, "stock", pid), True)
        out.append(Problem(where, f"stock names {pid!r}, which is not a product of menu {store.menu!r}"))
    return out, stock


def _store_fields(providers: dict[str, Provider], store: Store) -> set[str] | None:
    """The store fields any backend of the store reads; None: all."""
    reads: set[str] = set()
    for backend in store.backends:
        provider = providers.get(backend)
        if provider is not None:
            if provider.store_fields is None:
                return None
            reads.update(provider.store_fields)
    return reads


def _load_stock(project: Project, store_id: str, store: Store
                ) -> tuple[dict[str, StockLevel], dict[str, Location] | None, list[Problem]]:
    """The store's stock; the CSV line of each entry when it comes from a CSV file (None:
    written in the store's YAML, located on demand); problems."""
    catalog = project.catalog
    if isinstance(store.stock, dict):
        # The Store model has validated every entry already.
        of = StockLevel.of
        return {pid: of(value) for pid, value in store.stock.items()}, None, []
    # A CSV file of `product,quantity[,lot_number,manuf_date,expir_date]`, relative to the project.
    display = store.stock
    path = project.root / display
    out: dict[str, StockLevel] = {}
    lines: dict[str, Location] = {}
    problems: list[Problem] = []
    try:
        text = read_text(path, display)
    except ConfigError as exc:
        if exc.location is not None and exc.location.line:  # not UTF-8: located in the CSV
            return {}, lines, [exc.problem]
        return {}, lines, [Problem(catalog.locate(("stores", store_id, "stock")), f"stock file {display!r}: {exc.message}")]
    except ValueError as exc:  # a NUL in the file name
        return {}, lines, [Problem(catalog.locate(("stores", store_id, "stock")), f"stock file {display[:80]!r}: {exc}")]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if not reader.fieldnames or {"product", "quantity"} - set(reader.fieldnames):
            return {}, lines, [Problem(Location(display, 1, 1), "a stock CSV needs the columns product and quantity")]
        for row in reader:
            where = Location(display, reader.line_num, 1)
            try:
                quantity = Decimal(row["quantity"])
            except (InvalidOperation, TypeError):
                problems.append(Problem(where, f"quantity {row['quantity']!r} is not a number"))
                continue
            try:
                entry = StockEntry(quantity=quantity, **{
                    k: row[k] or None for k in ("lot_number", "manuf_date", "expir_date") if k in row})
            except ValidationError as exc:  # NaN, or a number of hundreds of digits
                problems.append(Problem(where, f"quantity {row['quantity'][:40]!r}: "
                                        + exc.errors()[0]["msg"].removeprefix("Value error, ")))
                continue
            if row["product"] in out:
                problems.append(Problem(where, f"product {row['product']!r} appears twice"))
                continue
            out[row["product"]], lines[row["product"]] = StockLevel.of(entry), where
    except csv.Error as exc:
        problems.append(Problem(Location(display, reader.line_num or 1, 1), f"CSV: {exc}"))
    return out, lines, problems
