"""An apply's state calls are made by one thread in batches: one commit serves many
stores, each store's write is durable before it goes on, and one failing write spoils no
other (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from reconciler.state import StateConflict, open_state
from reconciler.state.writer import StateWriter


@pytest.fixture
def state(state_url, tmp_path):
    store = open_state(state_url, tmp_path)
    yield store
    store.close()


async def test_many_stores_writes_share_commits_and_each_is_durable_when_awaited(state, state_url, tmp_path):
    statements: list[str] = []
    if state_url.startswith("sqlite"):
        state._db.set_trace_callback(statements.append)
    writer = StateWriter(state)

    async def store(n: int) -> int:
        key = ("b", f"s{n}")
        await writer.call(key, lambda: state.acquire("b", f"s{n}", "me", timedelta(minutes=1)))
        serial = 0
        for action in range(3):
            await writer.call(key, lambda: state.mark_in_flight("b", f"s{n}", "r", "p", action, "sync"))
            serial = await writer.call(key, lambda: state.record(
                "b", f"s{n}", "r", {}, {"x": {"v": action}}, f"fp{action}", serial, "p", action, "sync", 1))
            # Durable: another connection sees it at once.
            other = open_state(state_url, tmp_path)
            try:
                assert other.get("b", f"s{n}").serial == serial
            finally:
                other.close()
        await writer.call(key, lambda: state.release("b", f"s{n}", "me"))
        return serial

    try:
        assert await asyncio.gather(*(store(n) for n in range(8))) == [3] * 8
    finally:
        writer.close()
    if state_url.startswith("sqlite"):
        writes = 8 * (2 + 3 * 2)
        commits = sum(1 for s in statements if s == "COMMIT")
        assert commits < writes / 2, (commits, writes)  # batched: far fewer commits than writes


async def test_a_failing_write_spoils_no_other_in_its_batch(state):
    writer = StateWriter(state)
    try:
        state.record("b", "taken", "r", {}, {}, "fp", 0, "p0", 0, "sync", 1)  # serial 1 now
        ok = writer.call(("b", "a"), lambda: state.record("b", "a", "r", {}, {"x": {}}, "fp", 0, "p", 0, "k", 1))
        stale = writer.call(("b", "taken"), lambda: state.record("b", "taken", "r", {}, {}, "fp", 0, "p", 0, "k", 1))
        also = writer.call(("b", "z"), lambda: state.record("b", "z", "r", {}, {}, "fp", 0, "p", 0, "k", 1))
        results = await asyncio.gather(ok, stale, also, return_exceptions=True)
    finally:
        writer.close()
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], StateConflict)
    assert state.get("b", "a").serial == 1 and state.get("b", "z").serial == 1
    assert state.get("b", "taken").plan_id == "p0"  # the refused write left it as it was
