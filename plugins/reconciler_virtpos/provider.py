"""The VirtPOS provider: the on-hand stock of a store's SINGLE products per warehouse.

VirtPOS can be read, so plans diff against the live stock (`GET /api/store`): a sale at
the till is drift, and an item on hand that the catalog lacks is seen (so the safety
thresholds count what is really there, from the first plan on). Two write paths. Light:
one `updateOnhand` per changed item, and `quantity=0` for an item on hand that left the
catalog. Full: `getOnhandVersion`, an `updateOnhand` for every desired item, then
`setZeroOnhand(version)`, which zeroes whatever the run did not touch. The version lives
in this provider's memory for the apply that fetched it; a later run never guesses one.
A full path on a first contact (no recorded apply, no live read) to a store that is not
declared owned leaves out the zeroing: it would clear items nobody has seen.

A store bound by `ext_warehouse_id` is read through its internal id, which
`GET /api/warehouse` gives (the store read takes no external id); writes send
`ext_warehouseid`, as the document allows. With `item_ids: external` in a store's binding
the catalog's product ids are the items' external ids: writes send `ext_itemid`, and live
reads are matched through the map internal id -> external id that `GET /api/item` gives.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from reconciler.sdk import (
    BackendSettings,
    Action,
    BackendError,
    CompileRequest,
    Cost,
    DesiredStore,
    Effect,
    Finding,
    Imported,
    ImportedProduct,
    InProcessTransport,
    Observed,
    Program,
    Provider,
    StockEntry,
    StorePlan,
    StoreView,
    encode_body,
)

from . import mapping
from .client import VirtPOSClient

log = logging.getLogger("reconciler.virtpos")

DEMO_APIKEY = "demo"  # `reconciler emulate virtpos`
IMPORT_FIELDS = "itemname:cogs:price"


class VirtPOSSettings(BackendSettings):
    backend_title = "VirtPOS backend"
    needed_unless_emulated = ("apikey",)
    apikey: str | None = None  # a secret reference: ${env:NAME} or ${file:PATH}
    format: Literal["json", "xml"] = "json"
    # emulator:// only: warehouses, items and stock VirtPOS holds before the first apply.
    emulator_seed: str | None = None

    @model_validator(mode="after")
    def _seed_only_for_emulators(self) -> "VirtPOSSettings":
        if self.emulator_seed is not None and not self.emulated:
            raise ValueError("emulator_seed is only for emulator:// backends")
        return self


class VirtPOSBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warehouse_id: int | None = None
    ext_warehouse_id: str | None = None
    # internal: product ids are VirtPOS item ids (`itemid`); external: they are the items'
    # ids in an external system (`ext_itemid`), matched to live items through /api/item.
    item_ids: Literal["internal", "external"] = "internal"

    @model_validator(mode="after")
    def _one_id(self) -> "VirtPOSBinding":
        if (self.warehouse_id is None) == (self.ext_warehouse_id is None):
            raise ValueError("give exactly one of warehouse_id and ext_warehouse_id")
        return self


class VirtPOSProvider(Provider):
    kind = "virtpos"
    Settings = VirtPOSSettings
    Binding = VirtPOSBinding
    settings: VirtPOSSettings
    write_only_fields = mapping.WRITE_ONLY

    def __init__(self, name, settings, context):
        super().__init__(name, settings, context)
        # Which fields the catalog sets per item of each warehouse, so a live read is
        # compared on those fields only (cogs the catalog leaves alone is not drift).
        self._shapes: dict[str, dict[str, set[str]]] = {}
        # (backend, store, key of action 0) -> the version getOnhandVersion gave in this run.
        self._versions: dict[tuple[str, str, str], int] = {}
        # Remote ids of the stores whose product ids are external item ids.
        self._external: set[str] = set()
        # remote id -> "stores/x.yaml:5:16: store shop-1", for messages about a binding.
        self._stores: dict[str, str] = {}
        # remote id -> catalog keys (external item ids) that GET /api/item does not know.
        self._unknown_items: dict[str, list[str]] = {}

    # -- validation and mapping ---------------------------------------------------------------
    def remote_id(self, binding: VirtPOSBinding) -> str:
        if binding.warehouse_id is not None:
            return str(binding.warehouse_id)
        return mapping.EXT_PREFIX + binding.ext_warehouse_id

    def validate_settings(self) -> Iterable[Finding]:
        return self.secret_findings("apikey")

    def validate_store(self, view: StoreView) -> Iterable[Finding]:
        external = view.binding.item_ids == "external"
        for item in mapping.virtpos_products(view):
            if external and item.id.startswith(mapping.INTERNAL_PREFIX):
                yield Finding(view.product_path(item.id), f"{item.id!r}: ids starting with "
                              f"{mapping.INTERNAL_PREFIX!r} are reserved for live items without an external id",
                              at_key=True)
            if not external and not item.id.isdigit():
                yield Finding(view.product_path(item.id), f"{item.id!r} is not a VirtPOS item id; "
                              "products published to VirtPOS are keyed by the item's numeric id "
                              "(or bind the store with item_ids: external)", at_key=True)
            if item.stock is None:
                continue
            where = view.store_path("stock", item.id) if isinstance(view.store.stock, dict) else view.store_path("stock")
            quantity = item.stock.quantity
            if mapping.quantity_text(quantity) is None:
                yield Finding(where, f"stock {quantity} of {item.id!r} has more than 3 decimals; "
                              "VirtPOS keeps quantities to the thousandth")
            elif quantity < 0:
                yield Finding(where, f"stock {quantity} of {item.id!r} is negative")
            for name in mapping.LOT_FIELDS:
                value = getattr(item.stock, name)
                if value == "":
                    yield Finding(where, f"{name} of {item.id!r} is empty; leave it out instead")
                elif value is not None and name in mapping.WRITE_ONLY and not mapping.DATE.fullmatch(value):
                    yield Finding(where, f"{name} {value!r} of {item.id!r} is not a date written YYYY-MM-DD")

    def desired(self, view: StoreView) -> DesiredStore:
        resources = {item.id: mapping.stock_resource(item) for item in mapping.virtpos_products(view)}
        remote_id = self.remote_id(view.binding)
        self._shapes[remote_id] = {key: set(value) for key, value in resources.items()}
        id_key = "warehouse_id" if view.binding.warehouse_id is not None else "ext_warehouse_id"
        self._stores[remote_id] = f"{view.catalog.locate(view.binding_path(id_key))}: store {view.store_id}"
        if view.binding.item_ids == "external":
            self._external.add(remote_id)
        else:
            self._external.discard(remote_id)
        return DesiredStore({}, resources)

    def available(self, resource: dict[str, Any]) -> bool:
        return Decimal(resource.get("quantity", "0")) > 0

    # -- reading --------------------------------------------------------------------------------
    def _where(self, remote_id: str) -> str:
        return self._stores.get(remote_id) or f"VirtPOS warehouse {remote_id.removeprefix(mapping.EXT_PREFIX)}"

    async def _internal_ids(self, remote_ids: list[str]) -> dict[str, str]:
        """The internal warehouse id of each remote id; external ones through one
        `GET /api/warehouse` (the store read takes no external id)."""
        ids = {r: r for r in remote_ids if not r.startswith(mapping.EXT_PREFIX)}
        wanted = sorted(set(remote_ids) - set(ids))
        if not wanted:
            return ids
        by_external: dict[str, list[str]] = {}
        listing = await self._client.call(mapping.WAREHOUSE_PATH, {})
        for internal, external in mapping.external_ids_of(listing, "warehouses").items():
            by_external.setdefault(external, []).append(internal)
        for remote_id in wanted:
            external = remote_id[len(mapping.EXT_PREFIX):]
            matches = by_external.get(external, [])
            if len(matches) != 1:
                found = f"{len(matches)} warehouses ({', '.join(matches)})" if matches else "no warehouse"
                raise BackendError(f"{self._where(remote_id)}: VirtPOS has {found} with external_id {external!r} "
                                   "(GET /api/warehouse); correct ext_warehouse_id in the store's binding, or bind "
                                   "the store with warehouse_id")
            ids[remote_id] = matches[0]
        return ids

    async def _warehouses(self, remote_ids: list[str], fields: str) -> dict[str, dict[str, Any]]:
        """The `GET /api/store` warehouse of each remote id, read by its internal id."""
        await self.open()
        internal = await self._internal_ids(remote_ids)
        found: dict[str, dict[str, Any]] = {}
        for remote_id in dict.fromkeys(remote_ids):
            params = {"warehouseid": internal[remote_id], **({"fields": fields} if fields else {})}
            try:
                answer = await self._client.call(mapping.STORE_PATH, params)
            except BackendError as exc:
                raise BackendError(f"{self._where(remote_id)}: {exc}") from None
            warehouses = [w for w in answer.get("warehouses") or [] if isinstance(w, dict)]
            found[remote_id] = warehouses[0] if warehouses else {}
        return found

    async def _external_ids(self) -> dict[str, str]:
        """internal item id -> external id, from `GET /api/item` (one read of every item)."""
        await self.open()
        return mapping.external_ids_of(await self._client.call(mapping.ITEM_PATH, {}))

    async def observe(self, remote_ids: list[str]) -> dict[str, Observed]:
        # Only the extra fields the catalog uses are asked for.
        uses_cogs = any("cogs" in shape for r in remote_ids for shape in self._shapes.get(r, {}).values())
        warehouses = await self._warehouses(remote_ids, "cogs" if uses_cogs else "")
        external_ids = await self._external_ids() if any(r in self._external for r in remote_ids) else {}
        observed = {}
        for remote_id in remote_ids:
            shapes = self._shapes.get(remote_id, {})
            ids = external_ids if remote_id in self._external else None
            resources: dict[str, dict[str, Any]] = {}
            for item in warehouses[remote_id].get("items") or []:
                key, live = mapping.live_key(str(item["id"]), ids), mapping.live_resource(item)
                if key in shapes or live["quantity"] != "0.000":
                    resources[key] = mapping.project_onto(live, shapes.get(key))
            for key, shape in shapes.items():
                # No stock record is an on-hand of zero.
                resources.setdefault(key, mapping.project_onto({"quantity": "0.000"}, shape))
            if ids is not None:
                known = set(ids.values())
                self._unknown_items[remote_id] = sorted(k for k in shapes if k not in known)
            observed[remote_id] = Observed({}, resources, "live")
        return observed

    async def import_store(self, binding: VirtPOSBinding) -> Imported:
        remote_id = self.remote_id(binding)
        warehouse = (await self._warehouses([remote_id], IMPORT_FIELDS))[remote_id]
        ids = await self._external_ids() if binding.item_ids == "external" else None
        products, stock = {}, {}
        for item in warehouse.get("items") or []:
            key, live = mapping.live_key(str(item["id"]), ids), mapping.live_resource(item)
            if live["quantity"] == "0.000":
                continue
            if key.startswith(mapping.INTERNAL_PREFIX):
                # A catalog in external-id mode cannot name it; a plan will show it as absent.
                log.warning("item %s is on hand in warehouse %s but has no external id: not imported",
                            item["id"], remote_id)
                continue
            cost = Decimal(live["cogs"]) if "cogs" in live and Decimal(live["cogs"]) != 0 else None
            price = Decimal(str(item["price"])) if item.get("price") not in (None, "") else None
            products[key] = ImportedProduct(name=str(item.get("name") or f"item {key}"), price=price, cost=cost)
            stock[key] = StockEntry(quantity=Decimal(live["quantity"]),
                                    **{k: live[k] for k in mapping.LOT_FIELDS if k in live})
        return Imported(products, stock)

    # -- planning -------------------------------------------------------------------------------
    def _update(self, request: CompileRequest, index: int, key: str, resource: dict[str, Any],
                effect: Effect) -> Action:
        body = mapping.update_params(request.remote_id, key, resource, request.remote_id in self._external)
        fields = ", ".join(f"{k} {v}" for k, v in resource.items())
        if "ext_itemid" in body:
            key = f"ext {key}"
        return Action(index=index, kind="updateOnhand", summary=f"item {key}: {fields}", method="POST",
                      path=mapping.UPDATE_PATH, body=body, bytes=len(encode_body(body)),
                      idempotency_key=request.idempotency_key(index), effect=effect)

    def _full_actions(self, request: CompileRequest) -> list[Action]:
        desired = request.desired.resources
        where = mapping.warehouse_params(request.remote_id)
        actions = [Action(index=0, kind="getOnhandVersion", summary="start a new on-hand version",
                          method="POST", path=mapping.VERSION_PATH, body=where, bytes=len(encode_body(where)),
                          idempotency_key=request.idempotency_key(0), effect=Effect())]
        for key in sorted(desired, key=_item_order):
            actions.append(self._update(request, len(actions), key, desired[key], Effect(set=[key])))
        zero = {**where, "version": "<from action 0>"}
        actions.append(Action(index=len(actions), kind="setZeroOnhand",
                              summary="zero every item this run did not update", method="POST",
                              path=mapping.ZERO_PATH, body=zero, bytes=len(encode_body(zero)),
                              idempotency_key=request.idempotency_key(len(actions)),
                              effect=Effect(replace=True, set=sorted(desired), unseen="cleared")))
        return actions

    def compile(self, request: CompileRequest) -> Program:
        full_actions = self._full_actions(request)
        full_cost = Cost(requests=len(full_actions), bytes=sum(a.bytes for a in full_actions))
        warnings = self._warnings(request)
        if request.full and not request.owned:
            return self._upsert_program(request, full_cost, warnings)
        if request.full:
            return Program("full", request.full_reason, full_actions, full_cost, warnings)
        if not request.changes:
            return Program("none", "no changes", [], full_cost, warnings)
        actions = []
        for change in sorted(request.changes, key=lambda c: _item_order(c.key)):
            if change.op == "delete":
                actions.append(self._update(request, len(actions), change.key, {"quantity": "0.000"},
                                            Effect(remove=[change.key])))
            else:
                actions.append(self._update(request, len(actions), change.key,
                                            request.desired.resources[change.key], Effect(set=[change.key])))
        counts = Counter(c.op for c in request.changes)
        parts = [f"{counts[op]} {word}" for op, word in (("create", "new"), ("update", "changed"),
                                                            ("delete", "absent from the catalog (set to 0)"))
                 if counts[op]]
        reason = f"{len(actions)} item{'s' * (len(actions) != 1)} ({', '.join(parts)}), one updateOnhand each"
        return Program("light", reason, actions, full_cost, warnings)

    def _upsert_program(self, request: CompileRequest, full_cost: Cost, warnings: list[str]) -> Program:
        """The full path of a store that is not owned: every desired item set with
        updateOnhand, and only items the reconciler applied before set to 0. setZeroOnhand
        would zero whatever VirtPOS holds beyond the catalog, which is not the
        reconciler's to clear."""
        desired = request.desired.resources
        actions = [self._update(request, index, key, desired[key], Effect(set=[key]))
                   for index, key in enumerate(sorted(desired, key=_item_order))]
        for change in sorted((c for c in request.changes if c.op == "delete"), key=lambda c: _item_order(c.key)):
            actions.append(self._update(request, len(actions), change.key, {"quantity": "0.000"},
                                        Effect(remove=[change.key])))
        reason = (f"{request.full_reason}; every catalog item is set with updateOnhand and only items the reconciler "
                  "applied before are zeroed (the store is not declared owned, so what VirtPOS holds beyond the "
                  "catalog is kept)")
        return Program("full" if actions else "none", reason if actions else "no changes", actions, full_cost, warnings)

    def _warnings(self, request: CompileRequest) -> list[str]:
        warnings = []
        unknown = [k for k in self._unknown_items.get(request.remote_id, []) if k in request.desired.resources]
        if unknown:
            warnings.append(f"VirtPOS has no item with external id {', '.join(map(repr, unknown))} "
                            "(GET /api/item): updateOnhand will refuse it; create the item in VirtPOS first")
        for change in request.changes:
            dropped = [f for f in mapping.WRITE_ONLY if change.op == "update" and f in change.old and f not in change.new]
            if dropped:
                held = ", ".join(f"{f} {change.old[f]}" for f in dropped)
                warnings.append(f"item {change.key}: the catalog no longer sets {' and '.join(dropped)}; VirtPOS "
                                f"keeps {held} (updateOnhand cannot clear it) and it is no longer compared")
        return warnings

    # -- applying -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        settings = self.settings
        transport = self.context.transport
        if settings.emulated:
            apikey, emulated_transport = self._emulator()
            transport = transport or emulated_transport
            base_url = "http://virtpos.emulator"
        else:
            apikey = self.context.secret(settings.apikey, f"backend {self.name} apikey")
            base_url = settings.url
        self._client = VirtPOSClient(base_url, apikey, settings.format, settings.retry, transport)

    def _emulator(self) -> tuple[str, InProcessTransport]:
        """An in-process emulator with a generated apikey kept beside its data."""
        from .emulator import VirtPOSEmulator

        data_dir = self.context.emulator_dir(self.name)
        keyfile = data_dir / "apikey"
        if not keyfile.exists():
            keyfile.write_text(secrets.token_urlsafe(24))
            keyfile.chmod(0o600)
        apikey = keyfile.read_text().strip()
        seed = self.context.project_dir / self.settings.emulator_seed if self.settings.emulator_seed else None
        emulator = VirtPOSEmulator(path=data_dir / "data.json", seed=seed)
        emulator.add_apikey(apikey)  # again, in case the data was reset
        return apikey, InProcessTransport(emulator.app)

    async def execute(self, store: StorePlan, action: Action) -> dict[str, Any]:
        await self.open()
        run = (store.backend, store.store, store.actions[0].idempotency_key)
        full = store.actions[0].kind == "getOnhandVersion"
        if full and action.index > 0 and run not in self._versions:
            raise BackendError("this full sync's on-hand version was fetched by an earlier run and is not known "
                               "now; nothing is zeroed with a guessed version. Make a new plan")
        params = dict(action.body)
        if action.kind == "setZeroOnhand":
            params["version"] = str(self._versions[run])
        try:
            answer = await self._client.call(action.path, params, method="POST")
        except BackendError as exc:
            if exc.code != "success=0":
                raise
            raise BackendError(f"{exc}; VirtPOS changed nothing for this request: correct what it names (in the "
                               "catalog, or the shop or item in VirtPOS) and make a new plan") from None
        if action.kind == "getOnhandVersion":
            try:
                self._versions[run] = int(answer["version"])
            except (KeyError, TypeError, ValueError):
                raise BackendError("getOnhandVersion answered without a version") from None
            return {}
        if action.kind == "setZeroOnhand":
            self._versions.pop(run, None)
            return {}
        return {"new_items": 1} if str(answer.get("isnew")) == "1" else {"updated_items": 1}

    @classmethod
    def emulator_app(cls, data_dir: Path | None) -> Any:
        from .emulator import DOCUMENT_SAMPLE, VirtPOSEmulator

        emulator = VirtPOSEmulator(path=data_dir / "data.json" if data_dir else None, seed=DOCUMENT_SAMPLE)
        emulator.add_apikey(DEMO_APIKEY)  # served on loopback for trying things out; see the docs
        return emulator.app


def _item_order(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (0, key)
