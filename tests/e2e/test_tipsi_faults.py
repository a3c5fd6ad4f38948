"""Tipsi through the engine with the test holding the emulator: sizes, chunking, expired
sessions and injected faults. After each, a second apply converges."""

from __future__ import annotations

import pytest

from reconciler.emulation import Fault
from tipsi_helpers import LOGIN, SYNC, SYNC_CLEAR, TipsiHarness, tipsi_syncs


@pytest.fixture
def harness(tmp_path):
    return TipsiHarness(tmp_path / "project")


def logins(harness) -> list[dict]:
    return [r for r in harness.emulator.requests if r["path"] == LOGIN]


async def test_a_full_resync_of_1000_items_is_one_request(tmp_path):
    harness = TipsiHarness(tmp_path / "big", stores=1, items=1000, chunk_size=300)
    plan = await harness.plan()
    [store] = plan.changed_stores
    assert [(a.kind, len(a.body)) for a in store.actions] == [("ext/sync_clear", 1000)]
    results = await harness.apply(plan)
    assert results["st0"].status == "applied"
    [sent] = tipsi_syncs(harness.emulator)
    assert sent["path"] == SYNC_CLEAR.format(500)
    assert sent["response"]["created_items"] == 1000
    assert not (await harness.plan()).has_changes


async def test_the_light_path_is_chunked_at_chunk_size(tmp_path):
    harness = TipsiHarness(tmp_path / "chunks", stores=1, items=5, chunk_size=2)
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {f"item{i}": 10 + i for i in range(5)}})
    plan = await harness.plan()
    [store] = plan.changed_stores
    assert store.path == "light"
    assert [len(a.body) for a in store.actions] == [2, 2, 1]
    assert {a.path for a in store.actions} == {SYNC.format(500)}
    results = await harness.apply(plan)
    assert results["st0"].requests == 3
    items = harness.emulator.items(500)
    assert {k: v["in_stock"] for k, v in items.items()} == {f"item{i}": 10 + i for i in range(5)}
    assert not (await harness.plan()).has_changes


async def test_a_session_expiring_mid_apply_costs_one_login(tmp_path):
    harness = TipsiHarness(tmp_path / "expiry", stores=1, items=5, chunk_size=2)
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {f"item{i}": 20 + i for i in range(5)}})
    plan = await harness.plan()
    real_sync = harness.emulator.sync
    calls = []

    def sync_then_expire(*args, **kwargs):
        calls.append(args)
        answer = real_sync(*args, **kwargs)
        if len(calls) == 1:
            harness.emulator.expire_sessions()  # Tipsi times the session out after the first chunk
        return answer

    harness.emulator.sync = sync_then_expire
    before = len(harness.emulator.requests)
    results = await harness.apply(plan)
    assert results["st0"].status == "applied"
    sent = harness.emulator.requests[before:]
    assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in sent] == [
        ("login", 200), ("sync", 200), ("sync", 403), ("login", 200), ("sync", 200), ("sync", 200)]
    assert not (await harness.plan()).has_changes


async def test_email_login_works_when_tipsi_takes_only_email(tmp_path):
    harness = TipsiHarness(tmp_path / "email", stores=1, login_field="email")
    harness.emulator.login_fields = ("email",)
    results = await harness.apply(await harness.plan())
    assert results["st0"].status == "applied"
    assert logins(harness)[0]["body"] == {"email": "shop@example.com", "password": "s3cret"}


async def test_a_refused_login_fails_the_store_without_sending_anything(harness):
    (harness.root / "password.txt").write_text("wrong")
    results = await harness.apply(await harness.plan())
    assert {r.status for r in results.values()} == {"failed"}
    assert "login refused (HTTP 400)" in results["st0"].message
    assert "wrong" not in results["st0"].message
    assert tipsi_syncs(harness.emulator) == []


@pytest.mark.parametrize("kind", ["timeout", "drop"])
async def test_an_answer_lost_after_processing_is_retried_and_converges(harness, kind):
    plan = await harness.plan()
    harness.emulator.faults.add(Fault(kind=kind, path=SYNC_CLEAR.format(500), after_processing=True, seconds=5))
    results = await harness.apply(plan)
    assert {r.status for r in results.values()} == {"applied"}
    st0 = [r for r in harness.emulator.requests if r["path"] == SYNC_CLEAR.format(500)]
    assert [r["fault"] for r in st0] == [kind, None]
    # The retry is the same UPSERT: the second answer counts the items as updated.
    assert st0[1]["response"]["updated_items"] == 5
    assert not (await harness.plan()).has_changes


