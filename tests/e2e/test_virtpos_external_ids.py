"""A store bound with `item_ids: external`: the catalog's product ids are the items'
external ids, written with `ext_itemid` and matched to live items through `/api/item`."""

from __future__ import annotations

import pytest

from reconciler.errors import ValidationFailed

from virtpos_helpers import UPDATE, VERSION, ZERO, VirtPOSHarness, writes


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
    emulator.add_warehouse(1, "Магазин 1")
    emulator.put_stock(1, 501, "3", external_id="SKU-A")
    emulator.put_stock(1, 502, "11", external_id="SKU-B")
    return harness


def item_writes(harness) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(path, p.get("itemid"), p.get("ext_itemid"), p.get("quantity")) for path, p in writes(harness.emulator)]


async def test_plan_and_apply_address_items_by_external_id(harness):
    plan = await harness.plan()
    [store] = plan.stores
    assert {(c.op, c.key) for c in store.changes} == {("update", "SKU-A"), ("update", "17")}  # no record: on hand 0
    assert (await harness.apply(plan)).status == "applied"
    # "17" is an external id here too: a new item, not item 17.
    assert item_writes(harness) == [(UPDATE, None, "SKU-A", "10.000"), (UPDATE, None, "17", "12.000")]
    quantities = harness.emulator.quantities(1)
    [new_id] = set(quantities) - {"501", "502"}
    assert new_id != "17"
    assert quantities == {"501": "10.000", "502": "11.000", new_id: "12.000"}
    assert not (await harness.plan()).has_changes


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
