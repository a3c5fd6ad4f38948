"""First contact with a VirtPOS shop that already holds stock (as real shops do).

VirtPOS can be read, so the first plan reads the warehouse and the safety thresholds
count what is really there. What the shop holds beyond the catalog was never applied by
the reconciler: unless the store is declared owned it is left as it is (and said), on the
first apply and every later one. An owned store's extra items are removals, so a first
apply that would zero most of a shop is refused. A plan that cannot read (`--no-refresh`,
no state) has not seen the shop: it sets the catalog's items and zeroes nothing unless
the store is owned.
"""

from __future__ import annotations

import json

import pytest

from project_runner import ProjectRunner, copy_example
from virtpos_helpers import UPDATE, VERSION, ZERO, virtpos_emulator_of, writes

STORES = "stores/shops.yaml"
EXTRAS = [str(17101 + i) for i in range(10)]
OWNED = "emulator_seed: virtpos-seed.json, owned: true}"
NOT_OWNED = "emulator_seed: virtpos-seed.json}"


@pytest.fixture
def shop(tmp_path) -> ProjectRunner:
    """The pet shop's warehouse 3 already holds 17007 and ten items the catalog lacks; the
    store is not declared owned."""
    project = copy_example("virtpos-pet-shop", tmp_path)
    project.edit("reconciler.yaml", OWNED, NOT_OWNED)
    emulator = virtpos_emulator_of(project.root)
    emulator.put_stock(3, 17007, "5", name="63838 Корм для собак 2кг", lot_number="12345", cogs="780.00")
    for item in EXTRAS:
        emulator.put_stock(3, item, "3", name=f"товар {item}")
    return project


def test_what_a_shop_holds_beyond_the_catalog_is_seen_counted_and_left_alone(shop):
    plan = shop.run("plan")
    assert plan.exit_code == 0, plan.output
    assert "~ 17007: quantity 5.000 -> 2.000" in plan.output
    assert not any(f"- {item}" in plan.output for item in EXTRAS)
    assert ("10 resources the backend holds beyond the catalog (17101, 17102, 17103, 17104, 17105, 17106, 17107, "
            "17108, 17109, 17110) are left as they are: the reconciler never applied them and the store is not "
            "declared owned") in plan.output
    assert "unseen contents" not in plan.output  # it was read: nothing is unseen
    [store] = json.loads(shop.run("plan", "--format", "json").stdout)["stores"]
    assert store["observed_source"] == "live" and store["unseen"] == ""
    assert (store["safety"]["total"], store["safety"]["removed"]) == (12, 0)  # what is really there
    for args in (["--auto-approve"], ["--auto-approve", "--full"]):  # the full path sends no setZeroOnhand either
        assert shop.run("apply", *args).exit_code == 0
        emulator = virtpos_emulator_of(shop.root)
        assert ZERO not in [path for path, _params in writes(emulator)]
        assert all(emulator.quantities(3)[item] == "3.000" for item in EXTRAS)
    again = shop.run("plan", "--detailed-exitcode")  # recorded now, and still not the reconciler's
    assert again.exit_code == 0 and "10 resources the backend holds beyond the catalog" in again.output


def test_an_owned_shop_is_zeroed_beyond_the_catalog_and_safety_counts_what_is_there(shop):
    shop.edit("reconciler.yaml", NOT_OWNED, OWNED)
    plan = shop.run("plan")
    assert plan.exit_code == 3, plan.output
    assert all(f"- {item}" in plan.output for item in EXTRAS)
    assert "removes 10 of 12 products (83%), more than max_removed_share 30%" in plan.output
    full = shop.run("plan", "--full")
    assert full.exit_code == 3 and "removes 10 of 12 products" in full.output
    applied = shop.run("apply", "--auto-approve")
    assert applied.exit_code == 3 and "nothing was sent" in applied.output
    emulator = virtpos_emulator_of(shop.root)
    assert writes(emulator) == []
    assert shop.run("apply", "--auto-approve", "--force").exit_code == 0
    assert all(virtpos_emulator_of(shop.root).quantities(3)[item] == "0.000" for item in EXTRAS)


def test_import_adopts_what_the_shop_holds_and_the_first_apply_zeroes_nothing(shop):
    assert shop.run("import", "virtpos", "--store", "shop-1").exit_code == 0
    plan = shop.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert virtpos_emulator_of(shop.root).quantities(3)["17101"] == "3.000"


def test_a_few_items_outside_the_catalog_of_an_owned_shop_are_seen_planned_and_zeroed(tmp_path):
    project = copy_example("virtpos-pet-shop", tmp_path)  # the example's shop is owned
    project.edit("reconciler.yaml", "max_removed_share: 0.3", "max_removed_share: 0.5")
    virtpos_emulator_of(project.root).put_stock(3, 17101, "3", name="Поводок")
    virtpos_emulator_of(project.root).put_stock(3, 17102, "0", name="Пусто")  # not on hand: left alone
    plan = project.run("plan")
    assert plan.exit_code == 0, plan.output
    assert "- 17101" in plan.output and "17102" not in plan.output
    assert "absent from the catalog (set to 0)" in plan.output
    assert project.run("apply", "--auto-approve").exit_code == 0
    assert virtpos_emulator_of(project.root).quantities(3) == {"17101": "0.000", "17102": "0.000",
                                                                "17007": "2.000", "17008": "14.500"}


def test_a_first_plan_that_cannot_read_zeroes_nothing_unless_the_store_is_owned(shop):
    plan = shop.run("plan", "--no-refresh")
    assert plan.exit_code == 0, plan.output
    assert "only items the reconciler applied before are zeroed (the store is not declared owned" in plan.output
    assert "setZeroOnhand" not in plan.output and "unseen contents" not in plan.output
    assert shop.run("apply", "--auto-approve", "--no-refresh").exit_code == 0
    emulator = virtpos_emulator_of(shop.root)
    assert [path for path, _params in writes(emulator)] == [UPDATE, UPDATE]
    assert all(emulator.quantities(3)[item] == "3.000" for item in EXTRAS)


def test_an_owned_store_may_be_zeroed_on_a_first_plan_that_cannot_read(shop):
    shop.edit(STORES, "backends: {virtpos: {warehouse_id: 3}}", "backends: {virtpos: {warehouse_id: 3, owned: true}}")
    plan = shop.run("plan", "--no-refresh")
    assert plan.exit_code == 0, plan.output
    assert ("unseen contents: the reconciler has no record of what virtpos holds for this store, and action 3 "
            "(setZeroOnhand) replaces or clears whatever it does not name (the store is declared owned)") in plan.output
    assert shop.run("apply", "--auto-approve", "--no-refresh").exit_code == 0
    emulator = virtpos_emulator_of(shop.root)
    assert [path for path, _params in writes(emulator)] == [VERSION, UPDATE, UPDATE, ZERO]
    assert all(emulator.quantities(3)[item] == "0.000" for item in EXTRAS)
