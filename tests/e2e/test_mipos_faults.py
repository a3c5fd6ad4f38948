"""miPOS movements are not idempotent: an unknown outcome is never re-sent blindly."""

from __future__ import annotations

import pytest

from mipos_helpers import STOCK, SYNC, MiPOSHarness, processed
from reconciler.emulation import Fault
from reconciler.errors import StalePlanError
from reconciler.planner import check_fresh


async def test_an_unknown_movement_is_not_resent_and_the_next_plan_goes_full(tmp_path):
    h = MiPOSHarness(tmp_path, attempts=3, timeout=0.3)
    await h.converge()
    h.set_stock({"a": "10", "b": "30"})
    plan = await h.plan()
    assert [a.kind for a in plan.stores[0].actions] == ["stock/update"]
    h.emulator.faults.add(Fault("timeout", path=STOCK.format(12), after_processing=True, seconds=2))
    result = await h.apply(plan)
    assert result.status == "unknown"
    assert "not re-sent" in result.message
    assert len([r for r in h.emulator.requests if r["path"] == STOCK.format(12)]) == 1

    again = await h.apply(plan)  # the same plan again: refused rather than moving stock twice
    assert again.status == "failed" and "not safe to re-send" in again.message
    assert len([r for r in h.emulator.requests if r["path"] == STOCK.format(12)]) == 1

    fresh = await h.plan()
    [store] = fresh.stores
    assert store.path == "full" and "the last outcome is unknown" in store.reason
    assert [a.kind for a in store.actions] == ["system/sync"]
    await h.apply(fresh)
    assert h.emulator.items("12")["a"]["stock"] == "10"
    assert not (await h.plan()).has_changes


async def test_a_refused_connection_is_retried_and_a_sync_survives_a_503(tmp_path):
    h = MiPOSHarness(tmp_path)
    h.emulator.faults.add(Fault("unknown", path=SYNC.format(12)))  # HTTP 503, then fine
    await h.converge()
    assert len(processed(h.emulator, SYNC.format(12))) == 1
    h.set_stock({"a": "12", "b": "31"})
    h.emulator.faults.add(Fault("rate_limit", path=STOCK.format(12)))  # 429: never processed, safe to retry
    result = await h.apply(await h.plan())
    assert result.status == "applied"
    assert len(processed(h.emulator, STOCK.format(12))) == 1
    assert h.emulator.items("12")["b"]["stock"] == "31"


async def test_a_webhook_after_the_plan_makes_it_stale(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    h.set_stock({"a": "11", "b": "30"})
    plan = await h.plan()
    h.deliver_in_process()
    await h.emulator.set_stock("12", "b", "29")
    state = h.state()
    try:
        with pytest.raises(StalePlanError, match="the backend reported a change"):
            await check_fresh(plan, h.validated(), state)
    finally:
        state.close()
