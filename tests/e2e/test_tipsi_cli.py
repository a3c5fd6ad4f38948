"""End to end through the CLI against the in-process Tipsi emulator (catalogs/tipsi-wine-shop)."""

from __future__ import annotations

import json

import pytest

from project_runner import ProjectRunner, copy_example
from tipsi_helpers import SYNC, tipsi_emulator_of, tipsi_syncs

# The document's batch: its external ids are JSON integers, and so are ours for such ids.
SAMPLE = [
    {"external_id": 10003, "barcodes": ["00123345"], "in_stock": 12},
    {"external_id": 10004, "barcodes": ["08234123"], "in_stock": 12},
    {"external_id": 10005, "barcodes": ["08123456"], "in_stock": 33},
]
STORES = "stores/stores.yaml"


@pytest.fixture
def wine_shop(tmp_path) -> ProjectRunner:
    return copy_example("tipsi-wine-shop", tmp_path)


def sample_fields(body: list[dict]) -> list[dict]:
    return [{k: item[k] for k in ("external_id", "barcodes", "in_stock")} for item in body]


def wine_shop_syncs(runner: ProjectRunner) -> list[dict]:
    return [r for r in tipsi_syncs(tipsi_emulator_of(runner.root)) if "/store/19771/" in r["path"]]


def test_first_apply_sends_the_document_sample_as_one_request(wine_shop):
    plan = wine_shop.run("plan")
    assert "tipsi / wine-shop (id 19771 on tipsi): full path - no state recorded for this store yet" in plan.output
    result = wine_shop.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "tipsi/wine-shop: applied, 1 request (created items 1, updated items 2, cleared items 0)" in result.output
    [sent] = wine_shop_syncs(wine_shop)
    # The store is not declared owned: the first contact is the document's own ext/sync,
    # which clears nothing Tipsi held before.
    assert sent["path"] == SYNC.format(19771)
    assert sample_fields(sent["body"]) == SAMPLE
    assert sent["response"] == {"created_items": 1, "updated_items": 2, "cleared_items": 0}
    items = tipsi_emulator_of(wine_shop.root).items(19771)
    assert {k: (v["in_stock"], v["matched"]) for k, v in items.items()} == {
        "10003": (12, True), "10004": (12, True), "10005": (33, False)}
    assert items["10004"] == {"matched": True, "external_id": "10004", "barcodes": ["08234123"], "in_stock": 12,
                              "pos_item_name": "Sancerre 2021", "price": "31.50", "unit_size": "750ml",
                              "category": "wine"}
    again = wine_shop.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output


def test_the_sample_as_a_light_sync_updates_two_and_creates_one(wine_shop):
    # Start where the document starts: Tipsi holds 10003 and 10004, the catalog too.
    wine_shop.edit("menus/wine-shop.yaml", '      "10005"', '      # "10005"')
    wine_shop.edit(STORES, '{"10003": 12, "10004": 12, "10005": 33}', '{"10003": 3, "10004": 7}')
    assert wine_shop.run("apply", "--auto-approve").exit_code == 0
    wine_shop.edit("menus/wine-shop.yaml", '      # "10005"', '      "10005"')
    wine_shop.edit(STORES, '{"10003": 3, "10004": 7}', '{"10003": 12, "10004": 12, "10005": 33}')
    plan = wine_shop.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "light path - 1 new, 2 changed items in 1 ext/sync request" in plan.output
    result = wine_shop.run("apply", "--auto-approve")
    assert "tipsi/wine-shop: applied, 1 request (created items 1, updated items 2, cleared items 0)" in result.output
    sent = wine_shop_syncs(wine_shop)[-1]
    assert sent["path"] == SYNC.format(19771)
    assert sample_fields(sent["body"]) == SAMPLE
    assert wine_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_stock_change_sends_one_item(wine_shop):
    assert wine_shop.run("apply", "--auto-approve").exit_code == 0
    wine_shop.edit(STORES, '"10004": 12,', '"10004": 5,')
    plan = wine_shop.run("plan")
    assert "~ 10004 (Sancerre 2021): in_stock 12 -> 5" in plan.output
    assert wine_shop.run("apply", "--auto-approve").exit_code == 0
    sent = wine_shop_syncs(wine_shop)[-1]
    assert sent["path"] == SYNC.format(19771)
    assert [item["external_id"] for item in sent["body"]] == [10004]
    assert sent["body"][0]["in_stock"] == 5
    assert sent["response"] == {"created_items": 0, "updated_items": 1, "cleared_items": 0}
    assert wine_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_removed_item_is_set_to_zero_and_never_deleted(wine_shop):
    assert wine_shop.run("apply", "--auto-approve").exit_code == 0
    wine_shop.edit("menus/wine-shop.yaml", '      "10005"', '      # "10005"')
    wine_shop.edit(STORES, ', "10005": 33', "")
    # One of three products removed is 33%, above the default 30% threshold.
    assert wine_shop.run("apply", "--auto-approve").exit_code == 3
    result = wine_shop.run("apply", "--auto-approve", "--force")
    assert result.exit_code == 0, result.output
    sent = wine_shop_syncs(wine_shop)[-1]
    assert sent["path"] == SYNC.format(19771)
    assert sent["body"] == [{"external_id": 10005, "in_stock": 0}]
    items = tipsi_emulator_of(wine_shop.root).items(19771)
    assert items["10005"]["in_stock"] == 0 and items["10005"]["barcodes"] == ["08123456"]
    assert not any(r["method"] == "DELETE" for r in tipsi_emulator_of(wine_shop.root).requests)
    assert wine_shop.run("plan", "--detailed-exitcode").exit_code == 0


