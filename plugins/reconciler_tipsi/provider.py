"""The Tipsi provider: a store's SINGLE products as Tipsi items keyed by external_id.

Two write paths. The light path sends one `ext/sync` (an UPSERT) with the full item of
every created or changed product, and `{"external_id": X, "in_stock": 0}` for every
removed one (Tipsi is never asked to delete), chunked at `chunk_size`. The full path of a
store declared owned sends one `ext/sync_clear` with the whole desired set, never
chunked: Tipsi zeroes every item a sync_clear does not name, so a second chunk would zero
the first. The full path of any other store (its first contact above all) upserts every
item with `ext/sync` and clears nothing it does not name.

Tipsi keeps a field that a sync leaves out, and no documented value clears one: when
the catalog drops `price` or `unit_size`, the state records the value Tipsi still holds
(`Program.held`) and the plan says so in a note until the catalog sets a value again.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler.sdk import (
    Action,
    BackendSettings,
    CompileRequest,
    Cost,
    DesiredStore,
    Effect,
    Finding,
    InProcessTransport,
    Program,
    Provider,
    ResourceCache,
    StorePlan,
    StoreProduct,
    StoreView,
    encode_body,
    encoded_size,
    register_secret,
)

from . import mapping
from .client import TipsiClient

log = logging.getLogger("reconciler.tipsi")


@dataclass(frozen=True)
class _Upsert:
    key: str
    op: str  # create | update | delete


EMULATOR_USER = "reconciler-emulator"
DEMO_USER, DEMO_EMAIL, DEMO_PASSWORD = "demo", "demo@example.com", "demo"  # `reconciler emulate tipsi`


class TipsiSettings(BackendSettings):
    backend_title = "Tipsi backend"
    needed_unless_emulated = ("username", "password")
    login_field: Literal["username", "email"] = "username"  # older docs: username; newer: email
    username: str | None = None  # the login value, plain or a secret reference
    password: str | None = None  # a secret reference: ${env:NAME} or ${file:PATH}
    chunk_size: int = Field(mapping.DEFAULT_CHUNK, ge=1, le=10000)
    emulator_seed: str | None = None  # emulator:// only: items Tipsi holds before the first apply

    @model_validator(mode="after")
    def _seed_only_for_emulators(self) -> "TipsiSettings":
        if not self.emulated and self.emulator_seed is not None:
            raise ValueError("emulator_seed is only for emulator:// backends")
        return self


class TipsiBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    store_id: int | str = Field(description="the store's id in Tipsi, as in /store/{id}/ext/sync")


class TipsiProvider(Provider):
    kind = "tipsi"
    Settings = TipsiSettings
    Binding = TipsiBinding
    settings: TipsiSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resources = ResourceCache()  # product -> ext/sync item, shared by stores
        self._checked = ResourceCache()  # findings about the menu's products

    # -- validation and mapping ---------------------------------------------------------------
    def remote_id(self, binding: TipsiBinding) -> str:
        return str(binding.store_id)

    def validate_settings(self) -> Iterable[Finding]:
        return self.secret_findings("username", "password")

    def validate_store(self, view: StoreView) -> Iterable[Finding]:
        # What the emulator (and Tipsi) would refuse is refused here, at the catalog line.
        # Barcodes, names and categories belong to the menu: checked once per menu,
        # reported at the menu. Stock and store prices belong to the store: only its
        # overridden products can differ.
        duplicates: set[str] | None = None

        def menu_findings(item: StoreProduct) -> list[Finding]:
            nonlocal duplicates
            if duplicates is None:
                counts = Counter(b for each in mapping.tipsi_products(view) for b in set(each.product.barcodes))
                duplicates = {b for b, n in counts.items() if n > 1}
            return list(self._product_findings(view, item, duplicates))

        findings, first = self._checked.menu_values(view, menu_findings)
        if first:
            for found in findings.values():
                yield from found
        for pid in view.overridden:
            item = view.products[pid]
            if item.product.type != "SINGLE":
                continue
            if mapping.whole_stock(item) is None:
                yield Finding(self._stock_path(view, pid),
                              f"stock {item.stock.quantity} of {pid!r} is not a whole number from 0 to "
                              f"{mapping.MAX_STOCK}; Tipsi's in_stock is a count")
            if pid in view.store.prices:
                yield from self._price_findings(view.store_path("prices", pid), pid, item.price)

    def _product_findings(self, view: StoreView, item: StoreProduct, duplicates: set[str]) -> Iterable[Finding]:
        if item.product.type != "SINGLE":
            return
        pid, product = item.id, item.product
        if len(pid) > mapping.MAX_TEXT:
            yield Finding(view.product_path(pid), f"product id {pid[:20]!r}... is longer than {mapping.MAX_TEXT} "
                          "characters, the most Tipsi takes as an external_id", at_key=True)
        if not product.barcodes:
            where = view.product_path(pid, "barcodes") if "barcodes" in product.model_fields_set else view.product_path(pid)
            yield Finding(where, f"{pid!r} has no barcodes; Tipsi needs at least one to create an item",
                          at_key="barcodes" not in product.model_fields_set)
        for barcode in product.barcodes:
            if problem := self._text_problem(barcode):
                yield Finding(view.product_path(pid, "barcodes"), f"barcode {barcode[:20]!r} of {pid!r} {problem}")
        for barcode in sorted(b for b, n in Counter(product.barcodes).items() if n > 1):
            yield Finding(view.product_path(pid, "barcodes"), f"barcode {barcode!r} is listed twice for {pid!r}")
        for barcode in sorted(set(product.barcodes) & duplicates):
            yield Finding(view.product_path(pid, "barcodes"),
                          f"barcode {barcode!r} is used by more than one product of menu {view.menu_id!r}; "
                          "Tipsi takes each barcode once per store")
        if product.category is None:
            # The reconciler cannot read Tipsi, so any item it sends may be new there.
            yield Finding(view.product_path(pid), f"{pid!r} has no category; Tipsi needs one "
                          f"({' or '.join(mapping.CATEGORIES)}) to create an item, and any item sent may be new to it",
                          at_key=True)
        elif product.category not in mapping.CATEGORIES:
            yield Finding(view.product_path(pid, "category"),
                          f"category {product.category!r} is not one of Tipsi's: {', '.join(mapping.CATEGORIES)}")
        for field, value in (("name", product.name), ("unit_size", product.unit_size)):
            if value is not None and (problem := self._text_problem(value)):
                tipsi = "pos_item_name" if field == "name" else field
                yield Finding(view.product_path(pid, field), f"{field} of {pid!r} {problem} (Tipsi's {tipsi})")
        yield from self._price_findings(view.product_path(pid, "price"), pid, product.price)

    @staticmethod
    def _text_problem(value: str) -> str | None:
        if not value.strip():
            return "is blank; Tipsi takes no blank text"
        if len(value) > mapping.MAX_TEXT:
            return f"is longer than {mapping.MAX_TEXT} characters, the most Tipsi takes"
        return None

    @staticmethod
    def _price_findings(where: tuple, pid: str, price: Decimal | None) -> Iterable[Finding]:
        if price is not None and price.is_finite() and price != round(price, mapping.PRICE_PLACES):
            yield Finding(where, f"price {price} of {pid!r} has more than {mapping.PRICE_PLACES} decimal places; "
                          "Tipsi's price takes cents")

    @staticmethod
    def _stock_path(view: StoreView, pid: str) -> tuple:
        # A stock CSV cannot be located by catalog path; point at the store's stock key.
        if isinstance(view.store.stock, dict):
            return view.store_path("stock", pid)
        return view.store_path("stock")

    def desired(self, view: StoreView) -> DesiredStore:
        items = self._resources.store_values(
            view, lambda item: mapping.item_resource(item) if item.product.type == "SINGLE" else None)
        return DesiredStore({}, {pid: item for pid, item in items.items() if item is not None})

    def available(self, resource: dict[str, Any]) -> bool:
        return resource.get("in_stock", 0) > 0

    def label(self, resource: dict[str, Any]) -> str:
        return resource.get("pos_item_name") or ""

    def price(self, resource: dict[str, Any]) -> Decimal | None:
        return Decimal(resource["price"]) if resource.get("price") is not None else None

    # -- planning -------------------------------------------------------------------------------
    def compile(self, request: CompileRequest) -> Program:
        desired, observed = request.desired.resources, request.observed.resources
        # `[item,item,...]`, summed from each item's size (shared items are encoded once).
        full_bytes = 2 + sum(map(encoded_size, desired.values())) + max(len(desired) - 1, 0)
        full_cost = Cost(requests=1, bytes=full_bytes)
        held = {key: kept for key, item in desired.items()
                if (kept := mapping.held_item(item, observed.get(key))) is not None}
        warnings = self._kept_notes(request, held) + self._first_contact_notes(request)
        if request.full and request.owned:
            full_items = [desired[key] for key in sorted(desired)]
            action = Action(
                index=0, kind="ext/sync_clear",
                summary=f"sync_clear of {len(full_items)} item{'s' * (len(full_items) != 1)}: every other item "
                        "of the store goes out of stock, items without an external_id (Tipsi's older "
                        "barcode-keyed ones) included",
                method="PATCH", path=mapping.sync_clear_path(request.remote_id), body=full_items,
                bytes=full_bytes, idempotency_key=request.idempotency_key(0),
                effect=Effect(replace=True, set=sorted(desired), unseen="cleared"),
            )
            reason = (f"{request.full_reason}; one ext/sync_clear with the whole catalog, never chunked "
                      "(the store is declared owned)")
            return Program("full", reason, [action], full_cost, warnings, held)
        keys = {c.key: c.op for c in request.changes}
        # A change that only drops fields Tipsi cannot clear has nothing to send.
        stuck = [key for key, op in keys.items() if op == "update" and held.get(key) == observed.get(key)]
        if request.full:
            # Not owned: the store may hold items nobody told us about, and sync_clear would
            # zero them. Upsert every desired item; zero only removed items we applied.
            keys.update({key: keys.get(key, "update") for key in desired})
        else:
            for key in stuck:
                del keys[key]
        if not keys:
            reason = (f"nothing to send: Tipsi cannot clear what the catalog dropped from {len(stuck)} "
                      f"item{'s' * (len(stuck) != 1)} (see the note)" if stuck else "no changes")
            return Program("none", reason, [], full_cost, warnings, held)
        changes = [_Upsert(key, op) for key, op in sorted(keys.items())]
        actions = []
        for index, chunk in enumerate(mapping.chunks(changes, self.settings.chunk_size)):
            body = [mapping.zeroed(c.key) if c.op == "delete" else desired[c.key] for c in chunk]
            removed = [c.key for c in chunk if c.op == "delete"]
            changed = [c.key for c in chunk if c.op != "delete"]
            actions.append(Action(
                index=index, kind="ext/sync",
                summary=self._summary(changed, removed),
                method="PATCH", path=mapping.sync_path(request.remote_id), body=body,
                bytes=len(encode_body(body)),
                # Tipsi has no idempotency key; the key stays in the plan for the engine only.
                idempotency_key=request.idempotency_key(index),
                effect=Effect(set=changed, remove=removed),
            ))
        counts = Counter(c.op for c in changes)
        requests = f"{len(actions)} ext/sync request{'s' * (len(actions) != 1)}"
        if request.full:
            reason = (f"{request.full_reason}; every item is upserted with ext/sync in {requests} and nothing "
                      "the catalog does not name is cleared (the store is not declared owned)")
            if counts["delete"]:
                one = counts["delete"] == 1
                reason += (f"; {counts['delete']} item{'s' * (not one)} the reconciler applied before and the "
                           f"catalog dropped {'goes' if one else 'go'} to in_stock 0")
            return Program("full", reason, actions, full_cost, warnings, held)
        parts = [f"{counts[op]} {word}" for op, word in (("create", "new"), ("update", "changed"),
                                                            ("delete", "removed (set to 0)")) if counts[op]]
        reason = f"{', '.join(parts)} item{'s' * (len(changes) != 1)} in {requests}"
        return Program("light", reason, actions, full_cost, warnings, held)

    @staticmethod
    def _summary(changed: list[str], removed: list[str]) -> str:
        parts = []
        if changed:
            parts.append(f"upsert {len(changed)} item{'s' * (len(changed) != 1)}")
        if removed:
            parts.append(f"set {len(removed)} removed item{'s' * (len(removed) != 1)} to in_stock 0")
        return ", ".join(parts)

    @staticmethod
    def _kept_notes(request: CompileRequest, held: dict[str, dict[str, Any]]) -> list[str]:
        """One note per field Tipsi keeps although the catalog dropped it."""
        notes = []
        for field in mapping.UNCLEARABLE:
            kept = [f"{key} ({held[key][field]})" for key in sorted(held) if field not in request.desired.resources[key]
                    and field in held[key]]
            if not kept:
                continue
            shown = ", ".join(kept[:10]) + (f" and {len(kept) - 10} more" if len(kept) > 10 else "")
            notes.append(f"Tipsi keeps the {field} of {len(kept)} item{'s' * (len(kept) != 1)} the catalog no "
                         f"longer sets: {shown}. ext/sync cannot clear a field (omitted fields are not updated, and "
                         f"no documented value clears one); set a {field} in the catalog, or clear it in Tipsi. "
                         "The plan shows this drift until then.")
        return notes

    @staticmethod
    def _first_contact_notes(request: CompileRequest) -> list[str]:
        """What a first apply leaves as it is in items Tipsi may hold already."""
        if not request.first_contact:
            return []
        desired = request.desired.resources
        left_out = [f"{field} of {n} item{'s' * (n != 1)}" for field in mapping.UNCLEARABLE
                    if (n := sum(1 for item in desired.values() if field not in item))]
        if not left_out:
            return []
        return [f"the catalog leaves out {', '.join(left_out)}: where Tipsi already holds such an item it keeps "
                "its own value (Tipsi is not read, and ext/sync cannot clear a field)"]

    # -- applying -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        settings = self.settings
        transport = self.context.transport
        if settings.emulated:
            login, password, emulated_transport = self._emulator_credentials()
            transport = transport or emulated_transport
            base_url, login_field = "http://tipsi.emulator", "username"
        else:
            login = self.context.secret(settings.username, f"backend {self.name} username")
            password = self.context.secret(settings.password, f"backend {self.name} password")
            base_url, login_field = settings.url, settings.login_field
        self._client = TipsiClient(base_url, login_field, login, password, settings.retry, transport)

    def _emulator_credentials(self) -> tuple[str, str, InProcessTransport]:
        """A user for the in-process emulator: a real login, no credentials to manage.

        The password is generated once and kept beside the emulator's data under
        .reconciler/; it is registered as a secret the moment it is read.
        """
        from .emulator import TipsiEmulator

        data_dir = self.context.emulator_dir(self.name)
        seed = self.context.project_dir / self.settings.emulator_seed if self.settings.emulator_seed else None
        emulator = TipsiEmulator(path=data_dir / "data.json", seed=seed)
        credentials = data_dir / "credentials.json"
        if not credentials.exists():
            credentials.write_text(json.dumps({"username": EMULATOR_USER, "password": secrets.token_urlsafe(16)}))
            credentials.chmod(0o600)
        stored = json.loads(credentials.read_text())
        register_secret(stored["password"])
        emulator.add_user(stored["username"], stored["password"])  # again, in case the data was reset
        return stored["username"], stored["password"], InProcessTransport(emulator.app)

    async def execute(self, store: StorePlan, action: Action) -> dict[str, Any]:
        if self._client is None:
            await self.open()
        items = [str(item.get("external_id")) for item in action.body]  # to name items in Tipsi's errors
        answer = await self._client.patch(action.path, encode_body(action.body), items)
        return {key: answer[key] for key in ("created_items", "updated_items", "cleared_items")
                if isinstance(answer.get(key), int)}

    @classmethod
    def emulator_app(cls, data_dir: Path | None) -> Any:
        from .emulator import TipsiEmulator

        emulator = TipsiEmulator(path=data_dir / "data.json" if data_dir else None)
        # Served on loopback for trying things out: a known user, documented in the docs.
        emulator.add_user(DEMO_USER, DEMO_PASSWORD, email=DEMO_EMAIL)
        return emulator.app
