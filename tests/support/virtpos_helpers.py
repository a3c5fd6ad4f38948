"""The VirtPOS emulator behind the engine: a project copied from catalogs/ and read back,
or a generated project whose emulator the test holds (for sales, faults and versions)."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

from reconciler.applier import StoreResult, apply_plan
from reconciler.emulation import InProcessTransport
from reconciler.plan import Plan
from reconciler.planner import PlanOptions, Selector, make_plan
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.state import open_state
from reconciler.validation import Validated, validate_project
from reconciler_virtpos.emulator import VirtPOSEmulator

UPDATE = "/api/store/updateOnhand"
VERSION = "/api/store/getOnhandVersion"
ZERO = "/api/store/setZeroOnhand"
APIKEY = "vp-test-key-7f3a"
READS = ("/api/store", "/api/item", "/api/warehouse")


# The document's two XML samples, verbatim (virtpos-store-api.ru.txt, "Пример ответа сервера").
DOCUMENT_READ_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<root>
    <success>1</success>
    <type>store</type>
    <stockonly>1</stockonly>
    <count>1</count>
    <warehouses>
        <warehouse>
            <id>3</id>
            <name>Магазин 1</name>
            <count>1</count>
            <items>
                <item>
                    <id>17007</id>
                    <quantity>2.000</quantity>
                    <available_quantity>1.000</available_quantity>
                    <lot_number>12345</lot_number>
                    <name>63838 Корм для собак 2кг</name>
                    <article>63838</article>
                    <cogs>0.00</cogs>
                    <price>1126.00</price>
                    <prices>
                        <price>
                            <pricelistid>4</pricelistid>
                            <price>1126.00</price>
                        </price>
                        <price>
                            <pricelistid>3</pricelistid>
                            <price>866.00</price>
                        </price>
                    </prices>
                </item>
            </items>
        </warehouse>
    </warehouses>
</root>"""
DOCUMENT_UPDATE_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<root>
    <success>1</success>
    <id>3</id>
    <itemid>8</itemid>
    <warehouseid>1</warehouseid>
    <isnew>0</isnew>
    <quantity_before>1.700</quantity_before>
</root>"""
# The document's request examples, verbatim.
DOCUMENT_READ_URL = "http://mycompany.virtpos.ru/api/store?apikey=MySecret&format=xml&warehouseid=1&fields=itemname:article"
DOCUMENT_UPDATE_URL = ("http://mycompany.virtpos.ru/api/store/updateOnhand?apikey=MySecret&format=xml&warehouseid=1"
                       "&itemid=1&quantity=20")
DOCUMENT_VERSION_URL = "http://mycompany.virtpos.ru/api/store/getOnhandVersion?apikey=MySecret&format=xml&ext_warehouseid=1"
DOCUMENT_ZERO_URL = "http://mycompany.virtpos.ru/api/store/setZeroOnhand?apikey=MySecret&format=xml&ext_warehouseid=1"


def virtpos_emulator_of(project_root: Path, backend: str = "virtpos") -> VirtPOSEmulator:
    """A fresh view of the emulator data the CLI leaves under .reconciler/; before the first
    run it starts from the project's seed, as the provider would (catalogs/virtpos-pet-shop)."""
    seed = project_root / "virtpos-seed.json"
    return VirtPOSEmulator(path=project_root / ".reconciler" / "emulators" / backend / "data.json",
                           seed=seed if seed.exists() else None)


def writes(emulator: VirtPOSEmulator) -> list[tuple[str, dict]]:
    """(path, params) of every write call that succeeded, in order."""
    return [(r["path"], r["params"]) for r in emulator.requests
            if r["path"] not in READS and r["success"] == 1]


class VirtPOSHarness:
    """Warehouse 1 with `items` products (ids 101..., known to VirtPOS, none on hand), on a
    VirtPOS backend whose URL resolves nowhere; the test's emulator answers through
    InProcessTransport."""

    def __init__(self, root: Path, items: int = 4, attempts: int = 2, fmt: str = "json", binding: str = "warehouse_id: 1",
                 owned: bool = True):
        self.root = root
        self.binding = binding
        root.mkdir(parents=True, exist_ok=True)
        self.emulator = VirtPOSEmulator()
        self.emulator.add_apikey(APIKEY)
        self.emulator.add_warehouse(1, "Магазин 1")
        for i in range(items):
            self.emulator.add_item(101 + i, name=f"товар {i}", price=f"{i}.50")
        (root / "apikey.txt").write_text(APIKEY + "\n")
        (root / "reconciler.yaml").write_text(textwrap.dedent(f"""\
            backends:
              virtpos:
                provider: virtpos
                url: "https://shop.virtpos.invalid"
                apikey: "${{file:apikey.txt}}"
                format: {fmt}
                owned: {str(owned).lower()}
                retry: {{attempts: {attempts}, backoff: 0, max_backoff: 0, timeout: 0.5}}
            """))
        lines = [f'      "{101 + i}": {{name: товар {i}, price: "{i}.50"}}' for i in range(items)]
        (root / "menu.yaml").write_text("menus:\n  m:\n    currency: RUB\n    products:\n" + "\n".join(lines) + "\n")
        self.set_stock({str(101 + i): 10 + i for i in range(items)})

    def set_stock(self, stock: dict[str, object]) -> None:
        entries = ", ".join(f'"{k}": {v}' for k, v in stock.items())
        (self.root / "stores.yaml").write_text(
            f"stores:\n  shop: {{name: shop, menu: m, backends: {{virtpos: {{{self.binding}}}}}, stock: {{{entries}}}}}\n")

    def validated(self) -> Validated:
        project = load_project(self.root)
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        return validate_project(project, context, transports={"virtpos": InProcessTransport(self.emulator.app)})

    async def plan(self, full: bool = False, refresh: bool = True, plan_id: str | None = None,
                   created: datetime | None = None) -> Plan:
        validated = self.validated()
        state = open_state("sqlite:///.reconciler/state.db", self.root)
        try:
            return await make_plan(validated, state, PlanOptions(full=full, refresh=refresh, selector=Selector()),
                                   plan_id, created)
        finally:
            state.close()
            for provider in validated.providers.values():
                await provider.close()

    async def apply(self, plan: Plan, validated: Validated | None = None) -> StoreResult:
        validated = validated or self.validated()
        state = open_state("sqlite:///.reconciler/state.db", self.root)
        try:
            [result] = await apply_plan(plan, validated.providers, state, "test-owner")
        finally:
            state.close()
        return result
