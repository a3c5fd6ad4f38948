"""The miPOS emulator behind the engine, and the webhook receiver the engine serves."""

from __future__ import annotations

import textwrap
from pathlib import Path

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


def mipos_emulator_of(project_root: Path, backend: str = "mipos") -> MiPOSEmulator:
    """The emulator data an emulator:// backend left under .reconciler/ (read after a CLI run)."""
    return MiPOSEmulator(path=project_root / ".reconciler" / "emulators" / backend / "data.json")


def processed(emulator: MiPOSEmulator, path: str | None = None) -> list[dict]:
    """API calls the emulator answered with 200 (not tokens), optionally of one path."""
    return [r for r in emulator.requests
            if r["status"] == 200 and r["path"] != "/api/oauth/token" and (path is None or r["path"] == path)]


class MiPOSHarness:
    """Store "12" with items a and b on a miPOS backend whose URL resolves nowhere."""

    def __init__(self, root: Path, owned: bool = False, attempts: int = 3, timeout: float = 0.5,
                 webhook_url: str = WEBHOOK_URL):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.emulator = MiPOSEmulator(account=dict(ACCOUNT), delivery_backoff=0)
        (root / "secret.txt").write_text(ACCOUNT["client_secret"])
        owned_line = "owned_fields: [stock]" if owned else ""
        (root / "reconciler.yaml").write_text(textwrap.dedent(f"""\
            backends:
              mipos:
                provider: mipos
                url: "https://mipos.invalid"
                client_id: {ACCOUNT["client_id"]}
                client_secret: "${{file:secret.txt}}"
                email: {ACCOUNT["email"]}
                password: {ACCOUNT["password"]}
                user_id_tps: "30"
                inventory_system_id: {ACCOUNT["inventory_system_id"]}
                webhook_url: "{webhook_url}"
                retry: {{attempts: {attempts}, backoff: 0, max_backoff: 0, timeout: {timeout}}}
                {owned_line}
            """))
        (root / "menu.yaml").write_text(textwrap.dedent("""\
            menus:
              m:
                currency: USD
                products:
                  a: {name: Flour, price: 1, unit: kg, supplier: s1, cost: "0.80"}
                  b: {name: Eggs, price: 1, unit: {purchase: box, consumption: pcs}, supplier: s1, cost: 2}
            units:
              kg: {name: Kilogram, short_name: kg}
              box: {name: Box, short_name: box}
              pcs: {name: Pieces, short_name: pcs}
            suppliers:
              s1: {name: Mill}
            """))
        self.set_stock({"a": "12", "b": "30"})

    def set_stock(self, stock: dict[str, str]) -> None:
        entries = ", ".join(f"{k}: {v}" for k, v in stock.items())
        (self.root / "stores.yaml").write_text(
            f'stores:\n  st: {{name: St, menu: m, backends: {{mipos: {{store_id: "12"}}}}, stock: {{{entries}}}}}\n')

    def validated(self) -> Validated:
        project = load_project(self.root)
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        return validate_project(project, context, transports={"mipos": InProcessTransport(self.emulator.app)})

    def state(self) -> StateStore:
        return open_state("sqlite:///.reconciler/state.db", self.root)

    def receiver(self):
        """The engine's webhook app for this project, writing to its state store."""
        return webhooks_app(receivers(self.validated(), self.state))

    def deliver_in_process(self) -> None:
        """Point the emulator's outgoing webhooks at the receiver, without a network."""
        self.emulator.outgoing = httpx.ASGITransport(app=self.receiver())

    async def plan(self, full: bool = False) -> Plan:
        state = self.state()
        try:
            return await make_plan(self.validated(), state, PlanOptions(full=full, selector=Selector()))
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
