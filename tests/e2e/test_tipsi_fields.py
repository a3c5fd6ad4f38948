"""Converged means Tipsi really holds the catalog (issue 13, section 2).

ext/sync leaves out what it does not send, and nothing documented clears a field: when
the catalog drops `unit_size`, Tipsi keeps the old value (a price cannot be dropped: the
catalog requires one; a category neither: Tipsi's validation requires one). The plan says so,
sends nothing that cannot fix it, keeps showing the drift, and the state records what
Tipsi holds rather than what the catalog says.
"""

from __future__ import annotations

import json

import pytest

from project_runner import ProjectRunner, copy_example
from reconciler.state import open_state
from tipsi_helpers import tipsi_emulator_of, tipsi_syncs

MENU = "menus/wine-shop.yaml"
SANCERRE = '"10004": {name: Sancerre 2021, price: "31.50", barcodes: ["08234123"], unit_size: 750ml, category: wine}'


@pytest.fixture
def shop(tmp_path) -> ProjectRunner:
    project = copy_example("tipsi-wine-shop", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    return project


def recorded(project: ProjectRunner, key: str) -> dict:
    state = open_state("sqlite:///.reconciler/state.db", project.root)
    try:
        return state.get("tipsi", "wine-shop").resources[key]
    finally:
        state.close()


def test_a_dropped_unit_size_is_a_drift_the_plan_keeps_showing_and_sends_nothing_for(shop):
    shop.edit(MENU, SANCERRE, SANCERRE.replace(", unit_size: 750ml", ""))
    plan = shop.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # nothing apply could change
    out = plan.output
    assert ("tipsi / wine-shop (id 19771 on tipsi): nothing is sent - nothing to send: Tipsi cannot clear what the catalog "
            "dropped from 1 item (see the note)") in out
    assert "~ 10004 (Sancerre 2021): unit_size 750ml -> (none)" in out
    assert ("note: Tipsi keeps the unit_size of 1 item the catalog no longer sets: 10004 (750ml). ext/sync cannot "
            "clear a field (omitted fields are not updated, and no documented value clears one); set a unit_size in "
            "the catalog, or clear it in Tipsi. The plan shows this drift until then.") in out
    assert out.rstrip().endswith("Not sent: 1 to update in 1 store (tipsi / wine-shop): the backend cannot take "
                                 "these changes, so nothing is sent for them (see the notes above).")
    markdown = shop.run("plan", "--format", "markdown").output
    assert "**Nothing to send.**" in markdown
    assert "- **note** tipsi / wine-shop: Tipsi keeps the unit\\_size of 1 item" in markdown
    before = len(tipsi_emulator_of(shop.root).requests)
    applied = shop.run("apply", "--auto-approve")
    assert applied.exit_code == 0 and "Nothing to apply." in applied.output
    assert len(tipsi_emulator_of(shop.root).requests) == before
    assert tipsi_emulator_of(shop.root).items(19771)["10004"]["unit_size"] == "750ml"
    assert recorded(shop, "10004")["unit_size"] == "750ml"  # the state says what Tipsi holds
    assert "unit_size 750ml -> (none)" in shop.run("plan").output  # and the drift stays visible


def test_a_changed_item_that_drops_its_unit_size_is_sent_and_the_state_keeps_tipsi_s_value(shop):
    shop.edit(MENU, SANCERRE, SANCERRE.replace(", unit_size: 750ml", ""))
    shop.edit("stores/stores.yaml", '"10004": 12,', '"10004": 5,')
    plan = json.loads(shop.run("plan", "--format", "json").stdout)
    [store] = [s for s in plan["stores"] if s["store"] == "wine-shop" and s["backend"] == "tipsi"]
    assert store["path"] == "light"
    [action] = store["actions"]
    assert action["body"] == [{"external_id": 10004, "barcodes": ["08234123"], "in_stock": 5,
                               "pos_item_name": "Sancerre 2021", "price": "31.50", "category": "wine"}]
    assert store["resources"]["10004"]["unit_size"] == "750ml"  # what Tipsi will hold, not the catalog
    assert any(w.startswith("Tipsi keeps the unit_size of 1 item the catalog no longer sets: 10004 (750ml).")
               for w in store["warnings"])
    assert shop.run("apply", "--auto-approve").exit_code == 0
    held = tipsi_emulator_of(shop.root).items(19771)["10004"]
    assert (held["in_stock"], held["unit_size"]) == (5, "750ml")
    # Tipsi stores the external id as text; everything else is what the state records.
    assert recorded(shop, "10004") == {**{k: v for k, v in held.items() if k != "matched"}, "external_id": 10004}
    again = shop.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and "~ 10004 (Sancerre 2021): unit_size 750ml -> (none)" in again.output


def test_setting_the_field_again_ends_the_drift(shop):
    shop.edit(MENU, SANCERRE, SANCERRE.replace(", unit_size: 750ml", ""))
    assert shop.run("apply", "--auto-approve").exit_code == 0
    shop.edit(MENU, "Sancerre 2021, price", "Sancerre 2021, unit_size: 1.5l, price")
    plan = shop.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2 and "~ 10004 (Sancerre 2021): unit_size 750ml -> 1.5l" in plan.output
    assert "note:" not in plan.output
    assert shop.run("apply", "--auto-approve").exit_code == 0
    assert tipsi_syncs(tipsi_emulator_of(shop.root))[-1]["body"][0]["unit_size"] == "1.5l"
    assert shop.run("plan", "--detailed-exitcode").exit_code == 0
