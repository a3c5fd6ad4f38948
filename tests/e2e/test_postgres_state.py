"""An example project with its state in PostgreSQL (RECONCILER_STATE), as a CI job runs it."""

from __future__ import annotations

from project_runner import copy_example
from reconciler.state import open_state


def test_plan_apply_plan_with_postgresql_state(postgres_server, tmp_path, monkeypatch):
    url = postgres_server.new_database()
    monkeypatch.setenv("RECONCILER_STATE", url)
    project = copy_example("dstore-chain", tmp_path)
    first = project.run("plan", "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    applied = project.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    again = project.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output
    # The snapshots are in PostgreSQL, not in the default SQLite file.
    assert not (project.root / ".reconciler" / "state.db").exists()
    state = open_state(url, project.root)
    try:
        rows = state.all()
        assert rows and all(r.serial >= 1 and r.unknown is None for r in rows)
        assert state.locks() == []  # every lease released
    finally:
        state.close()
    listed = project.run("state", "list")
    assert listed.exit_code == 0 and rows[0].store in listed.output
