"""External ids. A store bound by `ext_warehouse_id` is read through the internal id that
`/api/warehouse` gives (the store read takes no external id) and written with
`ext_warehouseid`. A store bound with `item_ids: external`: the catalog's product ids are
the items' external ids, written with `ext_itemid` and matched to live items through
`/api/item`."""

from __future__ import annotations

import pytest

from project_runner import copy_example
from reconciler.errors import BackendError, ValidationFailed

from virtpos_helpers import APIKEY, READS, UPDATE, VERSION, ZERO, VirtPOSHarness, virtpos_emulator_of, writes


@pytest.fixture
def harness(tmp_path) -> VirtPOSHarness:
    harness = VirtPOSHarness(tmp_path / "project", binding="warehouse_id: 1, item_ids: external")
    (harness.root / "menu.yaml").write_text(
        "menus:\n  m:\n    currency: RUB\n    products:\n"
        '      SKU-A: {name: корм, price: "1.50"}\n'
        '      SKU-B: {name: миска, price: "2.50"}\n'
        '      "17": {name: мяч, price: "3.50"}\n')
    harness.set_stock({"SKU-A": 10, "SKU-B": 11, "17": 12})
    emulator = harness.emulator
    emulator.put_stock(1, 501, "3", external_id="SKU-A")
    emulator.put_stock(1, 502, "11", external_id="SKU-B")
    emulator.add_item(503, name="мяч", external_id="17")  # known to VirtPOS, never on hand here
    return harness


def item_writes(harness) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(path, p.get("itemid"), p.get("ext_itemid"), p.get("quantity")) for path, p in writes(harness.emulator)]


async def test_plan_and_apply_address_items_by_external_id(harness):
    plan = await harness.plan()
    [store] = plan.stores
    assert {(c.op, c.key) for c in store.changes} == {("update", "SKU-A"), ("update", "17")}  # no record: on hand 0
    assert (await harness.apply(plan)).status == "applied"
    # "17" is an external id here too: item 503, not item 17.
    assert item_writes(harness) == [(UPDATE, None, "SKU-A", "10.000"), (UPDATE, None, "17", "12.000")]
    assert harness.emulator.quantities(1) == {"501": "10.000", "502": "11.000", "503": "12.000"}
    assert not (await harness.plan()).has_changes


async def test_an_external_id_virtpos_does_not_know_is_warned_and_refused_without_a_phantom_item(harness):
    (harness.root / "menu.yaml").write_text((harness.root / "menu.yaml").read_text()
                                            + '      SKU-NEW: {name: новинка, price: "4.50"}\n')
    harness.set_stock({"SKU-A": 3, "SKU-B": 11, "17": 0, "SKU-NEW": 5})
    plan = await harness.plan()
    [store] = plan.stores
    assert store.warnings == ["VirtPOS has no item with external id 'SKU-NEW' (GET /api/item): updateOnhand will "
                              "refuse it; create the item in VirtPOS first"]
    result = await harness.apply(plan)
    assert result.status == "failed"
    assert "Товар с внешним кодом SKU-NEW не найден" in result.message and "make a new plan" in result.message
    assert [i["external_id"] for i in harness.emulator.handle("/api/item", {"apikey": APIKEY, "format": "json"})[
        "items"]] == ["", "", "", "", "SKU-A", "SKU-B", "17"]
    harness.emulator.add_item(504, external_id="SKU-NEW")  # created in VirtPOS: now it converges
    assert (await harness.apply(await harness.plan())).status == "applied"
    assert harness.emulator.quantities(1)["504"] == "5.000"


async def test_xml_answers_give_the_same_mapping(tmp_path):
    harness = VirtPOSHarness(tmp_path / "xml", items=1, fmt="xml", binding="warehouse_id: 1, item_ids: external")
    (harness.root / "menu.yaml").write_text('menus:\n  m:\n    currency: RUB\n    products:\n      X-1: {name: x, price: "1.00"}\n')
    harness.set_stock({"X-1": 5})
    harness.emulator.put_stock(1, 42, "5", external_id="X-1")
    assert not (await harness.plan()).has_changes