def test_full_resync_of_an_owned_store_is_one_sync_clear(wine_shop):
    wine_shop.edit("reconciler.yaml", "emulator_seed: tipsi-seed.json}", "emulator_seed: tipsi-seed.json, owned: true}")
    assert wine_shop.run("apply", "--auto-approve").exit_code == 0
    plan = json.loads(wine_shop.run("plan", "--full", "--format", "json").output)
    [store] = [s for s in plan["stores"] if s["backend"] == "tipsi" and s["store"] == "wine-shop"]
    assert store["path"] == "full"
    assert [(a["kind"], len(a["body"])) for a in store["actions"]] == [("ext/sync_clear", 3)]


def test_what_tipsi_cannot_take_is_reported_at_file_line_col(wine_shop):
    # Everything the emulator (and Tipsi, as documented) would refuse, refused at its line.
    wine_shop.write("menus/more.yaml", """\
menus:
  more:
    currency: KWD
    products:
      no-code:  {name: no barcode, price: "5.000", category: wine}
      empty:    {name: empty list, price: "5.000", barcodes: [], category: wine}
      twin-a:   {name: twin a, price: "5.000", barcodes: ["555"], category: wine}
      twin-b:   {name: twin b, price: "5.000", barcodes: ["555"], category: wine}
      sake:     {name: sake, price: "5.000", barcodes: ["556"], category: spirits}
      nocat:    {name: no category, price: "5.000", barcodes: ["557"]}
      blank:    {name: " ", price: "5.000", barcodes: ["558", ""], category: wine, unit_size: ""}
      twice:    {name: twice, price: "5.000", barcodes: ["559", "559"], category: drink}
      fils:     {name: fils, price: "5.125", barcodes: ["560"], category: drink}
      choice:   {type: GROUP, name: a choice, sub_products: [twin-a]}
      lemon:    {type: MODIFIER, name: lemon, price: "0"}
""")
    wine_shop.write("stores/more.yaml", """\
stores:
  more:
    name: more
    menu: more
    backends: {tipsi: {store_id: 4}}
    prices: {sake: "1.001"}
    stock:
      twin-a: 1.5
      twin-b: -2
      sake: 2147483648
""")
    result = wine_shop.run("validate")
    assert result.exit_code == 1
    out = result.output
    assert "menus/more.yaml:5:7: error: 'no-code' has no barcodes; Tipsi needs at least one to create an item" in out
    assert "menus/more.yaml:6:62: error: 'empty' has no barcodes" in out
    assert "menus/more.yaml:7:58: error: barcode '555' is used by more than one product of menu 'more'" in out
    assert "menus/more.yaml:8:58: error: barcode '555' is used by more than one product" in out
    assert "menus/more.yaml:9:75: error: category 'spirits' is not one of Tipsi's: wine, drink" in out
    assert ("menus/more.yaml:10:7: error: 'nocat' has no category; Tipsi needs one (wine or drink) to create an item, "
            "and any item sent may be new to it") in out
    assert "menus/more.yaml:11:24: error: name of 'blank' is blank; Tipsi takes no blank text (Tipsi's pos_item_name)" in out
    assert "menus/more.yaml:11:55: error: barcode '' of 'blank' is blank; Tipsi takes no blank text" in out
    assert "menus/more.yaml:11:95: error: unit_size of 'blank' is blank; Tipsi takes no blank text (Tipsi's unit_size)" in out
    assert "menus/more.yaml:12:57: error: barcode '559' is listed twice for 'twice'" in out
    assert ("menus/more.yaml:13:37: error: price 5.125 of 'fils' has more than 2 decimal places; Tipsi's price "
            "takes cents") in out
    assert "stores/more.yaml:6:20: error: price 1.001 of 'sake' has more than 2 decimal places" in out
    assert "stores/more.yaml:8:15: error: stock 1.5 of 'twin-a' is not a whole number from 0 to 2147483647" in out
    assert "stores/more.yaml:9:15: error: stock -2 of 'twin-b' is not a whole number" in out
    assert "stores/more.yaml:10:13: error: stock 2147483648 of 'sake' is not a whole number" in out
    # GROUP and MODIFIER products are not Tipsi items: no finding names them.
    assert "choice" not in out and "lemon" not in out
