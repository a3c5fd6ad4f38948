"""End to end through the CLI against the in-process VirtPOS emulator (catalogs/virtpos-pet-shop)."""

from __future__ import annotations

import json

import pytest

from project_runner import ProjectRunner, copy_example
from virtpos_helpers import UPDATE, VERSION, ZERO, virtpos_emulator_of, writes

STORES = "stores/shops.yaml"


@pytest.fixture
def pet_shop(tmp_path) -> ProjectRunner:
    return copy_example("virtpos-pet-shop", tmp_path)


def test_first_apply_sends_one_update_per_item(pet_shop):
    result = pet_shop.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "virtpos/shop-1: applied, 2 requests (new items 2)" in result.output
    stock = virtpos_emulator_of(pet_shop.root).stock(3)
    assert stock["17007"]["quantity"] == "2.000" and stock["17007"]["lot_number"] == "12345"
    assert stock["17007"]["cogs"] == "780.00"
    assert stock["17008"]["quantity"] == "14.500"


def test_a_sale_at_the_till_is_drift_and_apply_restores_it(pet_shop):
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    virtpos_emulator_of(pet_shop.root).sell(3, 17007, "1")
    # The state store alone does not know about the sale.
    assert pet_shop.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0
    plan = pet_shop.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "~ 17007: quantity 1.000 -> 2.000" in plan.output
    assert "light path - 1 item (1 changed), one updateOnhand each" in plan.output
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    path, params = writes(virtpos_emulator_of(pet_shop.root))[-1]
    assert path == UPDATE and params["itemid"] == "17007" and params["quantity"] == "2.000"
    assert virtpos_emulator_of(pet_shop.root).quantities(3)["17007"] == "2.000"
    assert pet_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_an_item_absent_from_the_catalog_is_set_to_zero(pet_shop):
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    virtpos_emulator_of(pet_shop.root).put_stock(3, 17099, "4", name="Поводок")
    plan = pet_shop.run("plan")
    assert "- 17099" in plan.output
    assert pet_shop.run("apply", "--auto-approve").exit_code == 3  # 1 of 3 removed: above 30%
    assert pet_shop.run("apply", "--auto-approve", "--force").exit_code == 0
    path, params = writes(virtpos_emulator_of(pet_shop.root))[-1]
    assert (path, params) == (UPDATE, {"format": "xml", "warehouseid": "3", "itemid": "17099", "quantity": "0.000"})
    assert pet_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_the_full_path_runs_three_steps_and_zeroes_exactly_the_absent_items(pet_shop):
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    emulator = virtpos_emulator_of(pet_shop.root)
    emulator.put_stock(3, 17098, "4")
    emulator.put_stock(3, 17099, "6")
    emulator.put_stock(3, 17100, "0")
    assert pet_shop.run("plan", "--full", "--force", "--out", str(pet_shop.root / "plan.json")).exit_code == 0
    plan = json.loads((pet_shop.root / "plan.json").read_text())
    [store] = plan["stores"]
    assert [a["kind"] for a in store["actions"]] == ["getOnhandVersion", "updateOnhand", "updateOnhand", "setZeroOnhand"]
    before = len(emulator.requests)
    result = pet_shop.run("apply", "--auto-approve", "--full", "--force")
    assert result.exit_code == 0, result.output
    assert "virtpos/shop-1: applied, 4 requests (updated items 2)" in result.output
    sent = virtpos_emulator_of(pet_shop.root).requests[before:]
    calls = [(r["path"], r["params"].get("itemid")) for r in sent if r["path"] != "/api/store"]
    assert calls == [(VERSION, None), (UPDATE, "17007"), (UPDATE, "17008"), (ZERO, None)]
    assert sent[-1]["params"]["version"] == str(next(r for r in sent if r["path"] == VERSION)["answer"]["version"])
    assert virtpos_emulator_of(pet_shop.root).quantities(3) == {
        "17007": "2.000", "17008": "14.500", "17098": "0.000", "17099": "0.000", "17100": "0.000"}
    assert pet_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_import_of_a_live_store_then_plan_shows_no_changes(pet_shop):
    # An existing shop: VirtPOS already holds stock; the catalog declares the store only.
    emulator = virtpos_emulator_of(pet_shop.root)
    emulator.put_stock(3, 17007, "3", name="63838 Корм для собак 2кг", price="1126.00", cogs="780.00",
                       lot_number="12345", expir_date="2027-01-31")  # the read has no dates: not imported
    emulator.put_stock(3, 17020, "5.250", name="Лакомство для собак", price="99.90")
    emulator.put_stock(3, 17021, "0", name="Пусто")
    pet_shop.write(STORES, """\
stores:
  # the shop on Lenina street
  shop-1:
    name: Магазин 1
    menu: pet-food
    backends: {virtpos: {warehouse_id: 3}}  # VirtPOS shop 3
    stock:
      "17008": 1   # counted by hand
""")
    result = pet_shop.run("import", "virtpos", "--store", "shop-1")
    assert result.exit_code == 0, result.output
    assert "1 products added to menus/pet-food.yaml: 17020" in result.output
    stores = (pet_shop.root / STORES).read_text(encoding="utf-8")
    assert "# the shop on Lenina street" in stores and "# VirtPOS shop 3" in stores
    assert '"17008": 0   # counted by hand' in stores
    assert stores.index('"17008"') < stores.index('"17007"') < stores.index('"17020"')
    assert '"17007":\n        quantity: 3\n        lot_number: "12345"\n      "17020"' in stores
    assert '"17020": 5.25' in stores and "17021" not in stores
    menu = (pet_shop.root / "menus/pet-food.yaml").read_text(encoding="utf-8")
    assert "# VirtPOS items are SINGLE products" in menu
    assert '"17020": {name: Лакомство для собак, price: "99.90"}' in menu
    assert pet_shop.run("validate").exit_code == 0
    plan = pet_shop.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output


