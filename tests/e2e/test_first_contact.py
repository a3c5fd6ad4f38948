"""A first apply never clears what the reconciler has not seen, unless the store is owned.

D-Store cannot be read, and its full sync replaces whatever a store holds: before the
reconciler has recorded anything for a store, that sync would overwrite products nobody
told it about. The plan says so in every rendering and safety refuses it unless the
store is declared owned (on the backend or the binding) or --force is given.
"""

from __future__ import annotations

import json

from dstore_helpers import emulator_of
from project_runner import ProjectRunner

MENU = "menus:\n  m:\n    currency: SGD\n    products:\n      i0: {name: item 0, price: 2}\n      i1: {name: item 1, price: 3}\n"


def cafe(tmp_path, backend_extra: str = "", binding_extra: str = "") -> ProjectRunner:
    project = ProjectRunner(tmp_path / "cafe")
    project.write("reconciler.yaml", 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk'
                  + backend_extra + "}\n")
    project.write("menu.yaml", MENU)
    project.write("stores.yaml", "stores:\n  cafe: {name: Cafe, menu: m, backends: {demo: {store_id: c1"
                  + binding_extra + "}}}\n")
    return project


def prefill(project: ProjectRunner) -> None:
    """The store already holds a catalog the reconciler never saw (as most real stores do)."""
    emulator = emulator_of(project.root)
    emulator.seed_store("bk", "c1", "Cafe", [
        {"posProductId": f"old{i}", "type": "SINGLE", "status": "AVAILABLE", "name": f"old {i}",
         "price": {"currency": "SGD", "value": 100}} for i in range(20)])


def test_a_first_full_sync_of_a_store_not_owned_is_refused_and_nothing_is_sent(tmp_path):
    project = cafe(tmp_path)
    prefill(project)
    plan = project.run("plan")
    assert plan.exit_code == 3, plan.output
    assert ("unseen contents: the reconciler has no record of what demo holds for this store, and action 0 "
            "(syncProduct.full) replaces or clears whatever it does not name") in plan.output
    assert "declare the store owned (`owned: true` on its binding, or on the backend)" in plan.output
    markdown = project.run("plan", "--format", "markdown").output
    assert markdown.splitlines()[1].endswith(": refused by safety")
    assert ("> - **safety** demo / cafe: the reconciler has no record of what demo holds for this store, "
            "and action 0 (syncProduct.full) replaces or clears whatever it does not name") in markdown
    store = json.loads(project.run("plan", "--format", "json").stdout)["stores"][0]
    assert store["unseen"].startswith("the reconciler has no record of what demo holds")
    assert store["owned"] is False and store["safety"]["violations"]
    applied = project.run("apply", "--auto-approve")
    assert applied.exit_code == 3 and "nothing was sent" in applied.output
    assert len(emulator_of(project.root).products("bk", "c1")) == 20  # untouched


def test_force_passes_and_owned_passes_on_the_backend_or_on_the_binding(tmp_path):
    forced = cafe(tmp_path / "forced")
    prefill(forced)
    assert forced.run("apply", "--auto-approve", "--force").exit_code == 0
    assert sorted(emulator_of(forced.root).products("bk", "c1")) == ["i0", "i1"]
    for where in ("backend", "binding"):
        project = cafe(tmp_path / where, **{f"{where}_extra": ", owned: true"})
        prefill(project)
        plan = project.run("plan")
        assert plan.exit_code == 0, plan.output
        assert "(the store is declared owned)" in plan.output
        assert project.run("apply", "--auto-approve").exit_code == 0
        assert sorted(emulator_of(project.root).products("bk", "c1")) == ["i0", "i1"]


def test_after_the_first_recorded_apply_a_full_sync_is_no_first_contact(tmp_path):
    project = cafe(tmp_path)
    assert project.run("apply", "--auto-approve", "--force").exit_code == 0
    project.edit("menu.yaml", "price: 3", "price: 4")  # a price change takes the full path
    plan = project.run("plan")
    assert plan.exit_code == 0, plan.output
    assert "full path" in plan.output and "unseen contents" not in plan.output


def test_owned_on_a_binding_must_be_a_boolean_and_is_located(tmp_path):
    project = cafe(tmp_path, binding_extra=", owned: maybe")
    result = project.run("validate")
    assert result.exit_code == 1
    assert "stores.yaml:2:70:" in result.output and "owned must be true or false, not 'maybe'" in result.output


def test_a_binding_that_names_another_store_is_a_first_contact_there(tmp_path):
    project = cafe(tmp_path, backend_extra=", owned: true")
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.edit("stores.yaml", "store_id: c1", "store_id: c2")
    plan = project.run("plan")
    assert plan.exit_code == 0, plan.output
    assert ("the binding now names 'c2' in demo; the state was recorded for 'c1', which keeps what it holds "
            "(nothing is sent to it), and 'c2' is planned as a first contact") in plan.output
    assert "+ i0 (item 0)" in plan.output and "(id c2 on dstore): full path" in plan.output
    assert project.run("apply", "--auto-approve").exit_code == 0
    emulator = emulator_of(project.root)
    assert sorted(emulator.products("bk", "c2")) == ["i0", "i1"] == sorted(emulator.products("bk", "c1"))
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    # Not owned, the same move is refused like any first full sync.
    project.edit("reconciler.yaml", ", owned: true", "")
    project.edit("stores.yaml", "store_id: c2", "store_id: c3")
    assert project.run("plan").exit_code == 3
