"""The Alipay+ D-Store provider: the whole product graph of a store via `syncProduct`.

Two write paths. The light path sends status-only updates (at most 10 products, only
`posProductId` and `status`) for SINGLE and MODIFIER products whose status is the only
drift. Everything else takes the full path: one `syncProduct` with every product of the
store, which replaces what D-Store holds.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Iterable

from cryptography.exceptions import UnsupportedAlgorithm
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    ReconcilerError,
    SecretError,
    ResourceCache,
    StoreProduct,
    StorePlan,
    StoreView,
    encode_body,
    encoded_size,
    from_minor_units,
)

from . import mapping, signing
from .client import DStoreClient

log = logging.getLogger("reconciler.dstore")

EMULATOR_CLIENT_ID = "reconciler-emulator-client"


class DStoreSettings(BackendSettings):
    backend_title = "D-Store backend"
    needed_unless_emulated = ("client_id", "private_key", "pos_account_id")
    client_id: str | None = None
    private_key: str | None = None  # a secret reference: ${env:NAME} or ${file:PATH}
    pos_account_id: str | None = None
    gateway_public_key: str | None = None  # optional: verify response signatures
    key_version: str = "1"
    path: str = mapping.SYNC_PATH

    @field_validator("pos_account_id")
    @classmethod
    def _account_length(cls, value: str | None) -> str | None:
        # syncProduct allows 255, but syncStore, which creates the account's stores, 64.
        if value is not None and len(value) > mapping.MAX_ID_LENGTH:
            raise ValueError(f"pos_account_id is longer than D-Store's {mapping.MAX_ID_LENGTH} characters")
        return value


class DStoreBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    store_id: Annotated[str, Field(min_length=1)] | int = Field(description="posStoreId in D-Store")


class DStoreProvider(Provider):
    kind = "dstore"
    Settings = DStoreSettings
    Binding = DStoreBinding
    settings: DStoreSettings
    store_fields = mapping.STORE_FIELDS  # D-Store holds no stock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A product whose only override is its stock is the menu's here.
        self._resources = ResourceCache(reads=self.store_fields)  # product -> syncProduct entry
        self._checked = ResourceCache(reads=self.store_fields)  # findings of D-Store's limits

    @property
    def account(self) -> str:
        return self.settings.pos_account_id or "emulator-account"

    # -- validation and mapping ---------------------------------------------------------------
    def remote_id(self, binding: DStoreBinding) -> str:
        return str(binding.store_id)

    def validate_store(self, view: StoreView) -> Iterable[Finding]:
        remote = self.remote_id(view.binding)
        if len(remote) > mapping.MAX_ID_LENGTH:
            yield Finding(view.binding_path("store_id"), f"D-Store posStoreId {remote!r} is longer than {mapping.MAX_ID_LENGTH} characters")
        if len(view.store.name) > mapping.MAX_NAME_LENGTH:
            yield Finding(view.store_path("name"), f"store name is longer than D-Store's {mapping.MAX_NAME_LENGTH} characters")
        if len(view.products) > mapping.FULL_SYNC_LIMIT:
            yield Finding(view.store_path("menu"),
                          f"store {view.store_id!r} has {len(view.products)} products on backend {view.backend!r}; "
                          f"D-Store takes at most {mapping.FULL_SYNC_LIMIT} per store; split the menu")
        # The menu's own products are checked once, by the first store of the menu, and
        # reported at the menu; each store checks only the products it overrides.
        def findings(item: StoreProduct) -> list[Finding]:
            return list(self._product_findings(view, item))

        menu_findings, first = self._checked.menu_values(view, findings, view.currency)
        if first:
            for found in menu_findings.values():
                yield from found
        for pid in view.overridden_in(self._checked.reads):
            yield from findings(view.products[pid])

    def _product_findings(self, view: StoreView, item: StoreProduct) -> Iterable[Finding]:
        """What D-Store rejects in one product that the catalog already shows (the
        emulator's PARAM_ILLEGAL rules, docs/providers/dstore-conformance.md)."""
        pid, product = item.id, item.product
        if len(pid) > mapping.MAX_ID_LENGTH:
            yield Finding(view.product_path(pid), f"product id {pid!r} is longer than D-Store's {mapping.MAX_ID_LENGTH} characters", at_key=True)
        if not product.name:
            yield Finding(view.product_path(pid, "name"), "name is empty; D-Store shows products by name")
        if len(product.name) > mapping.MAX_NAME_LENGTH:
            yield Finding(view.product_path(pid, "name"), f"name is longer than D-Store's {mapping.MAX_NAME_LENGTH} characters")
        # Where this store's price of the product was written: its own override, or the menu.
        price_path = view.price_path(pid) if view.products.get(pid) is item else view.product_path(pid, "price")
        if item.price is not None and product.type != "GROUP":
            yield from self._amount_findings(view, price_path, item.price)
        if product.quantity is not None:
            yield from self._quantity_findings(view.product_path(pid, "quantity"), product.quantity)
        yield from self._sub_product_findings(view, item)
        if product.overloads and product.type == "GROUP":
            yield Finding(view.product_path(pid, "overloads"), f"GROUP {pid!r} cannot have overloads; D-Store "
                          "takes overloads on the items a group offers")
        for group_id, overload in product.overloads.items():
            where = view.product_path(pid, "overloads", group_id)
            if overload.price is not None:
                yield from self._amount_findings(view, (*where, "price"), overload.price)
                if item.price is not None and product.type != "GROUP" and overload.price >= item.price > 0:
                    at = price_path if price_path[0] == "stores" else (*where, "price")
                    yield Finding(at, f"{pid!r} costs {overload.price} in group {group_id!r} and {item.price} on "
                                      "its own; D-Store takes an overload price only below the item's own price")
            if overload.quantity is not None:
                yield from self._quantity_findings((*where, "quantity"), overload.quantity)
                if overload.quantity == product.quantity:
                    yield Finding((*where, "quantity"), f"the quantity of {pid!r} in group {group_id!r} is the "
                                  "same as its own; D-Store takes an overload quantity only when it differs (omit it)")

    @staticmethod
    def _sub_product_findings(view: StoreView, item: StoreProduct) -> Iterable[Finding]:
        pid, product = item.id, item.product
        is_group = product.type == "GROUP"
        for index, sub in enumerate(product.sub_products):
            where = view.product_path(pid, "sub_products", index)
            if sub in product.sub_products[:index]:
                yield Finding(where, f"sub_products lists {sub!r} twice; D-Store takes each sub-product once")
                continue
            listed = view.products.get(sub)
            if listed is None or sub == pid:
                continue  # the engine's rules: not a product of the menu, or itself
            if is_group and listed.product.type == "GROUP":
                yield Finding(where, f"GROUP {pid!r} lists GROUP {sub!r}; in D-Store a group offers SINGLE or "
                                     "MODIFIER products")
            elif not is_group and listed.product.type != "GROUP":
                yield Finding(where, f"{product.type} {pid!r} lists {listed.product.type} {sub!r}; in D-Store a "
                                     "product offers choices through GROUPs (list a group that offers it)")

    @staticmethod
    def _quantity_findings(path: tuple, rule: Any) -> Iterable[Finding]:
        for bound in ("min", "max"):
            if getattr(rule, bound) > mapping.MAX_INT:  # negative bounds are the engine's rule
                yield Finding((*path, bound), f"quantity {bound} {getattr(rule, bound)} is over D-Store's "
                                              f"limit of {mapping.MAX_INT}")

    def _amount_findings(self, view: StoreView, path: tuple, value: Any) -> Iterable[Finding]:
        try:
            minor = mapping.amount(value, view.currency)["value"]
        except (ValueError, KeyError):
            return  # precision and currency problems are reported by the engine's rules
        if minor > mapping.MAX_INT:  # negative amounts are the engine's rule
            yield Finding(path, f"{value} {view.currency} is {minor} minor units; D-Store takes 0..{mapping.MAX_INT}")

    def desired(self, view: StoreView) -> DesiredStore:
        resources = self._resources.store_values(view, lambda item: mapping.product_resource(view, item), view.currency)
        return DesiredStore(mapping.store_meta(view), resources)

    def available(self, resource: dict[str, Any]) -> bool:
        return resource.get("status") == "AVAILABLE"

    def price(self, resource: dict[str, Any]) -> Decimal | None:
        amount = resource.get("price")
        return from_minor_units(amount["value"], amount["currency"]) if amount else None

    # -- planning -------------------------------------------------------------------------------
    def compile(self, request: CompileRequest) -> Program:
        desired = request.desired
        products = list(desired.resources.values())
        empty_body = mapping.full_sync_body(request.idempotency_key(0), self.account, request.remote_id, desired.meta, [])
        # The cost of a full sync is summed from each product's encoded size (shared
        # products are encoded once per chain) instead of encoding the whole body for
        # every store only to report what a resync would cost.
        full_bytes = (len(encode_body(empty_body)) + sum(map(encoded_size, products))
                      + max(len(products) - 1, 0))
        full_cost = Cost(requests=1, bytes=full_bytes)
        if not desired.resources:
            # The gateway rejects an empty product list; a store leaves D-Store by being
            # closed there (syncStore), which is not this provider's job.
            return Program("none", "nothing to send", [], full_cost, warnings=[
                "D-Store cannot hold a store without products; its products stay until the "
                "store is closed in D-Store"])
        reason = request.full_reason if request.full else self._why_full(request)
        if reason:
            full_body = {**empty_body, "products": products}
            action = Action(
                index=0, kind="syncProduct.full",
                summary=f"full sync of {len(desired.resources)} product{'s' * (len(desired.resources) != 1)}"
                        " (replaces what D-Store holds)",
                method="POST", path=self.settings.path, body=full_body, bytes=full_bytes,
                idempotency_key=request.idempotency_key(0),
                effect=Effect(replace=True, set=sorted(desired.resources), meta=True, unseen="cleared"),
            )
            warnings = []
            if request.first_contact and not request.owned:
                warnings.append(
                    "D-Store cannot be read, so no plan can list what this store holds there now; a full sync "
                    "replaces all of it with the catalog's products. Put every product the store sells in "
                    "D-Store into the catalog, then declare the store owned")
            return Program("full", reason, [action], full_cost, warnings=warnings)
        statuses = sorted((c.key, c.new["status"]) for c in request.changes)
        actions = []
        for index, start in enumerate(range(0, len(statuses), mapping.STATUS_BATCH)):
            chunk = statuses[start:start + mapping.STATUS_BATCH]
            key = request.idempotency_key(index)
            body = mapping.status_body(key, self.account, request.remote_id, chunk)
            actions.append(Action(
                index=index, kind="syncProduct.status",
                summary=", ".join(f"{pid} -> {status}" for pid, status in chunk),
                method="POST", path=self.settings.path, body=body, bytes=len(encode_body(body)),
                idempotency_key=key, effect=Effect(set=[pid for pid, _ in chunk]),
            ))
        reason = f"status-only drift on {len(statuses)} SINGLE/MODIFIER product{'s' * (len(statuses) != 1)}"
        return Program("light", reason, actions, full_cost)

    @staticmethod
    def _why_full(request: CompileRequest) -> str:
        """Why the light path cannot express this drift, or '' when it can."""
        if request.meta_changed:
            return "store details changed"
        for change in request.changes:
            if change.op == "create":
                return f"{change.key!r} is new"
            if change.op == "delete":
                return f"{change.key!r} was removed"
            if not change.only_fields({"status"}):
                fields = ", ".join(sorted({f.field.split('.')[0].split('[')[0] for f in change.fields} - {"status"}))
                return f"{change.key!r} changed {fields}"
            if change.new.get("type") not in mapping.STATUS_TYPES:
                return f"status of {change.new.get('type')} {change.key!r} changed (status updates take SINGLE and MODIFIER only)"
        return ""

    # -- applying -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        settings = self.settings
        transport = self.context.transport
        if settings.emulated:
            client_id, private_key, gateway_key, emulated_transport = self._emulator_credentials()
            transport = transport or emulated_transport
            base_url = "http://dstore.emulator"
        else:
            client_id = settings.client_id
            private_key = self._load_key("private_key", signing.load_private_key)
            gateway_key = self._load_key("gateway_public_key", signing.load_public_key)
            base_url = settings.url
        self._client = DStoreClient(base_url, client_id, private_key, gateway_key, settings.retry, transport,
                                    settings.key_version)

    def validate_settings(self) -> Iterable[Finding]:
        if self.settings.emulated:
            return  # the emulator's keys are generated; none is configured
        for name, load in (("private_key", signing.load_private_key), ("gateway_public_key", signing.load_public_key)):
            try:
                self._load_key(name, load)
            except SecretError as exc:
                yield self.secret_finding(name, exc)
            except ReconcilerError as exc:
                yield self.setting_finding(name, str(exc))

    def _load_key(self, name: str, load: Any) -> Any:
        """The RSA key of setting `name` (None when unset); a ReconcilerError naming the
        setting and its reference, never the key, when it cannot be read or parsed."""
        reference = getattr(self.settings, name)
        text = self.context.secret(reference, f"backend {self.name} {name}")
        if text is None:
            return None
        try:
            return load(text)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            source = reference if reference.startswith("${") else "the value written in reconciler.yaml"
            kind = "private" if name == "private_key" else "public"
            raise ReconcilerError(f"backend {self.name} {name}: {source} does not hold an RSA {kind} key "
                                  "(PEM, or base64 of the DER encoding)") from None

    def _emulator_credentials(self):
        """Keys for the in-process emulator: real signatures, no credentials to manage.

        The client key pair lives beside the emulator's data under .reconciler/ and is
        registered with the emulator, which signs its answers with its own gateway key.
        """
        from .emulator import DStoreEmulator

        data_dir = self.context.emulator_dir(self.name)
        emulator = DStoreEmulator(path=data_dir / "data.json")
        key_file = data_dir / "client_key.pem"
        if not key_file.exists():
            private_pem, _ = signing.generate_key_pair()
            key_file.write_text(private_pem)
            key_file.chmod(0o600)
        private_key = signing.load_private_key(key_file.read_text())
        # Registered on every open, in case the emulator's data was reset or removed.
        emulator.register_client(EMULATOR_CLIENT_ID, signing.public_key_pem(private_key.public_key()))
        gateway_key = signing.load_public_key(emulator.gateway_public_key_pem)
        return EMULATOR_CLIENT_ID, private_key, gateway_key, InProcessTransport(emulator.app)

    async def execute(self, store: StorePlan, action: Action) -> dict[str, Any]:
        if self._client is None:
            await self.open()
        result = await self._client.call(action.path, encode_body(action.body), action.idempotency_key)
        return {"requestId": action.idempotency_key, "resultCode": result.get("resultCode")}

    @classmethod
    def emulator_app(cls, data_dir: Path | None) -> Any:
        from .emulator import DStoreEmulator

        return DStoreEmulator(path=data_dir / "data.json" if data_dir else None).app