def test_import_names_what_it_cannot_do(pet_shop):
    result = pet_shop.run("import", "virtpos", "--store", "nowhere")
    assert result.exit_code == 1
    assert "store 'nowhere' is not bound to backend 'virtpos'" in result.output


def test_a_backend_that_cannot_be_read_says_so(dstore_examples):
    result = dstore_examples.run("import", "demo", "--store", "basic")
    assert result.exit_code == 1
    assert "backend demo (dstore) cannot be read; there is nothing to import" in result.output


def test_the_generated_emulator_key_stays_in_its_file(pet_shop):
    outputs = [pet_shop.run("-vv", "apply", "--auto-approve").output]
    virtpos_emulator_of(pet_shop.root).sell(3, 17008, "2")
    outputs.append(pet_shop.run("-vv", "plan", "--out", str(pet_shop.root / "plan.json")).output)
    outputs.append(pet_shop.run("-vv", "apply", str(pet_shop.root / "plan.json")).output)
    emulator_dir = pet_shop.root / ".reconciler" / "emulators" / "virtpos"
    key = (emulator_dir / "apikey").read_text().strip()
    assert len(key) > 20 and all(key not in out for out in outputs)
    for path in pet_shop.root.rglob("*"):
        if path.is_file() and path not in (emulator_dir / "apikey", emulator_dir / "data.json"):
            assert key.encode() not in path.read_bytes(), path
    assert oct((emulator_dir / "apikey").stat().st_mode & 0o777) == "0o600"


def test_import_leaves_a_stock_csv_alone(pet_shop):
    pet_shop.write("stock.csv", "product,quantity\n17007,2\n")
    pet_shop.edit(STORES, '''    stock:
      "17007": {quantity: 2, lot_number: "12345"}
      "17008": 14.5
''', "    stock: stock.csv\n")
    result = pet_shop.run("import", "virtpos", "--store", "shop-1")
    assert result.exit_code == 1
    assert "store 'shop-1' reads its stock from stock.csv; import writes a stock: mapping only" in result.output
    assert (pet_shop.root / "stock.csv").read_text() == "product,quantity\n17007,2\n"


