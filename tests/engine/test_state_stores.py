"""The state stores (SQLite and PostgreSQL, same tests): snapshots with serials, unknown marks, leases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reconciler.state import StateConflict, open_state


@pytest.fixture
def store(state_url, tmp_path):
    s = open_state(state_url, tmp_path)
    yield s
    s.close()


def test_record_increments_the_serial_and_refuses_a_moved_base(store):
    assert store.get("b", "s") is None
    assert store.record("b", "s", "r1", {"name": "x"}, {"p": {"a": 1}}, "fp1", 0, "plan1", 0, "k", 10) == 1
    assert store.record("b", "s", "r1", {"name": "x"}, {"p": {"a": 2}}, "fp2", 1, "plan1", 1, "k", 10) == 2
    row = store.get("b", "s")
    assert (row.serial, row.fingerprint, row.resources, row.plan_id, row.action_index) == (2, "fp2", {"p": {"a": 2}}, "plan1", 1)
    with pytest.raises(StateConflict, match="moved to serial 2 while this apply expected 1"):
        store.record("b", "s", "r1", {}, {}, "fp3", 1, "plan2", 0, "k", 10)
    assert store.get("b", "s").fingerprint == "fp2"


def test_unknown_mark_is_kept_until_the_next_successful_record(store):
    store.record("b", "s", "r1", {}, {"p": {}}, "fp1", 0, "plan1", 0, "k", 1)
    store.mark_unknown("b", "s", "r1", "timed out", "plan2", 0)
    row = store.get("b", "s")
    assert row.unknown == "timed out" and row.serial == 1 and row.resources == {"p": {}}
    store.record("b", "s", "r1", {}, {}, "fp2", 1, "plan3", 0, "k", 1)
    assert store.get("b", "s").unknown is None


def test_an_unknown_first_apply_leaves_an_empty_marked_row(store):
    store.mark_unknown("b", "new", "r9", "no answer", "plan1", 0)
    row = store.get("b", "new")
    assert (row.serial, row.resources, row.unknown) == (0, {}, "no answer")


def test_leases_exclude_others_until_released_or_expired(store, state_url, tmp_path):
    assert store.acquire("b", "s", "alice", timedelta(minutes=5)) is None
    other = open_state(state_url, tmp_path)
    try:
        held = other.acquire("b", "s", "bob", timedelta(minutes=5))
        assert held is not None and held.owner == "alice"
        assert other.lock_of("b", "s").owner == "alice"
        assert store.release("b", "s", "alice")
        assert other.acquire("b", "s", "bob", timedelta(minutes=5)) is None
        # An expired lease (a cancelled job) does not block anyone.
        assert other.renew("b", "s", "bob", timedelta(seconds=-1))
        assert store.acquire("b", "s", "alice", timedelta(minutes=5)) is None
    finally:
        other.close()


def test_history_records_what_was_done(store):
    store.record("b", "s", "r1", {}, {}, "fp1", 0, "plan1", 0, "syncProduct.full", 321)
    store.mark_unknown("b", "s", "r1", "timed out", "plan2", 0)
    outcomes = [(h["action_kind"], h["outcome"], h["request_bytes"]) for h in store.history("b", "s")]
    assert outcomes == [("syncProduct.full", "applied", 321), (None, "unknown: timed out", None)]


def test_unsupported_state_url_is_a_clear_error(tmp_path):
    from reconciler.errors import ConfigError

    with pytest.raises(ConfigError, match="state URL scheme 'redis' is not supported"):
        open_state("redis://x", tmp_path)


def test_a_newer_schema_is_refused_with_a_clear_message(state_url, tmp_path):
    from reconciler.errors import ReconcilerError

    open_state(state_url, tmp_path).close()
    if state_url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(state_url[len("sqlite:///"):])
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        db.commit()
        db.close()
    else:
        import psycopg

        with psycopg.connect(state_url, autocommit=True) as db:
            db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(ReconcilerError, match="has schema 99, newer than this reconciler knows"):
        open_state(state_url, tmp_path)


def test_a_postgresql_password_never_appears_in_an_error(tmp_path):
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError) as raised:
        open_state("postgresql://ci:s3cr3t-pw@127.0.0.1:1/catalog?connect_timeout=2", tmp_path)
    assert "s3cr3t-pw" not in str(raised.value)
    assert "127.0.0.1:1/catalog" in str(raised.value)


def test_concurrent_writers_on_postgresql_never_lose_a_serial(postgres_server, tmp_path):
    """Many processes' connections racing on one store: each serial is taken exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    url = postgres_server.new_database()
    open_state(url, tmp_path).close()

    def writer(n: int) -> int:
        state = open_state(url, tmp_path)  # its own connection, as another process would have
        won = 0
        try:
            for _ in range(10):
                serial = (state.get("b", "s").serial if state.get("b", "s") else 0)
                try:
                    state.record("b", "s", "r", {}, {"n": {"v": n}}, f"fp{n}", serial, f"plan{n}", 0, "k", 1)
                    won += 1
                except StateConflict:
                    pass
            return won
        finally:
            state.close()

    with ThreadPoolExecutor(8) as pool:
        wins = sum(pool.map(writer, range(8)))
    check = open_state(url, tmp_path)
    try:
        assert check.get("b", "s").serial == wins
        assert len(check.history("b", "s")) == wins
    finally:
        check.close()


