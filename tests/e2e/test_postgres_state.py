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


def _reader_url(postgres_server, url: str) -> str:
    """A login role that may only read the state database's tables, as a plan job gets."""
    import psycopg

    database = url.rsplit("/", 1)[1]
    role = f"reader_{database}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD \'reader-pass\'')
        db.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        db.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        db.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    return url.replace("postgres@", f"{role}:reader-pass@")


def test_a_read_only_role_plans_and_is_refused_a_write(postgres_server, tmp_path, monkeypatch):
    """The pull-request plan job gets a role that may only SELECT: it plans from the state
    a writer made; an apply with it is refused with a message, before anything is sent."""
    url = postgres_server.new_database()
    monkeypatch.setenv("RECONCILER_STATE", url)
    project = copy_example("dstore-chain", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.edit("menu.yaml", 'price: "11.50"', 'price: "11.90"')

    monkeypatch.setenv("RECONCILER_STATE", _reader_url(postgres_server, url))
    planned = project.run("plan", "--out", "plan.json", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "11.50 -> 11.90" in planned.output, planned.output

    refused = project.run("apply", "plan.json")
    assert refused.exit_code == 1
    assert "read-only for this role" in refused.output and "apply needs a role that may write" in refused.output
    assert "reader-pass" not in refused.output and "Traceback" not in refused.output

    monkeypatch.setenv("RECONCILER_STATE", url)  # the writer's view: nothing was applied
    assert project.run("plan", "--detailed-exitcode").exit_code == 2


def test_a_read_only_role_cannot_create_the_state_and_says_so(postgres_server, tmp_path, monkeypatch):
    url = postgres_server.new_database()
    monkeypatch.setenv("RECONCILER_STATE", _reader_url(postgres_server, url))
    project = copy_example("dstore-chain", tmp_path)
    result = project.run("plan")
    assert result.exit_code == 1
    assert "needs its tables created or migrated to schema" in result.output
    assert "with a role that may write" in result.output and "reader-pass" not in result.output
