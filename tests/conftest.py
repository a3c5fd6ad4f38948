"""Shared fixtures: example projects copied into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from project_runner import ProjectRunner, copy_example


@pytest.fixture
def dstore_examples(tmp_path: Path) -> ProjectRunner:
    return copy_example("dstore-examples", tmp_path)


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session, started only when a test asks for it."""
    from pg_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path: Path) -> str:
    """The same state tests against both stores: a fresh SQLite file or a fresh database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_server").new_database()
