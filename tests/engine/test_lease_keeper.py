"""The lease is renewed on a timer while a store's apply runs, not only between actions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from datetime import datetime, timedelta

from reconciler import applier
from reconciler.state import open_state
from reconciler.state.writer import StateWriter


async def test_a_long_request_does_not_outlive_the_lease(tmp_path):
    state = open_state("sqlite:///state.db", tmp_path)
    try:
        assert state.acquire("b", "s", "me", timedelta(seconds=1)) is None
        first = datetime.fromisoformat(state.lock_of("b", "s").expires_at)
        writer = StateWriter(state)
        store = SimpleNamespace(backend="b", store="s", key=("b", "s"))
        keeper = asyncio.create_task(applier._keep_lease(writer, store, "me", every=0.05))
        await asyncio.sleep(1.2)  # one "request" longer than the 1 s lease taken above
        keeper.cancel()
        writer.close()
        lock = state.lock_of("b", "s")
        assert lock is not None and lock.owner == "me"  # still held: renewed to the full LEASE
        assert datetime.fromisoformat(lock.expires_at) - first >= applier.LEASE - timedelta(seconds=2)
    finally:
        state.close()
