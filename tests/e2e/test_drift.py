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
    assert "~ 17007: quantity \"2.000\" -> \"1.000\"" in report.output  # last applied -> now
    assert "Drift: 1 resource changed outside the reconciler in 1 store." in report.output
    # A report reads and proposes nothing: only reads reached the backend, no plan was made.
    sent = virtpos_emulator_of(project.root).requests[before:]
    assert sent and all(r["path"] in ("/api/store", "/api/item") for r in sent)
    assert "to create" not in report.output and "requests" not in report.output

    as_json = json.loads(project.run("plan", "--refresh-only", "--format", "json").output)
    assert as_json["kind"] == "drift" and as_json["has_drift"]
    [store] = as_json["stores"]
    assert store["backend"] == "virtpos" and [c["key"] for c in store["changes"]] == ["17007"]


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
    assert '-> "999"' in report.output and f"~ {key}" in report.output


def test_refresh_only_refuses_options_that_make_no_sense(tmp_path):
    project = copy_example("virtpos-pet-shop", tmp_path)
    result = project.run("plan", "--refresh-only", "--no-refresh")
    assert result.exit_code == 1 and "does not combine with --out, --no-refresh or --full" in result.output
    never = project.run("plan", "--refresh-only")
    assert never.exit_code == 0 and "Never applied (no snapshot to compare with): virtpos/" in never.output
