"""The miPOS provider: a store's SINGLE products as inventory items keyed by external_id.

Two write paths. Stock-only drift takes the light path: one `system/stock/update`
movement per item (type 1 adds, 2 removes; `current_stock` is the new level). Movements
are not idempotent, so they are never re-sent after an unknown outcome: the store is
marked unknown and the next plan takes the full path. Anything else takes the full path:
one `system/sync` with every item and the units and suppliers they refer to.

The stock webhook (type 3) URL is store-level desired state: when it changes, the plan
registers it through `webhook/manage`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

from reconciler.sdk import (
    Action,
    BackendError,
    BackendSettings,
    CompileRequest,
    Cost,
    DesiredStore,
    Effect,
    Finding,
    InProcessTransport,
    ObservationSink,
    Program,
    Provider,
    StorePlan,
    StoreView,
    encode_body,
)

from . import mapping
from .client import MiPOSClient

CREDENTIALS = ("client_id", "client_secret", "email", "password")
DEMO_ACCOUNT = {"client_id": "demo", "client_secret": "demo-secret", "email": "demo@example.com",
                "password": "demo", "user_id_tps": "30",
                "inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9", "pos_id": "1"}


class MiPOSSettings(BackendSettings):
    backend_title = "miPOS backend"
    needed_unless_emulated = (*CREDENTIALS, "user_id_tps", "inventory_system_id")
    client_id: str | None = None
    client_secret: str | None = None  # a secret reference; also the webhook signing key
    email: str | None = None
    password: str | None = None  # a secret reference
    user_id_tps: str | None = None
    inventory_system_id: str | None = None
    webhook_url: str | None = None  # where miPOS posts stock webhooks (type 3); desired state
    webhook_window: float = Field(300, gt=0, le=86400)  # seconds a webhook's `now` may be off


class MiPOSBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    store_id: str | int = Field(description="the store's id, as in /store/{store_id}/system/sync")


class MiPOSProvider(Provider):
    kind = "mipos"
    Settings = MiPOSSettings
    Binding = MiPOSBinding
    settings: MiPOSSettings

    # -- validation and mapping ---------------------------------------------------------------
    def remote_id(self, binding: MiPOSBinding) -> str:
        return str(binding.store_id)

    def validate_settings(self) -> Iterable[Finding]:
        return self.secret_findings(*CREDENTIALS)

    def validate_store(self, view: StoreView) -> Iterable[Finding]:
        # The document's 409 list, checked before anything is sent. References to units and
        # suppliers that do not exist are the engine's own cross-reference rules.
        for item in mapping.mipos_products(view):
            pid, product = item.id, item.product
            where = view.product_path(pid)
            if not product.name.strip():
                yield Finding(view.product_path(pid, "name"), f"{pid!r}: The item must have a name.")
            if product.unit is None:
                yield Finding(where, f"{pid!r} has no unit: The item must have an purchase unit external id. "
                                     "The item must have an consumption unit external id.", at_key=True)
            if product.supplier is None:
                yield Finding(where, f"{pid!r} has no supplier: The item must have a supplier external id.", at_key=True)
            if product.cost is None:
                yield Finding(where, f"{pid!r} has no cost: The item must have a cost.", at_key=True)
            if item.stock is None:
                path = view.store_path("stock") if view.store.stock else view.store_path()
                yield Finding(path, f"{pid!r} has no stock in store {view.store_id!r}: The item must have a stock.",
                              at_key=not view.store.stock)

    def desired(self, view: StoreView) -> DesiredStore:
        resources = {item.id: mapping.item_resource(item, view) for item in mapping.mipos_products(view)}
        return DesiredStore(self._webhook_meta(), resources)

    def _webhook_meta(self) -> dict[str, Any]:
        url = self.settings.webhook_url
        return {"webhook": {"type": mapping.STOCK_WEBHOOK_TYPE, "url": url}} if url else {}

    def available(self, resource: dict[str, Any]) -> bool:
        try:
            return float(resource.get("stock") or 0) > 0
        except ValueError:
            return True

    # -- planning -------------------------------------------------------------------------------
    def _ids(self) -> tuple[str, str]:
        settings = self.settings
        if settings.emulated:
            # Configured ids win, so the emulator refuses them as miPOS would when they are wrong.
            account = self._emulator_account()
            return (settings.user_id_tps or account["user_id_tps"],
                    settings.inventory_system_id or account["inventory_system_id"])
        return settings.user_id_tps, settings.inventory_system_id

    def compile(self, request: CompileRequest) -> Program:
        user_id_tps, inventory_system_id = self._ids()
        desired, observed = request.desired.resources, request.observed.resources
        body = mapping.sync_body(desired, user_id_tps, inventory_system_id)
        full_cost = Cost(requests=1, bytes=len(encode_body(body)))
        actions: list[Action] = []
        warnings: list[str] = []
        webhook = request.desired.meta.get("webhook")
        if request.meta_changed and webhook:
            actions.append(self._webhook_action(request, webhook))
        elif request.meta_changed:
            warnings.append("webhook_url was removed; miPOS has no call to unregister a webhook, so it stays "
                            "registered until another URL replaces it")
        light = not request.full and all(
            mapping.stock_only(observed.get(c.key), desired.get(c.key)) for c in request.changes)
        if light:
            date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            for change in sorted(request.changes, key=lambda c: c.key):
                actions.append(self._movement(request, change.key, observed[change.key]["stock"],
                                              desired[change.key]["stock"], user_id_tps, inventory_system_id,
                                              date, len(actions)))
            if not actions:
                return Program("none", "no changes", [], full_cost, warnings)
            moves = len(request.changes)
            reason = (f"stock of {moves} item{'s' * (moves != 1)} changed: {moves} stock/update movement"
                      f"{'s' * (moves != 1)}" if moves else "the webhook URL changed")
            return Program("light", reason, actions, full_cost, warnings)
        size = len(body["items"])
        actions.append(Action(
            index=len(actions), kind="system/sync",
            summary=f"sync {size} item{'s' * (size != 1)}, {len(body['units'])} units, "
                    f"{len(body['suppliers'])} suppliers",
            method="POST", path=mapping.sync_path(request.remote_id), body=body, bytes=full_cost.bytes,
            idempotency_key=request.idempotency_key(len(actions)),
            effect=Effect(replace=True, set=sorted(desired)),
        ))
        reason = request.full_reason or self._full_reason(request)
        return Program("full", reason, actions, full_cost, warnings)

    @staticmethod
    def _full_reason(request: CompileRequest) -> str:
        change = next(c for c in sorted(request.changes, key=lambda c: c.key)
                      if not mapping.stock_only(request.observed.resources.get(c.key), request.desired.resources.get(c.key)))
        what = {"create": "is new", "delete": "was removed"}.get(change.op, "changed beyond its stock")
        return f"{change.key!r} {what}; miPOS takes such changes only as a full system/sync"

    def _webhook_action(self, request: CompileRequest, webhook: dict[str, Any]) -> Action:
        return Action(
            index=0, kind="webhook/manage", summary=f"register the stock webhook (type 3) at {webhook['url']}",
            method="POST", path=mapping.WEBHOOK_PATH, body=webhook, bytes=len(encode_body(webhook)),
            idempotency_key=request.idempotency_key(0), effect=Effect(meta=True),
        )

    @staticmethod
    def _movement(request: CompileRequest, key: str, old: str, new: str, user_id_tps: str,
                  inventory_system_id: str, date: str, index: int) -> Action:
        body = mapping.movement(key, old, new, user_id_tps, inventory_system_id, date)
        verb = "add" if body["movement_type"] == mapping.ADD else "remove"
        return Action(
            index=index, kind="stock/update", summary=f"{verb} {body['quantity']} of {key} (now {new})",
            method="POST", path=mapping.stock_path(request.remote_id), body=body, bytes=len(encode_body(body)),
            idempotency_key=request.idempotency_key(index),
            retry_safe=False,  # a movement repeats when re-sent
            effect=Effect(set=[key]),
        )

    # -- applying -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        settings, transport = self.settings, self.context.transport
        if settings.emulated:
            account = self._emulator_account()
            credentials = {k: account[k] for k in CREDENTIALS}
            transport = transport or InProcessTransport(self._emulator().app)
            base_url = "http://mipos.emulator"
        else:
            credentials = {k: self._value(k) for k in CREDENTIALS}
            base_url = settings.url
        self._client = MiPOSClient(base_url, credentials, settings.retry, transport)

    def _value(self, key: str) -> str:
        return self.context.secret(getattr(self.settings, key), f"backend {self.name} {key.replace('_', ' ')}")

    def _emulator_account(self) -> dict[str, str]:
        """The in-process emulator's account, generated once beside its data under .reconciler/."""
        from .emulator import default_account

        path = self.context.emulator_dir(self.name) / "credentials.json"
        if not path.exists():
            account = default_account()
            for key in ("user_id_tps", "inventory_system_id"):
                account[key] = getattr(self.settings, key) or account[key]
            path.write_text(json.dumps(account))
            path.chmod(0o600)
        return json.loads(path.read_text())

    def _emulator(self):
        from .emulator import MiPOSEmulator

        return MiPOSEmulator(path=self.context.emulator_dir(self.name) / "data.json",
                             account=self._emulator_account())

    async def execute(self, store: StorePlan, action: Action) -> dict[str, Any]:
        if self._client is None:
            await self.open()
        if action.kind == "system/sync":
            problems = mapping.sync_problems(action.body)
            if problems:
                raise BackendError("not sent; miPOS would refuse it: " + "; ".join(problems))
        answer = await self._client.post(action.path, encode_body(action.body),
                                         repeatable=action.kind != "stock/update")
        message = answer.get("message")
        return {"message": message} if isinstance(message, str) else {}

    # -- webhooks -------------------------------------------------------------------------------
    def webhook_app(self, sink: ObservationSink) -> Any:
        from .webhooks import StockReceiver

        settings = self.settings
        if not settings.webhook_url:
            return None
        if settings.emulated:
            account = self._emulator_account()
            secret = account["client_secret"]
        else:
            secret = self._value("client_secret")
        inventory_system_id = self._ids()[1]
        return StockReceiver(secret, settings.webhook_url, inventory_system_id, sink, window=settings.webhook_window)

    @classmethod
    def emulator_app(cls, data_dir: Path | None) -> Any:
        from .emulator import MiPOSEmulator

        # Served on loopback for trying things out: a known account, documented in the docs.
        emulator = MiPOSEmulator(path=data_dir / "data.json" if data_dir else None, account=dict(DEMO_ACCOUNT))
        return emulator.app