def test_lot_dates_are_sent_once_then_compared_with_what_was_applied(pet_shop):
    # GET /api/store returns lot_number but no dates: they are compared with the last apply.
    pet_shop.edit(STORES, '"17007": {quantity: 2, lot_number: "12345"}',
                  '"17007": {quantity: 2, lot_number: "12345", manuf_date: "2026-01-10", expir_date: "2027-01-31"}')
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    record = virtpos_emulator_of(pet_shop.root).stock(3)["17007"]
    assert (record["manuf_date"], record["expir_date"]) == ("2026-01-10", "2027-01-31")
    assert pet_shop.run("plan", "--detailed-exitcode").exit_code == 0  # nothing re-sent
    # A saved plan is checked against a new live read filled the same way, so it applies.
    virtpos_emulator_of(pet_shop.root).sell(3, 17008, "1")
    plan_file = str(pet_shop.root / "plan.json")
    assert pet_shop.run("plan", "--out", plan_file).exit_code == 0
    applied = pet_shop.run("apply", plan_file)
    assert applied.exit_code == 0, applied.output
    # A changed date is a change; a date the catalog drops is said to stay in VirtPOS.
    pet_shop.edit(STORES, 'expir_date: "2027-01-31"', 'expir_date: "2027-02-28"')
    plan = pet_shop.run("plan")
    assert "~ 17007: expir_date 2027-01-31 -> 2027-02-28" in plan.output
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    assert virtpos_emulator_of(pet_shop.root).stock(3)["17007"]["expir_date"] == "2027-02-28"
    pet_shop.edit(STORES, ', manuf_date: "2026-01-10", expir_date: "2027-02-28"', "")
    plan = pet_shop.run("plan")
    assert ("note: item 17007: the catalog no longer sets manuf_date and expir_date; VirtPOS keeps manuf_date "
            "2026-01-10, expir_date 2027-02-28 (updateOnhand cannot clear it) and it is no longer compared") in plan.output
    assert pet_shop.run("apply", "--auto-approve").exit_code == 0
    assert pet_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_an_item_virtpos_does_not_know_fails_with_its_message_and_what_to_do(pet_shop):
    pet_shop.edit("menus/pet-food.yaml", '"17008": {name', '"17099": {name')
    pet_shop.edit(STORES, '"17008": 14.5', '"17099": 14.5')
    result = pet_shop.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert ("virtpos/shop-1: failed, 1 request (new items 1) - action 1 (updateOnhand): success=0: "
            "/api/store/updateOnhand: Товар не найден: 17099; VirtPOS changed nothing for this request: correct "
            "what it names (in the catalog, or the shop or item in VirtPOS) and make a new plan") in result.output
    emulator = virtpos_emulator_of(pet_shop.root)
    assert emulator.quantities(3) == {"17007": "2.000"}  # no phantom item 17099
    plan = pet_shop.run("plan")
    assert "~ 17099: quantity 0.000 -> 14.500" in plan.output and "17007" not in plan.output


def test_an_unknown_warehouse_id_stops_the_plan_naming_the_binding(pet_shop):
    pet_shop.edit(STORES, "warehouse_id: 3", "warehouse_id: 4")
    result = pet_shop.run("plan")
    assert result.exit_code == 1
    assert "stores/shops.yaml:5:40: store shop-1: success=0: /api/store: Склад не найден: 4" in result.output
    assert writes(virtpos_emulator_of(pet_shop.root)) == []


def test_extra_fields_are_asked_for_only_when_used(pet_shop):
    # The catalog sets a cost, so plans ask for cogs; import asks for what it writes.
    assert pet_shop.run("plan").exit_code == 0
    assert pet_shop.run("import", "virtpos", "--store", "shop-1").exit_code == 0
    reads = [r["query"] for r in virtpos_emulator_of(pet_shop.root).requests if r["path"] == "/api/store"]
    assert reads == [{"format": "xml", "warehouseid": "3", "fields": "cogs"},
                     {"format": "xml", "warehouseid": "3", "fields": "itemname:cogs:price"}]
    pet_shop.edit("menus/pet-food.yaml", ', cost: "780.00"', "")
    assert pet_shop.run("plan").exit_code == 0
    assert virtpos_emulator_of(pet_shop.root).requests[-1]["query"] == {"format": "xml", "warehouseid": "3"}