async def test_persistent_5xx_marks_the_store_unknown_and_the_next_plan_goes_full(harness):
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {"item1": 3}, "st1": {"item1": 3}})
    plan = await harness.plan()
    assert [s.path for s in plan.changed_stores] == ["light", "light"]
    harness.emulator.faults.add(Fault(kind="unknown", path=SYNC.format(501), times=3))
    results = await harness.apply(plan)
    assert {name: r.status for name, r in results.items()} == {"st0": "applied", "st1": "unknown"}
    assert "HTTP 503 from Tipsi; no final answer after 3 attempts" in results["st1"].message
    again = await harness.plan()
    [store] = again.changed_stores
    assert (store.store, store.path, store.actions[0].kind) == ("st1", "full", "ext/sync_clear")
    await harness.apply(again)
    assert harness.emulator.items(501)["item1"]["in_stock"] == 3
    assert not (await harness.plan()).has_changes


async def test_an_unknown_first_outcome_on_a_store_not_owned_is_followed_by_an_upsert_not_a_sync_clear(tmp_path):
    harness = TipsiHarness(tmp_path / "p", stores=1, items=3, owned=False)
    harness.emulator.load_seed({"stores": {"500": [{"external_id": "other", "barcodes": ["9"], "in_stock": 4}]}})
    harness.emulator.faults.add(Fault(kind="unknown", path=SYNC.format(500), times=3))
    results = await harness.apply(await harness.plan())
    assert results["st0"].status == "unknown"
    again = await harness.plan()
    [store] = again.changed_stores
    assert store.path == "full" and store.reason.startswith("the last outcome is unknown")
    assert [a.kind for a in store.actions] == ["ext/sync"] and store.unseen == ""
    assert (await harness.apply(again))["st0"].status == "applied"
    assert harness.emulator.items(500)["other"]["in_stock"] == 4  # still never zeroed
    assert not (await harness.plan()).has_changes


async def test_persistent_rate_limit_fails_without_an_unknown_outcome(harness):
    plan = await harness.plan()
    harness.emulator.faults.add(Fault(kind="rate_limit", path=SYNC_CLEAR.format(500), times=3))
    results = await harness.apply(plan)
    assert results["st0"].status == "failed"
    assert "nothing was applied" in results["st0"].message
    assert results["st1"].status == "applied"


async def test_a_drf_error_fails_the_store_with_tipsi_s_words(harness):
    harness.emulator.load_seed({"stores": {"500": [{"external_id": "old", "barcodes": ["100002"], "in_stock": 0}]}})
    results = await harness.apply(await harness.plan())
    assert results["st0"].status == "failed"
    assert ("HTTP 400: item item2: barcodes: Barcode 100002 is already used by item old in this store. Tipsi "
            "refused the whole batch and applied none of it: correct the items named above in the catalog and "
            "apply again.") in results["st0"].message
    assert results["st1"].status == "applied"


async def test_the_provider_calls_only_login_sync_and_sync_clear(tmp_path):
    # One batch instead of a PATCH per item, and nothing read: Tipsi's per-item and
    # inventory endpoints are never called.
    harness = TipsiHarness(tmp_path / "p", stores=1, items=4, owned=False)
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {"item1": 2, "item2": 3}})
    await harness.apply(await harness.plan())
    await harness.apply(await harness.plan(full=True))
    calls = [(r["method"], r["path"]) for r in harness.emulator.requests]
    assert set(calls) == {("POST", LOGIN), ("PATCH", SYNC.format(500))}
    assert calls.count(("PATCH", SYNC.format(500))) == 3


async def test_the_idempotency_key_is_sent_nowhere(harness):
    plan = await harness.plan()
    await harness.apply(plan)
    keys = [a.idempotency_key for s in plan.stores for a in s.actions]
    for record in harness.emulator.requests:
        assert not any(key in str(record["body"]) for key in keys)
