"""The miPOS emulator behind the engine, the webhook receiver the engine serves, and the
document's examples verbatim."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Callable

import httpx

from reconciler.applier import StoreResult, apply_plan
from reconciler.emulation import InProcessTransport
from reconciler.plan import Plan
from reconciler.planner import PlanOptions, Selector, make_plan
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.state import StateStore, open_state
from reconciler.validation import Validated, validate_project
from reconciler.webhooks import receivers, webhooks_app
from reconciler_mipos.emulator import MiPOSEmulator

API = "/api/v1/inventory/pos"
SYNC = API + "/store/{}/system/sync"
STOCK = API + "/store/{}/system/stock/update"
WEBHOOK_URL = "http://pos.test/webhooks/mipos"
ACCOUNT = {"client_id": "client-1", "client_secret": "hook-secret", "email": "pos@example.com",
           "password": "pw", "user_id_tps": "30", "inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9",
           "pos_id": "1"}


CREDENTIALS = {k: ACCOUNT[k] for k in ("client_id", "client_secret", "email", "password")}
# A small store's contents and valid requests, for tests of the emulator and the client.
UNIT = {"name": "U", "short_name": "u", "external_id": "u"}
SUPPLIER = {"name": "S", "external_id": "s"}
ITEM = {"name": "n", "external_id": "a", "purchase_unit_external_id": "u", "consumption_unit_external_id": "u",
        "supplier_external_id": "s", "cost": "1", "stock": "4"}
SYNC_REQUEST = {"items": [ITEM], "user_id_tps": ACCOUNT["user_id_tps"],
                "inventory_system_id": ACCOUNT["inventory_system_id"], "units": [UNIT], "suppliers": [SUPPLIER]}
MOVE_REQUEST = {"user_id_tps": ACCOUNT["user_id_tps"], "inventory_system_id": ACCOUNT["inventory_system_id"],
                "current_stock": "3", "quantity": "1", "date": "2020-05-30 12:45:03", "movement_type": 2,
                "external_id": "a"}


def seeded_emulator(**options) -> MiPOSEmulator:
    """An emulator whose store 12 holds ITEM (stock 4) with its unit and supplier."""
    emulator = MiPOSEmulator(account=dict(ACCOUNT), **options)
    emulator.seed_store("12", items=[ITEM], units=[UNIT], suppliers=[SUPPLIER])
    return emulator


async def request_body(receive) -> bytes:
    """The whole body of an ASGI request."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


