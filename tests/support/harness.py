"""Driving the engine from Python with an emulator behind the transport seam.

The project uses real credentials (keys in files, referenced as secrets) and a URL that
resolves nowhere; the test's emulator instance answers through InProcessTransport, so
tests can inject faults and read what arrived.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from reconciler.applier import StoreResult, apply_plan
from reconciler.emulation import InProcessTransport
from reconciler.plan import Plan
from reconciler.planner import PlanOptions, Selector, make_plan
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.state import StateStore, open_state
from reconciler.validation import Validated, validate_project
from reconciler_dstore import signing
from reconciler_dstore.emulator import DStoreEmulator

CLIENT_ID = "2022-test-client"


class DStoreHarness:
    def __init__(self, root: Path, stores: int = 3, products: int = 8, attempts: int = 3, timeout: float = 0.5):
        self.root = root
        (root / "keys").mkdir(parents=True, exist_ok=True)
        private_pem, public_pem = signing.generate_key_pair()
        (root / "keys" / "client.pem").write_text(private_pem)
        self.client_private_pem = private_pem
        self.emulator = DStoreEmulator()
        self.emulator.register_client(CLIENT_ID, public_pem)
        (root / "keys" / "gateway.pem").write_text(self.emulator.gateway_public_key_pem)
        (root / "reconciler.yaml").write_text(textwrap.dedent(f"""\
            backends:
              sg:
                provider: dstore
                url: "https://dstore.invalid"
                client_id: {CLIENT_ID}
                private_key: "${{file:keys/client.pem}}"
                gateway_public_key: "${{file:keys/gateway.pem}}"
                pos_account_id: acct1
                owned: true
                retry: {{attempts: {attempts}, backoff: 0, max_backoff: 0, timeout: {timeout}}}
            """))
        lines = [f"      item{i}: {{name: item {i}, price: \"{i}.50\"}}" for i in range(products)]
        (root / "menu.yaml").write_text("menus:\n  m:\n    currency: SGD\n    products:\n" + "\n".join(lines) + "\n")
        self.set_stores({f"st{n}": {} for n in range(stores)})

    def set_stores(self, stores: dict[str, dict[str, str]]) -> None:
        """Stores with per-store status overrides: {"st0": {"item1": "SOLDOUT"}}."""
        out = ["stores:"]
        for store, status in stores.items():
            extra = f", status: {{{', '.join(f'{k}: {v}' for k, v in status.items())}}}" if status else ""
            out.append(f"  {store}: {{name: {store}, menu: m, backends: {{sg: {{store_id: {store}}}}}{extra}}}")
        (self.root / "stores.yaml").write_text("\n".join(out) + "\n")

    def validated(self) -> Validated:
        project = load_project(self.root)
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        return validate_project(project, context, transports={"sg": InProcessTransport(self.emulator.app)})

    def state(self) -> StateStore:
        return open_state("sqlite:///.reconciler/state.db", self.root)

    async def plan(self, **options) -> Plan:
        validated = self.validated()
        state = self.state()
        try:
            return await make_plan(validated, state, PlanOptions(
                full=options.get("full", False), selector=Selector(stores=tuple(options.get("stores", ())))))
        finally:
            state.close()

    async def apply(self, plan: Plan) -> dict[str, StoreResult]:
        validated = self.validated()
        state = self.state()
        try:
            results = await apply_plan(plan, validated.providers, state, "test-owner")
        finally:
            state.close()
        return {r.store: r for r in results}

    def processed(self) -> list[dict]:
        """Requests the emulator acted on: not replays, not refused or faulted before processing."""
        return [r for r in self.emulator.requests
                if r.get("mode") and not r.get("replayed") and r["result"]["resultStatus"] == "S"]
