"""Faults in the middle of an apply: timeouts, dropped connections, U and F results.

After any of them a second apply converges, nothing is lost, and nothing that D-Store
already processed is processed again."""

from __future__ import annotations

import json
import sqlite3

import pytest

from harness import DStoreHarness
from reconciler.emulation import Fault

PATH = "/v2/pos/syncProduct"


@pytest.fixture
def harness(tmp_path):
    return DStoreHarness(tmp_path / "project")


def state_rows(harness):
    db = sqlite3.connect(harness.root / ".reconciler" / "state.db")
    try:
        return {row[0]: row[1:] for row in db.execute("SELECT store, serial, fingerprint, unknown FROM stores")}
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["timeout", "drop"])
async def test_answer_lost_after_processing_is_retried_with_the_same_request_id(harness, kind):
    plan = await harness.plan()
    # The second request is processed by D-Store but its answer never arrives.
    harness.emulator.faults.add(Fault(kind="latency", path=PATH, seconds=0))
    harness.emulator.faults.add(Fault(kind=kind, path=PATH, after_processing=True, seconds=5))
    results = await harness.apply(plan)
    assert {r.status for r in results.values()} == {"applied"}
    processed = harness.processed()
    assert len(processed) == 3  # each store processed exactly once
    assert len({r["requestId"] for r in processed}) == 3
    replays = [r for r in harness.emulator.requests if r["replayed"]]
    assert len(replays) == 1 and replays[0]["requestId"] in {r["requestId"] for r in processed}
    again = await harness.plan()
    assert not again.has_changes


async def test_persistent_unknown_marks_the_store_and_the_next_plan_goes_full(harness):
    plan = await harness.plan()
    await harness.apply(plan)
    harness.set_stores({"st0": {"item1": "SOLDOUT"}, "st1": {"item1": "SOLDOUT"}, "st2": {}})
    plan = await harness.plan()
    assert [s.path for s in plan.changed_stores] == ["light", "light"]
    # Every attempt for st1 answers U; st0 goes on.
    harness.emulator.faults.add(Fault(kind="unknown", path=PATH, match='"posStoreId":"st1"', times=3))
    results = await harness.apply(plan)
    assert {name: r.status for name, r in results.items()} == {"st0": "applied", "st1": "unknown"}
    unknown_store = "st1"
    assert "no final answer after 3 attempts" in results[unknown_store].message
    assert state_rows(harness)[unknown_store][2]  # marked unknown
    # The next plan takes the full path for that store, and only for it.
    follow_up = await harness.plan()
    paths = {s.store: s.path for s in follow_up.changed_stores}
    assert paths == {unknown_store: "full"}
    assert "unknown" in follow_up.changed_stores[0].reason
    before = len(harness.processed())
    results = await harness.apply(follow_up)
    assert results[unknown_store].status == "applied"
    assert len(harness.processed()) == before + 1
    assert harness.emulator.products("acct1", unknown_store)["item1"]["status"] == "SOLDOUT"
    assert state_rows(harness)[unknown_store][2] is None
    assert not (await harness.plan()).has_changes


async def test_reapplying_the_same_plan_resumes_with_the_same_request_id(harness):
    plan = await harness.plan()
    # st2's request times out on every attempt, before D-Store processes it.
    harness.emulator.faults.add(Fault(kind="timeout", path=PATH, match='"posStoreId":"st2"', seconds=5, times=3))
    first = await harness.apply(plan)
    assert {name: r.status for name, r in first.items()} == {"st0": "applied", "st1": "applied", "st2": "unknown"}
    stuck = "st2"
    stuck_key = next(s.actions[0].idempotency_key for s in plan.stores if s.store == stuck)
    second = await harness.apply(plan)
    assert second[stuck].status == "applied"
    assert {name for name, r in second.items() if r.status == "skipped"} == set(first) - {stuck}
    assert [r["requestId"] for r in harness.processed()].count(stuck_key) == 1
    assert len(harness.processed()) == 3
    assert not (await harness.plan()).has_changes


async def test_server_errors_are_retried(harness):
    plan = await harness.plan()
    harness.emulator.faults.add(Fault(kind="http_error", path=PATH, status=503, times=2))
    results = await harness.apply(plan)
    assert {r.status for r in results.values()} == {"applied"}
    assert len(harness.processed()) == 3


