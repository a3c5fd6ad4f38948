"""`plan --refresh-only`: drift since the last apply, by backend and store; nothing written."""

from __future__ import annotations

import json

from project_runner import copy_example
from reconciler.state import open_state
from virtpos_helpers import virtpos_emulator_of


def test_a_sale_in_virtpos_is_reported_as_drift_and_nothing_is_written(tmp_path):
    project = copy_example("virtpos-pet-shop", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    clean = project.run("plan", "--refresh-only", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert "No drift in 1 observed store." in clean.output

    virtpos_emulator_of(project.root).sell(3, 17007, "1")
    before = len(virtpos_emulator_of(project.root).requests)
    report = project.run("plan", "--refresh-only", "--detailed-exitcode")
    assert report.exit_code == 2, report.output
    lines = report.output.splitlines()
    backend_line = lines.index("virtpos")
    assert lines[backend_line + 1].strip().endswith("(id 3, observed: live)")
    # Read as plan reads (catalog -> backend): the backend holds 1 now, the last apply set 2,
    # and the plan that puts it back says the very same line.
    assert lines[backend_line + 2].strip() == "~ 17007: quantity 1.000 -> 2.000"
    assert "Read as `plan` reads (catalog -> backend): `~ field A -> B` means the backend holds A now" in report.output
    assert "Drift: 1 resource changed outside the reconciler in 1 store." in report.output
    fix = project.run("plan")
    assert "  ~ 17007: quantity 1.000 -> 2.000" in fix.output.splitlines()
    # A report reads and proposes nothing: only reads reached the backend, no plan was made.
    sent = virtpos_emulator_of(project.root).requests[before:]
    assert sent and all(r["path"] in ("/api/store", "/api/item") for r in sent)
    assert "to create" not in report.output and "requests" not in report.output

    as_json = json.loads(project.run("plan", "--refresh-only", "--format", "json").output)
    assert as_json["kind"] == "drift" and as_json["has_drift"] and as_json["format_version"] == 2
    assert as_json["sides"] == {"old": "the backend now", "new": "recorded at the last apply"}
    [store] = as_json["stores"]
    [change] = store["changes"]
    assert store["backend"] == "virtpos" and change["key"] == "17007"
    assert change["fields"] == [{"field": "quantity", "old": "1.000", "new": "2.000"}]


def test_webhook_observations_are_drift_and_a_write_only_backend_says_it_cannot_tell(tmp_path):
    project = copy_example("mipos-inventory", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    quiet = project.run("plan", "--refresh-only", "--detailed-exitcode")
    assert quiet.exit_code == 0, quiet.output
    assert "Not observable (write-only backend, no webhook observations):" in quiet.output

    state = open_state("sqlite:///.reconciler/state.db", project.root)
    row = state.all()[0]
    key = sorted(row.resources)[0]
    state.record_observation(row.backend, row.store, key, {"stock": "999"}, "2026-01-01 10:00:00", "webhook")
    state.close()
    report = project.run("plan", "--refresh-only", "--detailed-exitcode", "--format", "markdown")
    assert report.exit_code == 2, report.output
    assert f"### {row.backend}" in report.output
    assert "observed: state+webhooks" in report.output
    stock = row.resources[key]["stock"]
    # The backend reports 999 now; the last apply set the recorded stock.
    assert f"- `~` `{key}` (" in report.output and f"): `stock` `999` -> `{stock}`" in report.output


def test_refresh_only_refuses_options_that_make_no_sense(tmp_path):
    project = copy_example("virtpos-pet-shop", tmp_path)
    result = project.run("plan", "--refresh-only", "--no-refresh")
    assert result.exit_code == 1 and "does not combine with --out, --no-refresh or --full" in result.output
    never = project.run("plan", "--refresh-only")
    assert never.exit_code == 0 and "Never applied (no snapshot to compare with): virtpos/" in never.output


def test_drift_and_the_plan_that_undoes_it_say_the_same_lines(tmp_path):
    """A product that appeared in the backend is `-` in both (a plan removes it); a sale
    reads backend now -> recorded in both."""
    project = copy_example("virtpos-pet-shop", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    emulator = virtpos_emulator_of(project.root)
    emulator.sell(3, 17007, "1")
    emulator.put_stock(3, 99999, "5", name="stray")
    drift = project.run("plan", "--refresh-only").output.splitlines()
    store = next(i for i, line in enumerate(drift) if line.endswith("(id 3, observed: live)"))
    assert drift[store + 1:store + 3] == ["    ~ 17007: quantity 1.000 -> 2.000",
                                          "    - 99999: in the backend, never applied (added outside the reconciler)"]
    plan = project.run("plan", "--force").output.splitlines()
    assert "  ~ 17007: quantity 1.000 -> 2.000" in plan and "  - 99999" in plan
    markdown = project.run("plan", "--refresh-only", "--format", "markdown").output
    assert "  - `-` `99999`: in the backend, never applied (added outside the reconciler)" in markdown.splitlines()
