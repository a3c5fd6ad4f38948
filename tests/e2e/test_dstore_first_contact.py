"""First contact with D-Store, the whole flow: D-Store cannot be read and its full sync
replaces whatever a store holds, so nothing the reconciler has not recorded is replaced
unless the store is owned (or --force), and the safety thresholds count only what the
reconciler has recorded.

tests/e2e/test_first_contact.py has the engine's side (refusal, owned, --force, the three
renderings); these are the D-Store cases around it.
"""

from __future__ import annotations

import json
import sqlite3

from dstore_helpers import emulator_of, processed
from harness import DStoreHarness
from project_runner import ProjectRunner
from reconciler.emulation import Fault

MENU = ("menus:\n  m:\n    currency: SGD\n    products:\n"
        "      i0: {name: item 0, price: 2}\n      i1: {name: item 1, price: 3}\n")
CAFE = "  cafe: {name: Cafe, menu: m, backends: {demo: {store_id: c1}}}\n"
BAR = "  bar: {name: Bar, menu: m, backends: {demo: {store_id: c2}}}\n"
NOT_OWNED_NOTE = ("D-Store cannot be read, so no plan can list what this store holds there now; a full sync "
                  "replaces all of it with the catalog's products")


def project(tmp_path, owned: bool) -> ProjectRunner:
    runner = ProjectRunner(tmp_path / "cafe")
    runner.write("reconciler.yaml", 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk'
                 + (", owned: true" if owned else "") + "}\n")
    runner.write("menu.yaml", MENU)
    runner.write("stores.yaml", "stores:\n" + CAFE + BAR)
    return runner


def state_rows(root) -> dict[str, tuple]:
    with sqlite3.connect(root / ".reconciler" / "state.db") as db:
        return {row[0]: row[1:] for row in db.execute("SELECT store, serial, fingerprint, unknown FROM stores")}


def test_a_first_full_sync_of_a_store_not_owned_says_what_it_would_replace_and_how_to_go_on(tmp_path):
    runner = project(tmp_path, owned=False)
    plan = runner.run("plan")
    assert plan.exit_code == 3, plan.output
    assert plan.output.count(f"note: {NOT_OWNED_NOTE}") == 2
    # Nothing is known of the store: shares are of what the plan sends (none unavailable
    # here, nothing removed), and only the unseen contents stop the plan.
    stores = json.loads(runner.run("plan", "--format", "json").stdout)["stores"]
    for store in stores:
        assert store["safety"]["removed"] == 0 and store["safety"]["unavailable"] == 0
        (violation,) = store["safety"]["violations"]
        assert violation.startswith("the reconciler has no record of what demo holds for this store")
    owned = project(tmp_path / "owned", owned=True).run("plan")
    assert owned.exit_code == 0 and NOT_OWNED_NOTE not in owned.output


def test_a_store_that_left_the_catalog_keeps_its_products_and_its_state(tmp_path):
    runner = project(tmp_path, owned=True)
    assert runner.run("apply", "--auto-approve").exit_code == 0
    before = state_rows(runner.root)
    sent = len(emulator_of(runner.root).requests)
    runner.write("stores.yaml", "stores:\n" + CAFE)

    plan = json.loads(runner.run("plan", "--format", "json").stdout)
    bar = next(s for s in plan["stores"] if s["store"] == "bar")
    assert bar["actions"] == [] and bar["path"] == "none"
    assert ("D-Store cannot hold a store without products; its products stay until the store is closed "
            "in D-Store") in bar["warnings"]
    applied = runner.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output

    emulator = emulator_of(runner.root)
    assert len(emulator.requests) == sent  # no empty sync, no status update: nothing sent
    assert sorted(emulator.products("bk", "c2")) == ["i0", "i1"]
    assert state_rows(runner.root) == before  # the state does not claim the products are gone