async def test_rate_limit_retried_then_reported_as_failed_not_unknown(harness):
    plan = await harness.plan()
    harness.emulator.faults.add(Fault(kind="rate_limit", path=PATH, match='"posStoreId":"st1"', times=3))
    results = await harness.apply(plan)
    failed = [r for r in results.values() if r.status == "failed"]
    assert len(failed) == 1 and "REQUEST_TRAFFIC_EXCEED_LIMIT" in failed[0].message
    assert {r.store for r in results.values() if r.status == "applied"} == {"st0", "st2"}
    assert state_rows(harness).get(failed[0].store) is None  # nothing claimed
    follow_up = await harness.plan()
    assert [s.store for s in follow_up.changed_stores] == [failed[0].store]


async def test_an_f_result_leaves_the_state_of_that_store_unchanged(harness):
    await harness.apply(await harness.plan())
    before = state_rows(harness)
    harness.set_stores({"st0": {"item2": "SOLDOUT"}, "st1": {"item2": "SOLDOUT"}, "st2": {}})
    plan = await harness.plan()
    # D-Store forgets the client's key: every request now fails with INVALID_SIGNATURE (F).
    harness.emulator.register_client("2022-test-client", harness.emulator.gateway_public_key_pem)
    results = await harness.apply(plan)
    assert {r.status for r in results.values()} == {"failed"}
    assert all("INVALID_SIGNATURE" in r.message for r in results.values())
    assert state_rows(harness) == before
    assert [s.path for s in (await harness.plan()).changed_stores] == ["light", "light"]


async def test_secrets_never_reach_the_plan_the_state_or_messages(harness):
    plan = await harness.plan()
    results = await harness.apply(plan)
    key_body = "".join(harness.client_private_pem.strip().splitlines()[1:-1])
    needles = [key_body[:40], key_body[-40:]]
    db_bytes = (harness.root / ".reconciler" / "state.db").read_bytes()
    for needle in needles:
        assert needle not in plan.to_json()
        assert needle.encode() not in db_bytes
        assert needle not in json.dumps([r.__dict__ for r in results.values()])
    harness.emulator.register_client("2022-test-client", harness.emulator.gateway_public_key_pem)
    harness.set_stores({"st0": {"item2": "SOLDOUT"}, "st1": {}, "st2": {}})
    failed = await harness.apply(await harness.plan())
    for needle in needles:
        assert needle not in failed["st0"].message


async def test_interrupted_light_path_resumes_at_the_next_batch(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=1, products=25)
    (harness.root / "reconciler.yaml").write_text(
        (harness.root / "reconciler.yaml").read_text() + "safety: {max_unavailable_share: 1}\n")
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {f"item{i}": "SOLDOUT" for i in range(25)}})
    plan = await harness.plan()
    (store,) = plan.changed_stores
    assert [len(a.body["products"]) for a in store.actions] == [10, 10, 5]
    # The second batch never gets an answer; the first is recorded, the third not sent.
    second = store.actions[1].idempotency_key
    harness.emulator.faults.add(Fault(kind="timeout", path=PATH, match=second, seconds=5, times=3))
    first = await harness.apply(plan)
    assert first["st0"].status == "unknown" and first["st0"].requests == 1
    assert [r["requestId"] for r in harness.processed()][-1] == store.actions[0].idempotency_key
    resumed = await harness.apply(plan)
    assert resumed["st0"].status == "applied" and resumed["st0"].requests == 2
    keys = [r["requestId"] for r in harness.processed()][1:]
    assert keys == [a.idempotency_key for a in store.actions]  # each batch processed once, in order
    assert all(p["status"] == "SOLDOUT" for p in harness.emulator.products("acct1", "st0").values())
    assert not (await harness.plan()).has_changes


async def test_a_locked_store_is_reported_and_left_alone(harness):
    from datetime import timedelta

    state = harness.state()
    state.acquire("sg", "st1", "ci-job-42@runner", timedelta(minutes=5))
    state.close()
    plan = await harness.plan()
    locked = next(s for s in plan.stores if s.store == "st1")
    assert any("locked by ci-job-42@runner" in w for w in locked.warnings)
    results = await harness.apply(plan)
    assert results["st1"].status == "locked" and "ci-job-42@runner" in results["st1"].message
    assert {results["st0"].status, results["st2"].status} == {"applied"}
    assert {r["body"]["store"]["posStoreId"] for r in harness.processed()} == {"st0", "st2"}


async def test_answers_that_fail_signature_verification_are_not_trusted(harness):
    from reconciler_dstore import signing

    # The configured gateway key is not the one D-Store signs with.
    _, other_public = signing.generate_key_pair()
    (harness.root / "keys" / "gateway.pem").write_text(other_public)
    results = await harness.apply(await harness.plan())
    assert {r.status for r in results.values()} == {"unknown"}
    assert all("response signature missing or invalid" in r.message for r in results.values())
    # Nothing is claimed in the state; the next plan takes the full path everywhere.
    assert {s.path for s in (await harness.plan()).changed_stores} == {"full"}
