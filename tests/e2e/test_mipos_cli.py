"""End to end through the CLI against the in-process miPOS emulator (catalogs/mipos-inventory)."""

from __future__ import annotations

import json

import pytest

from mipos_helpers import STOCK, SYNC, mipos_emulator_of, processed
from project_runner import ProjectRunner, copy_example

# The body example of the document's `system/sync`, as written there.
DOCUMENT_SYNC = json.loads("""{
"items": [
{"name": "Testing item 1", "external_id": "item_abc123", "purchase_unit_external_id": "pos_u1",
 "consumption_unit_external_id": "pos_u2", "supplier_external_id": "pos_sup_1", "cost": "1250", "stock": "11.22"},
{"name": "Testing item 2", "external_id": "item_abc456", "purchase_unit_external_id": "pos_u2",
 "consumption_unit_external_id": "pos_u2", "supplier_external_id": "pos_sup_1", "cost": "100", "stock": "5.50"}
],
"user_id_tps": "30",
"inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9",
"units": [{"name": "Unit 1", "short_name": "u1", "external_id": "pos_u1"},
          {"name": "Unit 2", "short_name": "u2", "external_id": "pos_u2"}],
"suppliers": [{"name": "supplier 1", "external_id": "pos_sup_1"}]
}""")
INVENTORY = "inventory.yaml"


@pytest.fixture
def kitchen(tmp_path) -> ProjectRunner:
    return copy_example("mipos-inventory", tmp_path)


def test_first_apply_sends_the_document_sample_as_one_sync(kitchen):
    plan = kitchen.run("plan")
    assert "mipos / kitchen (id 12 on mipos): full path - no state recorded for this store yet" in plan.output
    result = kitchen.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    emulator = mipos_emulator_of(kitchen.root)
    [sync] = processed(emulator, SYNC.format(12))
    assert sync["body"] == DOCUMENT_SYNC
    assert sync["response"] == {"message": "Synchronization data was sent to the inventory system.", "data": None}
    assert emulator.webhooks == {"3": "http://127.0.0.1:8090/webhooks/mipos"}
    again = kitchen.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes." in again.output


def test_a_stock_change_is_one_movement_as_in_the_document(kitchen):
    kitchen.edit(INVENTORY, "item_abc123: 11.22", "item_abc123: 13.69")
    assert kitchen.run("apply", "--auto-approve").exit_code == 0
    kitchen.edit(INVENTORY, "item_abc123: 13.69", "item_abc123: 12.44")
    plan = kitchen.run("plan")
    assert "light path - stock of 1 item changed: 1 stock/update movement" in plan.output
    assert "stock/update: remove 1.25 of item_abc123 (now 12.44)" in plan.output
    assert kitchen.run("apply", "--auto-approve").exit_code == 0
    [move] = processed(mipos_emulator_of(kitchen.root), STOCK.format(12))
    body = move["body"]
    assert {k: body[k] for k in ("user_id_tps", "current_stock", "quantity", "movement_type", "external_id")} == {
        "user_id_tps": "30", "current_stock": "12.44", "quantity": "1.25", "movement_type": 2,
        "external_id": "item_abc123"}
    assert len(body["date"]) == len("2020-05-30 12:45:03")
    assert mipos_emulator_of(kitchen.root).items(12)["item_abc123"]["stock"] == "12.44"
    assert kitchen.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_409_is_shown_as_miPOS_wrote_it(kitchen):
    kitchen.run("plan")  # creates the emulator account with the configured ids
    kitchen.edit("reconciler.yaml", 'user_id_tps: "30"', 'user_id_tps: "31"')
    result = kitchen.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert ("mipos/kitchen: failed, 1 request - action 1 (system/sync): HTTP 409: The third_party_id does not have an "
            "Inventory System role or does not exist. (what to do: check user_id_tps and inventory_system_id in "
            "reconciler.yaml)") in result.output


def test_missing_cost_and_stock_are_refused_before_anything_is_sent(kitchen):
    kitchen.edit(INVENTORY, "        cost: 100\n", "")
    kitchen.edit(INVENTORY, "      item_abc456: 5.50\n", "")
    result = kitchen.run("validate")
    assert result.exit_code == 1
    assert "'item_abc456' has no cost: The item must have a cost." in result.stderr
    assert "'item_abc456' has no stock in store 'kitchen': The item must have a stock." in result.stderr


