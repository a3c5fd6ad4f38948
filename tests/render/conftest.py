"""Plans a reviewer meets, made by the engine against the in-process D-Store emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness import DStoreHarness
from plan_review import HOSTILE, edit_menu
from reconciler.plan import Plan


@pytest.fixture
async def hostile_plan(tmp_path) -> Plan:
    """A product renamed to a hostile name whose price moves, and a store whose id is hostile."""
    harness = DStoreHarness(tmp_path / "p", stores=2, products=4)
    await harness.apply(await harness.plan())
    name = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    edit_menu(harness, 'item1: {name: item 1, price: "1.50"}', f'item1: {{name: "{name}", price: "2.50"}}')
    stores = (harness.root / "stores.yaml").read_text()
    (harness.root / "stores.yaml").write_text(
        stores + f'  "{name} st": {{name: hostile, menu: m, backends: {{sg: {{store_id: s9}}}}}}\n')
    return await harness.plan()


@pytest.fixture
async def leaving_plan(tmp_path) -> Plan:
    """Store st2 leaves the catalog (renamed to st9): D-Store cannot empty a store, so
    its 5 products stay and nothing is sent for it; st9 is new."""
    harness = DStoreHarness(tmp_path / "p", stores=3, products=5)
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {}, "st1": {}, "st9": {}})
    return await harness.plan()


@pytest.fixture
async def locked_plan(tmp_path) -> Plan:
    """Nothing changes, but another apply holds st1: a note and no actions."""
    harness = DStoreHarness(tmp_path / "p", stores=2, products=3)
    await harness.apply(await harness.plan())
    state = harness.state()
    try:
        assert state.acquire("sg", "st1", "ci-job-7", timedelta(minutes=5)) is None
    finally:
        state.close()
    return await harness.plan()


@pytest.fixture
async def refused_plan(tmp_path) -> Plan:
    """Both stores lose 5 of their 8 products: over max_removed_share (30%)."""
    harness = DStoreHarness(tmp_path / "p", stores=2, products=8)
    await harness.apply(await harness.plan())
    for i in range(3, 8):
        edit_menu(harness, f'      item{i}: {{name: item {i}, price: "{i}.50"}}\n', "")
    return await harness.plan()