def test_only_one_of_many_racers_gets_a_postgresql_lease(postgres_server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    url = postgres_server.new_database()
    open_state(url, tmp_path).close()

    def racer(n: int) -> bool:
        state = open_state(url, tmp_path)
        try:
            return state.acquire("b", "s", f"owner{n}", timedelta(minutes=5)) is None
        finally:
            state.close()

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(racer, range(8))) == 1


def test_an_in_flight_mark_reads_as_unknown_until_the_action_is_recorded(store):
    store.record("b", "s", "r1", {}, {"p": {"a": 1}}, "fp1", 0, "plan1", 0, "k", 1)
    store.mark_in_flight("b", "s", "r1", "plan2", 0, "sync")
    row = store.get("b", "s")
    assert row.in_flight.startswith("action 0 (sync) of plan plan2, sent at ")
    assert row.unknown.startswith("the apply stopped while action 0 (sync) of plan plan2")
    assert (row.serial, row.resources, row.plan_id, row.action_index) == (1, {"p": {"a": 1}}, "plan2", -1)
    store.record("b", "s", "r1", {}, {"p": {"a": 2}}, "fp2", 1, "plan2", 0, "sync", 1)
    assert (store.get("b", "s").in_flight, store.get("b", "s").unknown) == (None, None)
    # An unknown outcome replaces the mark with its own reason.
    store.mark_in_flight("b", "s", "r1", "plan3", 0, "sync")
    store.mark_unknown("b", "s", "r1", "timed out", "plan3", 0)
    assert (store.get("b", "s").in_flight, store.get("b", "s").unknown) == (None, "timed out")


def test_a_definite_failure_clears_the_mark_and_leaves_a_never_applied_store_without_a_row(store):
    store.mark_in_flight("b", "new", "r9", "plan1", 0, "sync")
    assert store.get("b", "new").unknown  # a first apply killed mid-request: unknown
    store.clear_in_flight("b", "new")
    assert store.get("b", "new") is None
    store.record("b", "s", "r1", {}, {}, "fp1", 0, "plan1", 0, "k", 1)
    store.mark_in_flight("b", "s", "r1", "plan2", 0, "sync")
    store.clear_in_flight("b", "s")
    row = store.get("b", "s")
    assert (row.serial, row.in_flight, row.unknown) == (1, None, None)