async def test_an_unknown_outcome_on_a_never_applied_store_is_still_a_first_contact(tmp_path):
    """The first sync of a store not owned was forced, and no answer came: D-Store may hold
    the catalog or what it held before. The next plan still syncs in full, and is still
    refused without --force, since the reconciler has recorded nothing it knows is there."""
    harness = DStoreHarness(tmp_path / "p", stores=1, products=3)
    config = harness.root / "reconciler.yaml"
    config.write_text(config.read_text().replace("owned: true", "owned: false"))
    harness.emulator.seed_store("acct1", "st0", "old", [
        {"posProductId": "old", "type": "SINGLE", "status": "AVAILABLE", "name": "old",
         "price": {"currency": "SGD", "value": 100}}])

    first = await harness.plan()
    assert [v for _, v in first.safety_violations()][0].startswith("the reconciler has no record of what sg holds")
    harness.emulator.faults.add(Fault(kind="unknown", path="/v2/pos/syncProduct", times=3))
    results = await harness.apply(first)  # as with --force
    assert results["st0"].status == "unknown"
    assert list(harness.emulator.products("acct1", "st0")) == ["old"]  # not processed

    again = await harness.plan()
    (store,) = again.stores
    assert store.path == "full" and store.reason.startswith("the last outcome is unknown")
    assert store.unseen and any(NOT_OWNED_NOTE in w for w in store.warnings)
    assert len(again.safety_violations()) == 1  # refused again without --force

    assert (await harness.apply(again))["st0"].status == "applied"
    assert sorted(harness.emulator.products("acct1", "st0")) == ["item0", "item1", "item2"]
    final = await harness.plan()
    assert not final.has_changes and not final.stores[0].unseen and not final.safety_violations()


COMBO_WITHOUT_BEVERAGES = """\
menus:
  combo:
    currency: SGD
    products:
      p1: {name: burger set meal, price: "20.00", sub_products: [g1]}
      g1: {type: GROUP, name: burger, quantity: {min: 1, max: 2}, sub_products: [p2, p3]}
      p2:
        name: chicken burger
        price: "10.00"
        quantity: {min: 0, max: 1000}
        overloads: {g1: {price: 0, quantity: {min: 1, max: 2}}}
      p3:
        name: cheese burger
        price: "15.00"
        quantity: {min: 0, max: 1000}
        overloads: {g1: {price: "5.00", quantity: {min: 0, max: 1}}}
  bundle:
    currency: SGD
    products:
      p1: {name: two cups of coffee, price: "15.00", sub_products: [g1]}
      g1: {type: GROUP, name: beverage, quantity: {min: 2, max: 2}, sub_products: [p2]}
      p2:
        name: coffee
        price: "10.00"
        quantity: {min: 0, max: 1000}
        overloads: {g1: {price: 0, quantity: {min: 2, max: 2}}}
"""


def test_share_thresholds_count_what_was_applied_and_name_their_setting(dstore_examples):
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    sent = len(processed(emulator_of(dstore_examples.root)))
    combo_line = "backends: {demo: {store_id: s5}}}"

    dstore_examples.edit("stores/stores.yaml", combo_line, combo_line[:-1] + ", status: {p2: SOLDOUT, p3: SOLDOUT, p4: SOLDOUT}}")
    unavailable = dstore_examples.run("plan")
    assert unavailable.exit_code == 3
    assert "safety: makes 3 of 7 products unavailable (43%), more than max_unavailable_share 30%" in unavailable.output

    dstore_examples.edit("stores/stores.yaml", ", status: {p2: SOLDOUT, p3: SOLDOUT, p4: SOLDOUT}", "")
    (dstore_examples.root / "menus" / "meals.yaml").write_text(COMBO_WITHOUT_BEVERAGES)
    removed = dstore_examples.run("apply", "--auto-approve")
    assert removed.exit_code == 3
    assert "removes 3 of 7 products (43%), more than max_removed_share 30%" in removed.output
    assert "unseen contents" not in removed.output  # recorded stores are no first contact
    assert len(processed(emulator_of(dstore_examples.root))) == sent  # refused: nothing sent
