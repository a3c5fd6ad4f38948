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


def _roles(url: str) -> tuple[str, str]:
    """A writer and a reader role made as docs/ci.md says (the writer creates the tables, the
    reader may SELECT what it creates); their URLs."""
    import psycopg

    database = url.rsplit("/", 1)[1]
    writer, reader = f"writer_{database}", f"reader_{database}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        db.execute(f'CREATE ROLE "{writer}" LOGIN PASSWORD \'writer-pass\'')
        db.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{writer}"')
        db.execute(f'CREATE ROLE "{reader}" LOGIN PASSWORD \'reader-pass\'')
        db.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{reader}"')
        db.execute(f'GRANT USAGE ON SCHEMA public TO "{reader}"')
        db.execute(f'ALTER DEFAULT PRIVILEGES FOR ROLE "{writer}" IN SCHEMA public GRANT SELECT ON TABLES TO "{reader}"')
    return url.replace("postgres@", f"{writer}:writer-pass@"), url.replace("postgres@", f"{reader}:reader-pass@")


def test_a_read_only_role_plans_and_is_refused_a_write(postgres_server, tmp_path, monkeypatch):
    """The pull-request plan job gets a role that may only SELECT: it plans from the state
    a writer made; an apply with it is refused with a message, before anything is sent."""
    writer, reader = _roles(postgres_server.new_database())
    monkeypatch.setenv("RECONCILER_STATE", writer)
    project = copy_example("dstore-chain", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.edit("menu.yaml", 'price: "11.50"', 'price: "11.90"')

    monkeypatch.setenv("RECONCILER_STATE", reader)
    plan_file = str(project.root / "plan.json")
    planned = project.run("plan", "--out", plan_file, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "11.50 -> 11.90" in planned.output, planned.output

    refused = project.run("apply", plan_file)
    assert refused.exit_code == 1
    assert "read-only for this role" in refused.output and "apply needs a role that may write" in refused.output
    assert "reader-pass" not in refused.output and "Traceback" not in refused.output

    monkeypatch.setenv("RECONCILER_STATE", writer)  # the writer's view: nothing was applied
    assert project.run("plan", "--detailed-exitcode").exit_code == 2


def test_a_read_only_role_cannot_create_the_state_and_says_so(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RECONCILER_STATE", _roles(postgres_server.new_database())[1])
    project = copy_example("dstore-chain", tmp_path)
    result = project.run("plan")
    assert result.exit_code == 1
    assert "needs its tables created or migrated to schema" in result.output
    assert "with a role that may write" in result.output and "reader-pass" not in result.output
