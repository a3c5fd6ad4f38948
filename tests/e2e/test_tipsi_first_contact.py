"""First contact with a Tipsi store that already holds a catalog (issue 13, section 1).

Tipsi cannot be read. Store 19771 holds 22 items with external ids (the document's 10003
and 10004 among them) and two older barcode-keyed items; the catalog has the document's
three. A first apply upserts the three with `ext/sync` and leaves every other item as it
is, unless the store is declared owned: then the one `ext/sync_clear` is shown in the plan
as clearing what the reconciler has never seen, and it does.
"""

from __future__ import annotations

import json

import pytest

from project_runner import ProjectRunner, copy_example
from tipsi_helpers import SYNC, SYNC_CLEAR, tipsi_emulator_of, tipsi_syncs

ONLY_WINE_SHOP = ("--backend", "tipsi", "--store", "wine-shop")
OTHERS = [f"2{n:04d}" for n in range(1, 21)]
SEED = {"stores": {"19771": [
    {"external_id": 10003, "barcodes": ["00123345"], "in_stock": 3, "pos_item_name": "Chianti Classico 2019"},
    {"external_id": 10004, "barcodes": ["08234123"], "in_stock": 7, "pos_item_name": "Sancerre 2021"},
    *({"external_id": int(x), "barcodes": [f"7{x}"], "in_stock": 5, "pos_item_name": f"wine {x}"} for x in OTHERS),
    {"id": 501, "barcodes": ["55500001"], "in_stock": 4, "pos_item_name": "old POS item 1"},
    {"id": 502, "barcodes": ["55500002"], "in_stock": 6, "pos_item_name": "old POS item 2"},
]}}


@pytest.fixture
def shop(tmp_path) -> ProjectRunner:
    """The wine-shop example with Tipsi's store 19771 pre-filled (22 + 2 items)."""
    project = copy_example("tipsi-wine-shop", tmp_path)
    project.write("tipsi-seed.json", json.dumps(SEED))
    return project


def stock_of_the_others(project: ProjectRunner) -> dict:
    emulator = tipsi_emulator_of(project.root)
    items = emulator.items(19771)
    return {**{x: items[x]["in_stock"] for x in OTHERS},
            **{item["id"]: item["in_stock"] for item in emulator.barcode_items_of(19771)}}


def test_a_first_apply_to_a_store_not_owned_upserts_the_catalog_and_zeroes_nothing_else(shop):
    plan = shop.run("plan", *ONLY_WINE_SHOP)
    assert plan.exit_code == 0, plan.output
    assert ("tipsi / wine-shop (id 19771 on tipsi): full path - no state recorded for this store yet; every item is "
            "upserted with ext/sync in 1 ext/sync request and nothing the catalog does not name is cleared (the "
            "store is not declared owned)") in plan.output
    assert "unseen contents" not in plan.output and "safety:" not in plan.output
    store = json.loads(shop.run("plan", *ONLY_WINE_SHOP, "--format", "json").stdout)["stores"][0]
    assert store["unseen"] == "" and [a["kind"] for a in store["actions"]] == ["ext/sync"]
    assert store["actions"][0]["effect"]["unseen"] == "kept"
    applied = shop.run("apply", "--auto-approve", *ONLY_WINE_SHOP)
    assert applied.exit_code == 0, applied.output
    assert "tipsi/wine-shop: applied, 1 request (created items 1, updated items 2, cleared items 0)" in applied.output
    [sent] = tipsi_syncs(tipsi_emulator_of(shop.root))
    assert sent["path"] == SYNC.format(19771)
    assert stock_of_the_others(shop) == {**dict.fromkeys(OTHERS, 5), 501: 4, 502: 6}
    again = shop.run("plan", "--detailed-exitcode", *ONLY_WINE_SHOP)
    assert again.exit_code == 0 and "No changes." in again.output


