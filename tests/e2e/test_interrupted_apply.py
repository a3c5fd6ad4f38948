"""An apply process killed with SIGKILL: the next plan reads the state correctly.

No store is claimed applied that was not; a store whose request was in flight when the
process died (the in-flight mark written before each request) is unknown, so the next
plan takes the full path for it; the stores finished before the kill stay applied.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import DStoreHarness
from loopback import serve
from project_runner import ProjectRunner
from reconciler.emulation import Fault
from reconciler_dstore.emulator import SYNC_PRODUCT_PATH


def _rows(harness):
    state = harness.state()
    try:
        return {r.store: r for r in state.all()}
    finally:
        state.close()


def _wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the apply to reach the kill point")
        time.sleep(0.05)


@pytest.mark.parametrize("kind, processed_before_kill", [("latency", False), ("timeout", True)],
                         ids=["killed-before-the-backend-took-it", "killed-after-the-backend-took-it"])
def test_sigkill_mid_request_leaves_that_store_unknown_and_the_others_applied(tmp_path, kind, processed_before_kill):
    harness = DStoreHarness(tmp_path / "p", stores=3, products=3, attempts=1, timeout=30)
    project = ProjectRunner(harness.root)
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_STATE"}
    # st1's request hangs for 2 s: a latency fault before processing it, a timeout after.
    harness.emulator.faults.add(Fault(kind=kind, path=SYNC_PRODUCT_PATH, match='"posStoreId":"st1"', seconds=2,
                                      after_processing=processed_before_kill))
    with serve(harness.emulator.app) as url:
        project.edit("reconciler.yaml", "https://dstore.invalid", url)
        apply = subprocess.Popen([sys.executable, "-c", "from reconciler.cli import main; main()",
                                  "-C", str(harness.root), "apply", "--auto-approve"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Kill point: st0 and st2 recorded, st1 marked in flight and its request at the emulator.
            _wait_for(lambda: (rows := _rows(harness)).get("st1") is not None and rows["st1"].in_flight
                      and all(s in rows and rows[s].serial == 1 for s in ("st0", "st2")))
            _wait_for(lambda: any(r["body"]["store"]["posStoreId"] == "st1" for r in harness.emulator.requests)
                      if processed_before_kill else True)
            time.sleep(0.2)
            os.kill(apply.pid, signal.SIGKILL)
        finally:
            apply.wait(timeout=10)
        assert apply.returncode == -signal.SIGKILL
        time.sleep(2.2)  # a request the dead process left behind lands late: still unknown

        rows = _rows(harness)
        processed = {r["body"]["store"]["posStoreId"] for r in harness.processed()}
        # Nothing claimed that did not happen: every applied row was processed by the backend.
        assert {s for s, r in rows.items() if r.serial >= 1 and not r.unknown} == {"st0", "st2"} <= processed
        assert rows["st1"].serial == 0 and rows["st1"].resources == {}
        assert rows["st1"].unknown.startswith("the apply stopped while action 0 (syncProduct.full) of plan ")

        plan = project.run("plan")
        assert "st1 (id st1 on dstore): full path - the last outcome is unknown (the apply stopped while" in plan.output
        assert "Plan: 3 to create, 0 to update, 0 to remove in 1 store;" in plan.output
        assert "locked by" in plan.output  # the dead process's lease, until it expires or is unlocked

        # The way out: unlock the dead job's lease, then apply; the full sync makes st1 certain.
        assert project.run("state", "unlock", "sg", "st1").exit_code == 0
        again = project.run("apply", "--auto-approve")
        assert again.exit_code == 0, again.output
        assert project.run("plan", "--detailed-exitcode").exit_code == 0
    row = _rows(harness)["st1"]
    assert row.unknown is None and row.in_flight is None and len(row.resources) == 3


def test_sigkill_after_some_actions_of_a_store_then_the_same_plan_resumes(tmp_path):
    """Three status-only requests for one store; killed while the third is at the backend."""
    harness = DStoreHarness(tmp_path / "p", stores=1, products=25, attempts=1, timeout=30)
    project = ProjectRunner(harness.root)
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_STATE"}
    with serve(harness.emulator.app) as url:
        project.edit("reconciler.yaml", "https://dstore.invalid", url)
        assert project.run("apply", "--auto-approve").exit_code == 0
        harness.set_stores({"st0": {f"item{i}": "SOLDOUT" for i in range(25)}})
        plan_file = str(harness.root / "plan.json")  # --out is relative to the working directory
        made = project.run("plan", "--out", plan_file, "--force")
        assert made.exit_code == 0 and "3 requests" in made.output, made.output
        base = _rows(harness)["st0"].serial
        harness.emulator.faults.add(Fault(kind="latency", path=SYNC_PRODUCT_PATH, match='"posProductId":"item9"',
                                          seconds=2))
        apply = subprocess.Popen([sys.executable, "-c", "from reconciler.cli import main; main()",
                                  "-C", str(harness.root), "apply", plan_file, "--force"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: (row := _rows(harness)["st0"]).serial == base + 2 and row.in_flight)
            time.sleep(0.2)
            os.kill(apply.pid, signal.SIGKILL)
        finally:
            apply.wait(timeout=10)
        time.sleep(2.2)  # the delayed third request lands after the process died
        row = _rows(harness)["st0"]
        assert (row.serial, row.action_index) == (base + 2, 1)  # two recorded, the third not claimed
        assert row.unknown.startswith("the apply stopped while action 2 (")
        # A new plan cannot know what the backend holds: full path.
        assert "full path - the last outcome is unknown (the apply stopped while action 2" in project.run("plan").output
        # The same plan resumes at the interrupted action (status updates are safe to re-send).
        assert project.run("state", "unlock", "sg", "st0").exit_code == 0
        sent_before = len(harness.emulator.requests)
        resumed = project.run("apply", plan_file, "--force")
        assert resumed.exit_code == 0, resumed.output
        assert len(harness.emulator.requests) - sent_before == 1
        assert project.run("plan", "--detailed-exitcode").exit_code == 0
    assert {p["status"] for p in harness.emulator.products("acct1", "st0").values()} == {"SOLDOUT"}
