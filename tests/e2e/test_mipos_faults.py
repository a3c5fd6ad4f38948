"""miPOS movements are not idempotent: an unknown outcome is never re-sent blindly."""

from __future__ import annotations

import httpx
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


async def test_a_resumed_apply_never_sends_a_movement_twice(tmp_path):
    """Two movements; the second is refused. Applying the same plan again resumes at the
    second: the first is not sent again (the strict emulator would refuse it anyway, its
    result no longer being its current_stock)."""
    h = MiPOSHarness(tmp_path)
    await h.converge()
    h.set_stock({"a": "10", "b": "33"})
    plan = await h.plan()
    assert [a.body["external_id"] for a in plan.stores[0].actions] == ["a", "b"]
    h.emulator.faults.add(Fault("http_error", path=STOCK.format(12), match='"external_id":"b"', status=400))
    failed = await h.apply(plan)
    assert failed.status == "failed" and "HTTP 400: injected fault: HTTP 400" in failed.message
    assert [m["external_id"] for m in h.emulator.movements("12")] == ["a"]

    resumed = await h.apply(plan)
    assert resumed.status == "applied", resumed.message
    assert [m["external_id"] for m in h.emulator.movements("12")] == ["a", "b"]
    assert {k: v["stock"] for k, v in h.emulator.items("12").items()} == {"a": "10", "b": "33"}
    [first] = [r for r in processed(h.emulator, STOCK.format(12)) if r["body"]["external_id"] == "a"]
    status, answer = h.emulator.stock_update("12", first["body"])  # the first movement, once more
    assert status == 409 and answer["message"] == [
        "The current stock (10) does not match the stock after the movement (8)."]
    assert not (await h.plan()).has_changes


async def test_stock_moved_in_mipos_without_a_webhook_makes_the_movement_fail_with_what_to_do(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    async def receiver_down(scope, receive, send):
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    h.emulator.outgoing = httpx.ASGITransport(app=receiver_down)
    delivery = await h.emulator.set_stock("12", "a", "20")  # the webhook never reaches the receiver
    assert not delivery["delivered"]
    h.set_stock({"a": "10", "b": "30"})
    result = await h.apply(await h.plan())
    assert result.status == "failed"
    assert ("HTTP 409: The current stock (10) does not match the stock after the movement (18). (what to do: miPOS "
            "holds another level than the reconciler last applied; `reconciler apply --full` sends absolute levels "
            "in one system/sync)") in result.message
    assert h.emulator.items("12")["a"]["stock"] == "20"
    assert (await h.apply(await h.plan(full=True))).status == "applied"
    assert h.emulator.items("12")["a"]["stock"] == "10"
