"""A plan file is applied only as it was reviewed.

`apply plan.json` derives the plan again from the catalog and state it records and
refuses any difference, so a body edited after review (a price of 2000 made 1) never
reaches the backend; a resumed plan is checked against the digest its state row kept;
and the state records a hash of exactly what was sent.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from dstore_helpers import emulator_of
from harness import DStoreHarness
from project_runner import copy_example
from reconciler.emulation import Fault
from reconciler.errors import PlanError
from reconciler.fingerprint import encode_body
from reconciler.plan import Plan
from reconciler.planner import check_fresh


@pytest.fixture
def reviewed(tmp_path):
    """dstore-examples applied once, then a price change planned into plan.json."""
    project = copy_example("dstore-examples", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.edit("menus/basic.yaml", 'p1: {name: chicken burger, price: "10.00"}',
                 'p1: {name: chicken burger, price: "20.00"}')
    assert project.run("plan", "--out", str(project.root / "plan.json")).exit_code == 0
    return project


def edit_plan(project, change) -> None:
    path = project.root / "plan.json"
    plan = json.loads(path.read_text())
    [store] = [s for s in plan["stores"] if s["actions"]]
    change(store)
    path.write_text(json.dumps(plan, indent=1))


def state_rows(project) -> str:
    return project.run("state", "show", "demo", "basic").output


@pytest.mark.parametrize("what, change", [
    ("a price in an action body", lambda s: s["actions"][0]["body"]["products"][0]["price"].update(value=1)),
    ("the snapshot the state would record", lambda s: s["resources"]["p1"]["price"].update(value=1)),
    ("the safety thresholds", lambda s: s["safety"].update(max_removed_share=1.0, max_unavailable_share=1.0)),
    ("an action's effect", lambda s: s["actions"][0]["effect"].update(replace=False)),
])
def test_an_edited_plan_file_is_refused_and_nothing_is_sent(reviewed, what, change):
    edit_plan(reviewed, change)
    sent_before = len(emulator_of(reviewed.root).requests)
    state_before = state_rows(reviewed)
    result = reviewed.run("apply", str(reviewed.root / "plan.json"))
    assert result.exit_code == 1, (what, result.output)
    assert "is not the plan its catalog and state give, so it was edited after it was made; nothing was sent" \
        in result.output
    assert "demo/basic:" in result.output
    assert len(emulator_of(reviewed.root).requests) == sent_before
    assert state_rows(reviewed) == state_before


def test_the_reviewed_plan_applies_and_the_state_records_a_hash_of_what_was_sent(reviewed):
    result = reviewed.run("apply", str(reviewed.root / "plan.json"))
    assert result.exit_code == 0, result.output
    emulator = emulator_of(reviewed.root)
    assert emulator.products("bk001", "s1")["p1"]["price"] == {"currency": "SGD", "value": 2000}
    plan = json.loads((reviewed.root / "plan.json").read_text())
    [action] = [s for s in plan["stores"] if s["actions"]][0]["actions"]
    from reconciler.state import open_state

    state = open_state("sqlite:///.reconciler/state.db", reviewed.root)
    try:
        last = state.history("demo", "basic")[-1]
    finally:
        state.close()
    assert last["request_sha256"] == hashlib.sha256(encode_body(action["body"])).hexdigest()
    assert reviewed.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_plan_made_by_another_version_is_refused(reviewed):
    path = reviewed.root / "plan.json"
    path.write_text(path.read_text().replace('"tool_version": "', '"tool_version": "9.9.9-other-', 1))
    result = reviewed.run("apply", str(path))
    assert result.exit_code == 1 and "was made by reconciler 9.9.9-other-" in result.output


async def test_a_partly_applied_plan_resumes_only_with_the_actions_it_started(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=1, products=25)
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {f"item{i}": "SOLDOUT" for i in range(25)}})
    plan = await harness.plan()
    store = plan.stores[0]
    assert [a.kind for a in store.actions] == ["syncProduct.status"] * 3
    # The second batch is refused (rate limited until the client gives up, nothing processed):
    # the first is recorded, the store stopped.
    harness.emulator.faults.add(Fault(kind="result", code="REQUEST_TRAFFIC_EXCEED_LIMIT", path="/v2/pos/syncProduct",
                                      match='"posProductId":"item18"', times=3))
    assert (await harness.apply(plan))["st0"].status == "failed"
    raw = plan.model_dump(mode="json")
    for product in raw["stores"][0]["actions"][2]["body"]["products"]:
        product["status"] = "AVAILABLE"  # someone edits the batch that was not sent yet
    edited = Plan.model_validate(raw)
    state = harness.state()
    try:
        with pytest.raises(PlanError, match="its actions differ from the ones this plan started applying"):
            await check_fresh(edited, harness.validated(), state)
        await check_fresh(plan, harness.validated(), state)  # the same plan resumes
    finally:
        state.close()
    # Even past the check (a library caller), the applier refuses under the lease.
    sent = len(harness.emulator.requests)
    result = (await harness.apply(edited))["st0"]
    assert result.status == "stale" and "was the plan file edited?" in result.message
    assert len(harness.emulator.requests) == sent
    assert (await harness.apply(plan))["st0"].status == "applied"
