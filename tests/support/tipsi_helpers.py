"""The Tipsi emulator behind the engine: a project copied from catalogs/ and read back,
or a generated project whose emulator the test holds (for faults and session expiry)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from reconciler.applier import StoreResult, apply_plan
from reconciler.emulation import InProcessTransport
from reconciler.plan import Plan
from reconciler.planner import PlanOptions, Selector, make_plan
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.state import open_state
from reconciler.validation import Validated, validate_project
from reconciler_tipsi.emulator import TipsiEmulator

SYNC = "/api/rest/v001/store/{}/ext/sync"
SYNC_CLEAR = "/api/rest/v001/store/{}/ext/sync_clear"
LOGIN = "/api/rest/v001/login"


def tipsi_emulator_of(project_root: Path, backend: str = "tipsi") -> TipsiEmulator:
    """A fresh view of the emulator data the CLI left under .reconciler/ (read after a run)."""
    return TipsiEmulator(path=project_root / ".reconciler" / "emulators" / backend / "data.json")


def tipsi_syncs(emulator: TipsiEmulator) -> list[dict]:
    """Sync calls the emulator processed successfully (not logins, not refused or faulted)."""
    return [r for r in emulator.requests if "/ext/sync" in r["path"] and r["status"] == 200]


class TipsiHarness:
    """A project with `items` SINGLE products in `stores` stores, on a Tipsi backend whose
    URL resolves nowhere; the test's emulator answers through InProcessTransport."""

    def __init__(self, root: Path, stores: int = 2, items: int = 5, chunk_size: int = 300,
                 attempts: int = 3, timeout: float = 0.5, login_field: str = "username", owned: bool = True):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.emulator = TipsiEmulator()
        self.emulator.add_user("shop", "s3cret", email="shop@example.com")
        (root / "password.txt").write_text("s3cret\n")
        login = "shop@example.com" if login_field == "email" else "shop"
        (root / "reconciler.yaml").write_text(textwrap.dedent(f"""\
            backends:
              tipsi:
                provider: tipsi
                url: "https://tipsi.invalid"
                login_field: {login_field}
                username: "{login}"
                password: "${{file:password.txt}}"
                chunk_size: {chunk_size}
                owned: {str(owned).lower()}
                retry: {{attempts: {attempts}, backoff: 0, max_backoff: 0, timeout: {timeout}}}
            """))
        self.set_menu(items)
        self.set_stores({f"st{n}": {} for n in range(stores)})

    def set_menu(self, items: int) -> None:
        lines = [f'      item{i}: {{name: item {i}, price: "{i}.50", barcodes: ["{100000 + i}"], category: drink}}' for i in range(items)]
        (self.root / "menu.yaml").write_text("menus:\n  m:\n    currency: USD\n    products:\n" + "\n".join(lines) + "\n")

    def set_stores(self, stock: dict[str, dict[str, int]]) -> None:
        """Stores with stock per product ({"st0": {"item1": 4}}); other products have none (in_stock 0)."""
        out = ["stores:"]
        for n, (store, levels) in enumerate(stock.items()):
            entries = ", ".join(f"{k}: {v}" for k, v in levels.items())
            out.append(f"  {store}: {{name: {store}, menu: m, backends: {{tipsi: {{store_id: {500 + n}}}}}, "
                       f"stock: {{{entries}}}}}")
        (self.root / "stores.yaml").write_text("\n".join(out) + "\n")

    def validated(self) -> Validated:
        project = load_project(self.root)
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        return validate_project(project, context, transports={"tipsi": InProcessTransport(self.emulator.app)})

    async def plan(self, full: bool = False) -> Plan:
        state = open_state("sqlite:///.reconciler/state.db", self.root)
        try:
            return await make_plan(self.validated(), state, PlanOptions(full=full, selector=Selector()))
        finally:
            state.close()

    async def apply(self, plan: Plan) -> dict[str, StoreResult]:
        validated = self.validated()
        state = open_state("sqlite:///.reconciler/state.db", self.root)
        try:
            results = await apply_plan(plan, validated.providers, state, "test-owner")
        finally:
            state.close()
        return {r.store: r for r in results}
