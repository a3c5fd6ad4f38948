"""The SQLite state store: snapshots with serials, unknown marks, and leases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.state import StateConflict, open_state


@pytest.fixture
def store(tmp_path):
    s = open_state("sqlite:///state.db", tmp_path)
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


def test_leases_exclude_others_until_released_or_expired(store, tmp_path):
    assert store.acquire("b", "s", "alice", timedelta(minutes=5)) is None
    other = open_state("sqlite:///state.db", tmp_path)
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
