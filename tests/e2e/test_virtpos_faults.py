"""VirtPOS through the engine with the test holding the emulator: an interrupted full path
never zeroes, a resumed one never guesses a version, a stale version zeroes nothing, and
the same inputs always compile to the same actions."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from reconciler.emulation import Fault
from virtpos_helpers import UPDATE, VERSION, ZERO, VirtPOSHarness, writes


@pytest.fixture
async def harness(tmp_path):
    harness = VirtPOSHarness(tmp_path / "project", fmt="xml")
    assert (await harness.apply(await harness.plan())).status == "applied"
    harness.emulator.put_stock(1, 999, "7", name="не в каталоге")
    return harness


def zeroings(harness) -> list:
    return [r for r in harness.emulator.requests if r["path"] == ZERO]


async def test_a_failure_in_the_middle_never_reaches_the_zeroing(harness):
    harness.emulator.faults.add(Fault("http_error", path=UPDATE, match='"itemid": "103"', times=2))
    plan = await harness.plan(full=True)
    result = await harness.apply(plan)
    assert result.status == "unknown" and "action 3 (updateOnhand)" in result.message
    assert zeroings(harness) == []
    assert harness.emulator.quantities(1)["999"] == "7.000"
    # Re-applying the same plan in a new run: the version is gone, so nothing is zeroed.
    again = await harness.apply(plan)
    assert again.status == "failed" and "Make a new plan" in again.message
    assert zeroings(harness) == [] and harness.emulator.quantities(1)["999"] == "7.000"
    # A new plan converges.
    assert (await harness.apply(await harness.plan(full=True))).status == "applied"
    assert harness.emulator.quantities(1)["999"] == "0.000"
    assert not (await harness.plan()).has_changes


async def test_a_stale_version_zeroes_nothing_and_says_why(harness):
    real = harness.emulator.handle

    def competing_run(path, query, form=None):
        if path == ZERO:  # another full sync took a newer version meanwhile
            real(VERSION, {"apikey": query["apikey"], "warehouseid": "1"})
        return real(path, query, form)

    harness.emulator.handle = competing_run
    result = await harness.apply(await harness.plan(full=True))
    assert result.status == "failed"
    assert "success=0: /api/store/setZeroOnhand: Устаревшая версия остатков 1 (текущая 2)" in result.message
    assert harness.emulator.quantities(1)["999"] == "7.000"


async def test_light_path_writes_in_item_order_and_converges(harness):
    harness.set_stock({"101": "1.5", "102": 0, "103": 12, "104": 13})
    plan = await harness.plan()
    [store] = plan.changed_stores
    assert store.path == "light"
    assert [a.body["itemid"] for a in store.actions] == ["101", "102", "999"]
    await harness.apply(plan, (harness.validated()))
    assert [p["itemid"] for _path, p in writes(harness.emulator)[-3:]] == ["101", "102", "999"]
    assert harness.emulator.quantities(1) == {"101": "1.500", "102": "0.000", "103": "12.000",
                                              "104": "13.000", "999": "0.000"}
    assert not (await harness.plan()).has_changes


async def test_a_timeout_is_retried_with_the_same_parameters(harness):
    harness.emulator.faults.add(Fault("timeout", path=UPDATE, seconds=5, after_processing=True))
    harness.set_stock({"101": 20, "102": 11, "103": 12, "104": 13})
    result = await harness.apply(await harness.plan())
    assert result.status == "applied"
    assert harness.emulator.quantities(1)["101"] == "20.000"


@pytest.mark.parametrize("full,refresh", [(False, True), (True, True), (True, False)])
async def test_the_same_catalog_state_and_live_read_compile_to_the_same_actions(harness, full, refresh):
    # apply re-derives a plan file's actions to prove it was not edited.
    harness.set_stock({"101": 1, "102": 2, "103": 3, "104": 4})
    created = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    plans = [await harness.plan(full=full, refresh=refresh, plan_id="20261201T100000Z-abc123", created=created)
             for _ in range(2)]
    [first, second] = [[json.loads(a.model_dump_json()) for a in p.stores[0].actions] for p in plans]
    assert first == second and len(first) >= 4