def test_webhooks_serve_needs_a_receiving_backend(kitchen):
    kitchen.edit("reconciler.yaml", '    webhook_url: "http://127.0.0.1:8090/webhooks/mipos"\n', "")
    result = kitchen.run("webhooks", "serve")
    assert result.exit_code == 1 and "no configured backend receives webhooks" in result.stderr


PREFILLED = [{"name": f"old {i}", "external_id": f"old{i}", "purchase_unit_external_id": "old_u",
              "consumption_unit_external_id": "old_u", "supplier_external_id": "old_s", "cost": "1", "stock": "5"}
             for i in range(20)]


def prefilled(kitchen: ProjectRunner, **settings) -> None:
    """The store already holds an inventory the reconciler never saw, and the demo backend
    is not declared owned."""
    kitchen.edit("reconciler.yaml", "    owned: true\n", "")
    emulator = mipos_emulator_of(kitchen.root)
    emulator.seed_store("12", items=PREFILLED, units=[{"name": "Old", "short_name": "o", "external_id": "old_u"}],
                        suppliers=[{"name": "Old supplier", "external_id": "old_s"}])
    emulator.configure(**settings)


def test_a_first_sync_of_a_prefilled_store_is_refused_unless_owned(kitchen):
    prefilled(kitchen)
    plan = kitchen.run("plan")
    assert plan.exit_code == 3, plan.output
    assert ("unseen contents: the reconciler has no record of what mipos holds for this store, and whether action 1 "
            "(system/sync) keeps what it does not name is not documented") in plan.output
    assert "declare the store owned (`owned: true` on its binding, or on the backend)" in plan.output
    markdown = kitchen.run("plan", "--format", "markdown").output
    assert "refused by safety" in markdown and "the reconciler has no record of what mipos holds" in markdown
    store = json.loads(kitchen.run("plan", "--format", "json").stdout)["stores"][0]
    assert "is not documented" in store["unseen"] and store["owned"] is False and store["safety"]["violations"]
    applied = kitchen.run("apply", "--auto-approve")
    assert applied.exit_code == 3 and "nothing was sent" in applied.output
    emulator = mipos_emulator_of(kitchen.root)
    assert emulator.requests == [] and len(emulator.items(12)) == 20


@pytest.mark.parametrize("omitted_items, left", [("removed", 2), ("kept", 22)])
def test_force_lets_the_first_sync_through_and_miPOS_decides_what_stays(kitchen, omitted_items, left):
    prefilled(kitchen, omitted_items=omitted_items)
    result = kitchen.run("apply", "--auto-approve", "--force")
    assert result.exit_code == 0, result.output
    assert len(mipos_emulator_of(kitchen.root).items(12)) == left


def test_owned_on_the_binding_lets_the_first_sync_through(kitchen):
    prefilled(kitchen)
    kitchen.edit(INVENTORY, 'mipos: {store_id: "12"}', 'mipos: {store_id: "12", owned: true}')
    plan = kitchen.run("plan")
    assert plan.exit_code == 0 and "(the store is declared owned)" in plan.output
    assert kitchen.run("apply", "--auto-approve").exit_code == 0
    assert sorted(mipos_emulator_of(kitchen.root).items(12)) == ["item_abc123", "item_abc456"]


def test_a_store_not_integrated_fails_with_the_documents_message_and_what_to_do(kitchen):
    mipos_emulator_of(kitchen.root).seed_store("12", integrated=False)
    result = kitchen.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert ("action 1 (system/sync): HTTP 409: No integration record was found between this user store and the third "
            "party system. (what to do: connect this store to the inventory system in miPOS first, then apply again)"
            ) in result.output


def test_the_plan_says_which_time_zone_dates_the_movements(kitchen):
    kitchen.edit("reconciler.yaml", "timezone: UTC", "timezone: America/Mexico_City")
    assert kitchen.run("apply", "--auto-approve").exit_code == 0
    kitchen.edit(INVENTORY, "item_abc456: 5.50", "item_abc456: 4")
    plan = kitchen.run("plan", "--format", "json")
    [move] = json.loads(plan.stdout)["stores"][0]["actions"]
    assert move["summary"].startswith("remove 1.50 of item_abc456 (now 4), dated ")
    assert move["summary"].endswith(" America/Mexico_City") and move["body"]["date"] in move["summary"]