def test_a_first_apply_to_an_owned_store_is_one_sync_clear_shown_as_clearing_unseen_contents(shop):
    shop.edit("stores/stores.yaml", "backends: {tipsi: {store_id: 19771}}", "backends: {tipsi: {store_id: 19771, owned: true}}")
    plan = shop.run("plan", *ONLY_WINE_SHOP)
    assert plan.exit_code == 0, plan.output
    assert ("full path - no state recorded for this store yet; one ext/sync_clear with the whole catalog, never "
            "chunked (the store is declared owned)") in plan.output
    assert ("0. ext/sync_clear: sync_clear of 3 items: every other item of the store goes out of stock, items without "
            "an external_id (Tipsi's older barcode-keyed ones) included") in plan.output
    assert ("unseen contents: the reconciler has no record of what tipsi holds for this store, and action 0 "
            "(ext/sync_clear) replaces or clears whatever it does not name (the store is declared owned)") in plan.output
    markdown = shop.run("plan", *ONLY_WINE_SHOP, "--format", "markdown").output
    assert "Unseen contents: the reconciler has no record of what tipsi holds for this store" in markdown
    store = json.loads(shop.run("plan", *ONLY_WINE_SHOP, "--format", "json").stdout)["stores"][0]
    assert store["owned"] is True and store["unseen"].endswith("replaces or clears whatever it does not name")
    assert store["safety"]["violations"] == []
    applied = shop.run("apply", "--auto-approve", *ONLY_WINE_SHOP)
    assert applied.exit_code == 0, applied.output
    assert "tipsi/wine-shop: applied, 1 request (created items 1, updated items 2, cleared items 22)" in applied.output
    [sent] = tipsi_syncs(tipsi_emulator_of(shop.root))
    assert sent["path"] == SYNC_CLEAR.format(19771) and len(sent["body"]) == 3
    assert stock_of_the_others(shop) == {**dict.fromkeys(OTHERS, 0), 501: 0, 502: 0}  # zeroed, never deleted


def test_a_first_apply_that_sends_most_items_out_of_stock_is_refused_unless_forced(shop):
    # The stock entries are missing: every item would go to in_stock 0, and Tipsi may
    # hold them in stock now. The first plan cannot see that, so it counts them.
    shop.edit("stores/stores.yaml", '    stock: {"10003": 12, "10004": 12, "10005": 33}\n', "")
    plan = shop.run("plan", *ONLY_WINE_SHOP)
    assert plan.exit_code == 3, plan.output
    assert ("safety: makes 3 of 3 products unavailable (100%), more than max_unavailable_share 30% (the backend may "
            "offer them now: the reconciler has never seen this store)") in plan.output
    assert shop.run("apply", "--auto-approve", *ONLY_WINE_SHOP).exit_code == 3
    assert tipsi_emulator_of(shop.root).requests == []  # nothing was sent
    forced = shop.run("apply", "--auto-approve", "--force", *ONLY_WINE_SHOP)
    assert forced.exit_code == 0, forced.output
    assert tipsi_emulator_of(shop.root).items(19771)["10004"]["in_stock"] == 0


def test_one_item_out_of_stock_among_many_is_no_safety_concern(shop):
    shop.edit("stores/stores.yaml", '"10005": 33}', '"10005": 0}')
    plan = shop.run("plan", *ONLY_WINE_SHOP)
    assert plan.exit_code == 3  # 1 of 3 is 33%, over the example's 30%
    shop.edit("reconciler.yaml", "max_unavailable_share: 0.3", "max_unavailable_share: 0.4")
    plan = shop.run("plan", *ONLY_WINE_SHOP)
    assert plan.exit_code == 0, plan.output
    assert "unavailable: 10005 (Sparkling Water)" in plan.output


def test_a_barcode_an_older_barcode_keyed_item_holds_fails_the_store_and_says_what_to_do(shop):
    shop.edit("menus/wine-shop.yaml", 'barcodes: ["08123456"]', 'barcodes: ["55500002"]')
    applied = shop.run("apply", "--auto-approve", *ONLY_WINE_SHOP)
    assert applied.exit_code == 1
    assert ("tipsi/wine-shop: failed, 0 requests - action 0 (ext/sync): HTTP 400: item 10005: barcodes: Barcode 55500002 is "
            "already used by item 502 (no external_id) in this store. Tipsi refused the whole batch and applied "
            "none of it: correct the items named above in the catalog and apply again. An item Tipsi holds without "
            "an external_id (an older barcode-keyed item) keeps its barcodes until it gets its external_id through "
            "Tipsi's old barcode sync, as the migration section of Tipsi's POS sync document says.") in applied.output
    assert stock_of_the_others(shop)[502] == 6 and tipsi_emulator_of(shop.root).items(19771)["10003"]["in_stock"] == 3
    # Nothing was recorded: the next plan is still a first contact.
    assert "no state recorded for this store yet" in shop.run("plan", *ONLY_WINE_SHOP).output