# The JSON examples of the miPOS document ("POS sync inventory"), byte for byte as it
# prints them: `json.dumps(value, indent=0)` reproduces every one exactly, except
# WEBHOOK_409, which is not JSON at all (a trailing comma after "Invalid type.").
SYNC_OK = """\
{
"message": "Synchronization data was sent to the inventory system.",
"data": null
}"""
SYNC_409 = """\
{
"message": [
"You don't have this store available.",
"The third_party_id does not have an Inventory System role or does not exist.",
"No integration record was found between this user store and the third party system.",
"External id not found for this store in the inventory system.",
"The item must have a name.",
"The item must have an external id.",
"The item must have an purchase unit external id.",
"The item must have an consumption unit external id.",
"The item must have a supplier external id.",
"The item must have a cost.",
"The item must have a stock.",
"The unit must have a name.",
"The unit must have a short name.",
"The unit must have an external id.",
"The supplier must have a name.",
"The supplier must have an external id.",
"Item purchase unit external id (____) not found in units array",
"The item purchase unit external id must be a string.",
"The item consumption unit external id must be a string.",
"Item supplier external id (____) not found in suppliers array",
"The item cost must be a string.",
"The item stock must be a string."
],
"data": null
}"""
SYNC_422 = """\
{
"items": [
"The items field is required."
],
"inventory_system_id": [
"The inventory system id field is required.",
"The inventory system id must be a string."
],
"units": [
"The units field is required."
],
"suppliers": [
"The suppliers field is required."
],
"user_id_tps": [
"The user id tps field is required."
]
}"""
SYNC_BODY = """\
{
"items": [
{
"name": "Testing item 1",
"external_id": "item_abc123",
"purchase_unit_external_id": "pos_u1",
"consumption_unit_external_id": "pos_u2",
"supplier_external_id": "pos_sup_1",
"cost": "1250",
"stock": "11.22"
},
{
"name": "Testing item 2",
"external_id": "item_abc456",
"purchase_unit_external_id": "pos_u2",
"consumption_unit_external_id": "pos_u2",
"supplier_external_id": "pos_sup_1",
"cost": "100",
"stock": "5.50"
}
],
"user_id_tps": "30",
"inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9",
"units": [
{
"name": "Unit 1",
"short_name": "u1",
"external_id": "pos_u1"
},
{
"name": "Unit 2",
"short_name": "u2",
"external_id": "pos_u2"
}
],
"suppliers": [
{
"name": "supplier 1",
"external_id": "pos_sup_1"
}
]
}"""
STOCK_409 = """\
{
"message": [
"This user_id_tps does not own this inventory system.",
"No integration record was found between this user store and the third party system.",
"External id not found for this store in the inventory system.",
"This type of webhook is not available.",
"This inventory system does not have this type of webhook available."
],
"data": null
}"""
STOCK_422 = """\
{
"user_id_tps": [
"The user id tps field is required."
],
"inventory_system_id": [
"The inventory system id field is required."
],
"current_stock": [
"The current stock field is required."
],
"quantity": [
"The quantity field is required."
],
"date": [
"The date field is required."
],
"movement_type": [
"The movement type field is required.",
"The selected movement type is invalid."
]
}"""
STOCK_BODY = """\
{
"user_id_tps": "30",
"inventory_system_id": "4344be8c-c6b9-4c51-88a6-d620144ab406",
"current_stock": "12.44",
"quantity": "1.25",
"date": "2020-05-30 12:45:03",
"movement_type": 2
}"""
WEBHOOK_OK = """\
{
"message": "Webhook successfully created.",
"data": null
}"""
WEBHOOK_409 = """\
{
"message": [
"Invalid type.",
],
"data": null
}"""
WEBHOOK_422 = """\
{
"type": [
"The type field is required.",
"The selected type is invalid."
],
"url": [
"The url field is required."
]
}"""
WEBHOOK_JSON = """\
{
"pos_id": "1",
"inventory_system_id": "4344be8c-c6b9-4c51-88a6-d620144ab406",
"current_stock": "12.44",
"quantity": "1.25",
"date": "2020-05-30 12:45:03",
"movement_type": 2,
"external_id": "avcc123",
"now": "2020-06-01 02:55:18",
"store_id": 1
}"""


def mipos_emulator_of(project_root: Path, backend: str = "mipos") -> MiPOSEmulator:
    """The emulator data an emulator:// backend left (or will use) under .reconciler/,
    with the in-process backend's settings: stores are provisioned on first use."""
    return MiPOSEmulator(path=project_root / ".reconciler" / "emulators" / backend / "data.json",
                         provision_stores=True)


def processed(emulator: MiPOSEmulator, path: str | None = None) -> list[dict]:
    """API calls the emulator answered with 200 (not tokens), optionally of one path."""
    return [r for r in emulator.requests
            if r["status"] == 200 and r["path"] != "/api/oauth/token" and (path is None or r["path"] == path)]


