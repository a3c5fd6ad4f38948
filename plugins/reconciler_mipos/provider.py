"""The miPOS provider: a store's SINGLE products as inventory items keyed by external_id.

Two write paths. Stock-only drift from the last applied snapshot takes the light path:
one `system/stock/update` movement per item (type 1 adds, 2 removes; `current_stock` is
the new level), dated by the plan's clock in the backend's time zone. Movements are not
idempotent, so they are never re-sent after an unknown outcome: the store is marked
unknown and the next plan takes the full path. Anything else takes the full path: one
`system/sync` with every item and the units and suppliers they refer to. So does stock
drift that a webhook reported: its body is not signed, and a movement computed from a
forged level would move the wrong amount, while a sync sends absolute levels.

miPOS cannot be read. Whether a `system/sync` keeps the items it does not name is not
documented (`Effect.unseen="unknown"`): on a first contact the engine refuses it unless
the store is owned or --force is given. A movement and a webhook registration touch only
what they name ("kept").

The stock webhook (type 3) URL is store-level desired state: when it changes, the plan
registers it through `webhook/manage`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    register_secret,
)

from . import mapping
from .client import MiPOSClient
from .rules import ADD, STOCK_FIELDS, SYNC_FIELDS, WEBHOOK_MANAGE_FIELDS, field_errors, sync_problems

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
    # Seconds a webhook's `now` may be away from the receiver's clock. Short: within it, a
    # captured signature could carry any stock of its store (the body is not signed).
    webhook_window: float = Field(120, gt=0, le=900)
    # The zone of miPOS's wall-clock times: movement `date`s sent, webhook `now`s received.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as UTC or Asia/Singapore") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


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
            if request.first_contact:
                warnings.append("webhook/manage replaces the stock webhook (type 3) URL this miPOS account had, if "
                                "any: miPOS keeps one URL per type and cannot be read to show it")
        elif request.meta_changed:
            warnings.append("webhook_url was removed; miPOS has no call to unregister a webhook, so it stays "
                            "registered until another URL replaces it")
        removed = sorted(c.key for c in request.changes if c.op == "delete")
        if not desired:
            if removed:
                warnings.append(f"nothing is sent for {_items(removed)}: miPOS refuses a system/sync without items "
                                "(The items field is required.) and has no call to delete one, so miPOS keeps them")
            return Program("light" if actions else "none", "the webhook URL changed" if actions else "nothing to send",
                           actions, full_cost, warnings)
        # A level a webhook reported is unverified: no movement is computed from it.
        reported = request.observed.source.startswith("state+") and bool(request.changes)
        light = not request.full and not reported and all(
            mapping.stock_only(observed.get(c.key), desired.get(c.key)) for c in request.changes)
        if light:
            zone = self.settings.zone
            date = mapping.local_time(request.now, zone)
            for change in sorted(request.changes, key=lambda c: c.key):
                move = mapping.movement(change.key, observed[change.key]["stock"], desired[change.key]["stock"],
                                        user_id_tps, inventory_system_id, date)
                actions.append(self._movement(request, change.key, move, zone, len(actions)))
            if not actions:
                return Program("none", "no changes", [], full_cost, warnings)
            moves = len(request.changes)
            reason = (f"stock of {moves} item{'s' * (moves != 1)} changed: {moves} stock/update movement"
                      f"{'s' * (moves != 1)}" if moves else "the webhook URL changed")
            return Program("light", reason, actions, full_cost, warnings)
        if removed:
            warnings.append(f"the system/sync leaves out {_items(removed)} removed from the catalog: miPOS has no call "
                            "to delete an item, and whether a sync removes what it does not name is not documented")
        size = len(body["items"])
        actions.append(Action(
            index=len(actions), kind="system/sync",
            summary=f"sync {size} item{'s' * (size != 1)}, {len(body['units'])} units, "
                    f"{len(body['suppliers'])} suppliers",
            method="POST", path=mapping.sync_path(request.remote_id), body=body, bytes=full_cost.bytes,
            idempotency_key=request.idempotency_key(len(actions)),
            effect=Effect(replace=True, set=sorted(desired), unseen="unknown"),
        ))
        reason = request.full_reason or self._full_reason(request)
        return Program("full", reason, actions, full_cost, warnings)

    @staticmethod
    def _full_reason(request: CompileRequest) -> str:
        observed, desired = request.observed.resources, request.desired.resources
        beyond = [c for c in sorted(request.changes, key=lambda c: c.key)
                  if not mapping.stock_only(observed.get(c.key), desired.get(c.key))]
        if not beyond:
            return ("a webhook reported stock (unverified content): a movement computed from it could move the wrong "
                    "amount, so the system/sync sends absolute levels")
        change = beyond[0]
        what = {"create": "is new", "delete": "was removed"}.get(change.op, "changed beyond its stock")
        return f"{change.key!r} {what}; miPOS takes such changes only as a full system/sync"

    def _webhook_action(self, request: CompileRequest, webhook: dict[str, Any]) -> Action:
        return Action(
            index=0, kind="webhook/manage", summary=f"register the stock webhook (type 3) at {webhook['url']}",
            method="POST", path=mapping.WEBHOOK_PATH, body=webhook, bytes=len(encode_body(webhook)),
            idempotency_key=request.idempotency_key(0), effect=Effect(meta=True, unseen="kept"),
        )

    @staticmethod
    def _movement(request: CompileRequest, key: str, body: dict[str, Any], zone: ZoneInfo, index: int) -> Action:
        verb = "add" if body["movement_type"] == ADD else "remove"
        return Action(
            index=index, kind="stock/update",
            summary=f"{verb} {body['quantity']} of {key} (now {body['current_stock']}), dated {body['date']} {zone.key}",
            method="POST", path=mapping.stock_path(request.remote_id), body=body, bytes=len(encode_body(body)),
            idempotency_key=request.idempotency_key(index),
            retry_safe=False,  # a movement repeats when re-sent
            effect=Effect(set=[key], unseen="kept"),
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
        account = json.loads(path.read_text())
        for key in ("client_secret", "password"):
            register_secret(account[key])
        return account

    def _emulator(self):
        from .emulator import MiPOSEmulator

        # The demo stands in for a miPOS account on which the user set the stores up: a
        # store id is provisioned, integrated with the inventory system, on first use.
        return MiPOSEmulator(path=self.context.emulator_dir(self.name) / "data.json",
                             account=self._emulator_account(), provision_stores=True,
                             timezone=self.settings.timezone)

    async def execute(self, store: StorePlan, action: Action) -> dict[str, Any]:
        if self._client is None:
            await self.open()
        problems = _refusals(action)
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
        return StockReceiver(secret, settings.webhook_url, inventory_system_id, sink, settings.zone,
                             window=settings.webhook_window)

    @classmethod
    def emulator_app(cls, data_dir: Path | None) -> Any:
        from .emulator import MiPOSEmulator

        # Served on loopback for trying things out: a known account, documented in the docs.
        emulator = MiPOSEmulator(path=data_dir / "data.json" if data_dir else None, account=dict(DEMO_ACCOUNT),
                                 provision_stores=True)
        return emulator.app


def _refusals(action: Action) -> list[str]:
    """What miPOS would refuse in an action's body, by the document's rules."""
    fields = {"system/sync": SYNC_FIELDS, "stock/update": STOCK_FIELDS, "webhook/manage": WEBHOOK_MANAGE_FIELDS}
    errors = field_errors(action.body, fields[action.kind])
    problems = [f"{field}: {' '.join(messages)}" for field, messages in errors.items()]
    if not problems and action.kind == "system/sync":
        problems = sync_problems(action.body)
    return problems


def _items(keys: list[str]) -> str:
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return f"{len(keys)} item{'s' * (len(keys) != 1)} ({shown})"
