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
            "Inventory System role or does not exist.") in result.output


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