def test_a_schema_1_store_is_migrated_in_place(state_url, tmp_path):
    from reconciler.fingerprint import snapshot_fingerprint
    from reconciler.state.base import SCHEMA_VERSION

    open_state(state_url, tmp_path).close()
    # Make it what schema 1 was: no in_flight column, no bodies table, whole snapshots
    # in stores.resources, version 1.
    statements = ["DROP INDEX IF EXISTS stores_heads", "ALTER TABLE stores DROP COLUMN in_flight",
                  "ALTER TABLE stores DROP COLUMN generation",
                  "ALTER TABLE stores DROP COLUMN plan_digest", "ALTER TABLE history DROP COLUMN request_sha256",
                  "DROP TABLE bodies", "DROP TABLE receipts", "UPDATE meta SET value='1' WHERE key='schema_version'"]
    row = ("INSERT INTO stores VALUES ('b', 's', 'r', '{\"name\":\"S\"}', "
           "'{\"p\":{\"a\":1},\"q\":{\"a\":1},\"r\":{\"a\":[2,3]}}', 'fp', 3, 'p', 0, NULL, 'now')")
    if state_url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(state_url[len("sqlite:///"):])
        for statement in statements:
            db.execute(statement)
        db.execute(row)
        db.commit()
        db.close()
    else:
        import psycopg

        with psycopg.connect(state_url, autocommit=True) as db:
            for statement in statements:
                db.execute(statement)
            db.execute(row)
    migrated = open_state(state_url, tmp_path)
    try:
        state = migrated.get("b", "s")
        assert state.serial == 3 and state.in_flight is None
        # The snapshot reads back as it was; equal bodies are kept once and shared.
        assert state.resources == {"p": {"a": 1}, "q": {"a": 1}, "r": {"a": [2, 3]}}
        assert state.resources["p"] is state.resources["q"]
        assert state.fingerprint == snapshot_fingerprint({"name": "S"}, state.resources)
        assert state.generation == 0 and state.plan_digest is None
        migrated.mark_in_flight("b", "s", "r", "p2", 0, "k", plan_digest="d2")
        assert (migrated.get("b", "s").in_flight, migrated.get("b", "s").plan_digest) != (None, None)
        migrated.record("b", "s", "r", {}, {}, "fp", 3, "p2", 0, "k", 1, "ab12")
        assert migrated.history("b", "s")[-1]["request_sha256"] == "ab12"
        assert migrated.claim_receipt("b", "t", datetime.now(timezone.utc) + timedelta(minutes=1))
    finally:
        migrated.close()
    assert SCHEMA_VERSION == 4


def test_every_write_to_a_row_moves_its_generation_and_the_plan_digest_stays(store):
    generations = []
    store.mark_in_flight("b", "s", "r1", "plan1", 0, "sync", plan_digest="digest1")
    generations.append(store.get("b", "s").generation)
    store.record("b", "s", "r1", {}, {"p": {"a": 1}}, "fp1", 0, "plan1", 0, "sync", 10, "sha-of-body")
    generations.append(store.get("b", "s").generation)
    store.mark_in_flight("b", "s", "r1", "plan1", 1, "sync")
    store.mark_unknown("b", "s", "r1", "timed out", "plan1", 1)
    generations.append(store.get("b", "s").generation)
    store.mark_in_flight("b", "s", "r1", "plan1", 1, "sync")
    store.clear_in_flight("b", "s")
    row = store.get("b", "s")
    generations.append(row.generation)
    assert generations == sorted(set(generations)) and len(generations) == 4
    assert row.plan_digest == "digest1"  # kept until another plan's first action replaces it
    assert [h["request_sha256"] for h in store.history("b", "s") if h["outcome"] == "applied"] == ["sha-of-body"]


def test_a_receipt_is_claimed_once_until_it_expires(store):
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert store.claim_receipt("mipos", "12:sig", later) is True
    assert store.claim_receipt("mipos", "12:sig", later) is False  # a replay
    assert store.claim_receipt("other", "12:sig", later) is True  # per backend
    assert store.claim_receipt("mipos", "old", datetime.now(timezone.utc) - timedelta(seconds=1)) is True
    assert store.claim_receipt("mipos", "old", later) is True  # the expired one was forgotten


def test_bodies_are_shared_and_only_unreferenced_ones_are_pruned(store):
    store.record("b", "s1", "r1", {}, {"p": {"a": 1}, "q": {"a": 2}}, "fp1", 0, "plan1", 0, "k", 1)
    store.record("b", "s2", "r2", {}, {"p": {"a": 1}}, "fp2", 0, "plan1", 0, "k", 1)
    assert store.prune() == 0  # every body is held by some store
    store.record("b", "s1", "r1", {}, {"p": {"a": 1}, "q": {"a": 3}}, "fp3", 1, "plan2", 0, "k", 1)
    assert store.prune() == 1  # {"a": 2} is held by no store now
    assert store.prune() == 0
    assert store.get("b", "s1").resources == {"p": {"a": 1}, "q": {"a": 3}}
    assert store.get("b", "s2").resources == {"p": {"a": 1}}