class MiPOSHarness:
    """A store ("12") with two items (a and b) on a miPOS backend whose URL resolves nowhere.

    The emulator is strict: the store exists (empty, integrated) and the binding declares
    it owned, so the first sync may replace what it holds. `backend_owns_stock` declares
    `owned_fields: [stock]`; `extra` is one more line of the backend's settings;
    `account` overrides keys of ACCOUNT (the configured ids follow it)."""

    def __init__(self, root: Path, backend_owns_stock: bool = False, attempts: int = 3, timeout: float = 0.5,
                 webhook_url: str = WEBHOOK_URL, extra: str = "", store_id: str = "12",
                 item_ids: tuple[str, str] = ("a", "b"), account: dict[str, str] | None = None,
                 **emulator_settings):
        self.root, self.store_id, self.item_ids = root, store_id, item_ids
        self.account = {**ACCOUNT, **(account or {})}
        root.mkdir(parents=True, exist_ok=True)
        self.emulator = MiPOSEmulator(account=dict(self.account), delivery_backoff=0, **emulator_settings)
        self.emulator.seed_store(store_id)
        (root / "secret.txt").write_text(self.account["client_secret"])
        owned_line = "owned_fields: [stock]" if backend_owns_stock else ""
        (root / "reconciler.yaml").write_text(textwrap.dedent(f"""\
            backends:
              mipos:
                provider: mipos
                url: "https://mipos.invalid"
                client_id: {self.account["client_id"]}
                client_secret: "${{file:secret.txt}}"
                email: {self.account["email"]}
                password: {self.account["password"]}
                user_id_tps: "{self.account["user_id_tps"]}"
                inventory_system_id: {self.account["inventory_system_id"]}
                webhook_url: "{webhook_url}"
                retry: {{attempts: {attempts}, backoff: 0, max_backoff: 0, timeout: {timeout}}}
                {owned_line}
                {extra}
            """))
        a, b = item_ids
        (root / "menu.yaml").write_text(textwrap.dedent(f"""\
            menus:
              m:
                currency: USD
                products:
                  {a}: {{name: Flour, price: 1, unit: kg, supplier: s1, cost: "0.80"}}
                  {b}: {{name: Eggs, price: 1, unit: {{purchase: box, consumption: pcs}}, supplier: s1, cost: 2}}
            units:
              kg: {{name: Kilogram, short_name: kg}}
              box: {{name: Box, short_name: box}}
              pcs: {{name: Pieces, short_name: pcs}}
            suppliers:
              s1: {{name: Mill}}
            """))
        self.set_stock({a: "12", b: "30"})

    def set_stock(self, stock: dict[str, str]) -> None:
        entries = ", ".join(f"{k}: {v}" for k, v in stock.items())
        (self.root / "stores.yaml").write_text(
            f'stores:\n  st: {{name: St, menu: m, backends: {{mipos: {{store_id: "{self.store_id}", owned: true}}}}, '
            f'stock: {{{entries}}}}}\n')

    def validated(self) -> Validated:
        project = load_project(self.root)
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        return validate_project(project, context, transports={"mipos": InProcessTransport(self.emulator.app)})

    def state(self) -> StateStore:
        return open_state("sqlite:///.reconciler/state.db", self.root)

    def observations(self) -> list:
        state = self.state()
        try:
            return state.observations("mipos", "st")
        finally:
            state.close()

    def receiver(self, clock: Callable[[], float] | None = None):
        """The engine's webhook app for this project, writing to its state store; `clock`
        replaces the miPOS receiver's clock."""
        apps = receivers(self.validated(), self.state)
        if clock is not None:
            apps["mipos"].clock = clock
        return webhooks_app(apps)

    def deliver_in_process(self) -> None:
        """Point the emulator's outgoing webhooks at the receiver, without a network."""
        self.emulator.outgoing = httpx.ASGITransport(app=self.receiver())

    async def plan(self, full: bool = False, plan_id: str | None = None, created: datetime | None = None) -> Plan:
        state = self.state()
        try:
            return await make_plan(self.validated(), state, PlanOptions(full=full, selector=Selector()),
                                   plan_id=plan_id, created=created)
        finally:
            state.close()

    async def apply(self, plan: Plan) -> StoreResult:
        state = self.state()
        try:
            [result] = await apply_plan(plan, self.validated().providers, state, "test-owner")
        finally:
            state.close()
        return result

    async def converge(self) -> StoreResult:
        result = await self.apply(await self.plan())
        assert result.status == "applied", result.message
        return result