async def test_a_sale_is_drift_and_apply_restores_it(harness):
    assert (await harness.apply(await harness.plan())).status == "applied"
    harness.emulator.sell(1, 501, "4")
    plan = await harness.plan()
    [store] = plan.stores
    assert [(c.op, c.key) for c in store.changes] == [("update", "SKU-A")]
    assert store.actions[0].body["ext_itemid"] == "SKU-A" and "itemid" not in store.actions[0].body
    assert (await harness.apply(plan)).status == "applied"
    assert item_writes(harness)[-1] == (UPDATE, None, "SKU-A", "10.000")
    assert harness.emulator.quantities(1)["501"] == "10.000"
    assert not (await harness.plan()).has_changes


async def test_items_absent_from_the_catalog_are_zeroed_by_whichever_id_they_have(harness):
    harness.set_stock({"SKU-A": 10, "SKU-B": 11, "17": 12})
    (harness.root / "stores.yaml").write_text((harness.root / "stores.yaml").read_text().replace(
        "stock:", "safety: {max_removed_share: 1}, stock:"))
    assert (await harness.apply(await harness.plan())).status == "applied"
    harness.emulator.put_stock(1, 600, "4", external_id="OLD-1")
    harness.emulator.put_stock(1, 700, "5")  # no external id
    plan = await harness.plan()
    [store] = plan.stores
    assert {(c.op, c.key) for c in store.changes} == {("delete", "OLD-1"), ("delete", "itemid:700")}
    assert (await harness.apply(plan)).status == "applied"
    assert set(item_writes(harness)[-2:]) == {(UPDATE, None, "OLD-1", "0.000"), (UPDATE, "700", None, "0.000")}
    assert harness.emulator.quantities(1)["600"] == "0.000" and harness.emulator.quantities(1)["700"] == "0.000"
    assert not (await harness.plan()).has_changes


async def test_the_full_path_zeroes_exactly_the_absent_items(harness):
    assert (await harness.apply(await harness.plan())).status == "applied"
    emulator = harness.emulator
    emulator.put_stock(1, 600, "4", external_id="OLD-1")
    emulator.put_stock(1, 700, "5")
    emulator.put_stock(1, 701, "0", external_id="OLD-2")
    before = len(emulator.requests)
    plan = await harness.plan(full=True)
    result = await harness.apply(plan)
    assert result.status == "applied", result.message
    sent = [(r["path"], r["params"].get("itemid"), r["params"].get("ext_itemid"))
            for r in emulator.requests[before:] if r["path"] not in ("/api/store", "/api/item")]
    assert sent == [(VERSION, None, None), (UPDATE, None, "SKU-A"), (UPDATE, None, "SKU-B"), (UPDATE, None, "17"),
                    (ZERO, None, None)]
    quantities = emulator.quantities(1)
    assert {k: quantities[k] for k in ("501", "502", "600", "700", "701")} == {
        "501": "10.000", "502": "11.000", "600": "0.000", "700": "0.000", "701": "0.000"}
    assert sorted(v for k, v in quantities.items() if k not in ("501", "502", "600", "700", "701")) == ["12.000"]
    assert not (await harness.plan()).has_changes


def problems(harness) -> list[str]:
    try:
        harness.validated()
    except ValidationFailed as exc:
        return [p.message for p in exc.problems]
    return []


def test_validation_keeps_numeric_ids_for_the_item_id_mode(tmp_path):
    internal = VirtPOSHarness(tmp_path / "internal")
    (internal.root / "menu.yaml").write_text('menus:\n  m:\n    currency: RUB\n    products:\n      SKU-A: {name: x, price: "1.00"}\n')
    internal.set_stock({"SKU-A": 1})
    assert any("'SKU-A' is not a VirtPOS item id" in m for m in problems(internal))
    external = VirtPOSHarness(tmp_path / "external", binding="warehouse_id: 1, item_ids: external")
    (external.root / "menu.yaml").write_text(
        'menus:\n  m:\n    currency: RUB\n    products:\n      SKU-A: {name: x, price: "1.00"}\n      "itemid:5": {name: y, price: "1.00"}\n')
    external.set_stock({"SKU-A": 1})
    messages = problems(external)
    assert not any("is not a VirtPOS item id" in m for m in messages)
    assert any("'itemid:5'" in m and "reserved" in m for m in messages)


async def test_import_keys_items_by_external_id(harness, caplog):
    harness.emulator.put_stock(1, 700, "5", name="без кода")
    provider = harness.validated().providers["virtpos"]
    try:
        imported = await provider.import_store(provider.Binding(warehouse_id=1, item_ids="external"))
    finally:
        await provider.close()
    # An item without an external id cannot be named by this catalog: left out, with a warning.
    assert set(imported.stock) == {"SKU-A", "SKU-B"}
    assert imported.stock["SKU-A"].quantity == 3
    assert "item 700 is on hand in warehouse 1 but has no external id" in caplog.text


# -- warehouses bound by external id ----------------------------------------------------------


@pytest.fixture
def ext_shop(tmp_path) -> VirtPOSHarness:
    harness = VirtPOSHarness(tmp_path / "ext", items=2, binding='ext_warehouse_id: "1C-0042"')
    harness.emulator.add_warehouse(7, "Магазин 7", external_id="1C-0042")
    harness.emulator.add_warehouse(8, "Магазин 8", external_id="1C-0043")
    return harness


async def test_a_store_bound_by_external_warehouse_id_is_read_by_its_internal_id_and_converges(ext_shop):
    emulator = ext_shop.emulator
    assert (await ext_shop.apply(await ext_shop.plan())).status == "applied"
    assert emulator.quantities(7) == {"101": "10.000", "102": "11.000"}
    assert {p.get("ext_warehouseid") for _path, p in writes(emulator)} == {"1C-0042"}
    before = len(emulator.requests)
    assert not (await ext_shop.plan()).has_changes  # against the documented read: converged
    reads = [(r["path"], r["query"]) for r in emulator.requests[before:]]
    assert reads == [("/api/warehouse", {"format": "json"}), ("/api/store", {"format": "json", "warehouseid": "7"})]
    emulator.sell(7, 101, "3")
    plan = await ext_shop.plan()
    assert [c.key for c in plan.changed_stores[0].changes] == ["101"]
    assert (await ext_shop.apply(await ext_shop.plan(full=True))).status == "applied"
    assert not (await ext_shop.plan()).has_changes


@pytest.mark.parametrize("external,found", [("1C-9999", "no warehouse"), ("1C-DUP", "2 warehouses (7, 8)")])
async def test_an_external_warehouse_id_that_is_not_exactly_one_shop_stops_the_plan(ext_shop, external, found):
    ext_shop.emulator.add_warehouse(7, "Магазин 7", external_id="1C-DUP")
    ext_shop.emulator.add_warehouse(8, "Магазин 8", external_id="1C-DUP")
    ext_shop.binding = f'ext_warehouse_id: "{external}"'
    ext_shop.set_stock({"101": 1})
    with pytest.raises(BackendError) as caught:
        await ext_shop.plan()
    assert str(caught.value) == (
        f"stores.yaml:2:70: store shop: VirtPOS has {found} with external_id {external!r} (GET /api/warehouse); "
        "correct ext_warehouse_id in the store's binding, or bind the store with warehouse_id")
    assert [r for r in ext_shop.emulator.requests if r["path"] not in READS] == []


def test_import_of_a_store_bound_by_external_warehouse_id(tmp_path):
    project = copy_example("virtpos-pet-shop", tmp_path)
    emulator = virtpos_emulator_of(project.root)
    emulator.add_warehouse(3, "Магазин 1", external_id="1C-0003")
    emulator.put_stock(3, 17007, "4", lot_number="12345", cogs="780.00")
    project.edit("stores/shops.yaml", "warehouse_id: 3", 'ext_warehouse_id: "1C-0003"')
    result = project.run("import", "virtpos", "--store", "shop-1")
    assert result.exit_code == 0, result.output
    assert '"17007": {quantity: 4, lot_number: "12345"}' in (project.root / "stores/shops.yaml").read_text(encoding="utf-8")
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    project.edit("stores/shops.yaml", '"1C-0003"', '"1C-0004"')
    wrong = project.run("import", "virtpos", "--store", "shop-1")
    assert wrong.exit_code == 1
    assert "VirtPOS has no warehouse with external_id '1C-0004' (GET /api/warehouse)" in wrong.output
