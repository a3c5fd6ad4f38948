"""The CLI against a Tipsi emulator served over real sockets: real cookies, a dropped
connection, sessions expired through the inspection API, an unreachable backend."""

from __future__ import annotations

import httpx

from loopback import free_port, serve
from project_runner import ProjectRunner
from reconciler.emulation import Fault
from tipsi_helpers import LOGIN, SYNC_CLEAR, TipsiHarness, tipsi_syncs


def test_plan_apply_plan_over_loopback(tmp_path):
    harness = TipsiHarness(tmp_path / "p", stores=2, items=4, timeout=2)
    project = ProjectRunner(harness.root)
    with serve(harness.emulator.app) as url:
        project.edit("reconciler.yaml", "https://tipsi.invalid", url)
        harness.emulator.faults.add(Fault(kind="drop", path=SYNC_CLEAR.format(500), after_processing=True))
        result = project.run("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        assert "Apply finished: 2 applied, 0 not applied." in result.output
        assert httpx.delete(f"{url}/_emulator/sessions").json()["expired"] >= 1
        harness.set_stores({"st0": {"item3": 8}, "st1": {}})
        result = project.run("apply", "--auto-approve")
        assert "st0: applied, 1 request (created items 0, updated items 1, cleared items 0)" in result.output
        assert tipsi_syncs(harness.emulator)[-1]["body"][0]["in_stock"] == 8
        assert project.run("plan", "--detailed-exitcode").exit_code == 0
    assert [r["path"] for r in harness.emulator.requests].count(LOGIN) >= 2


def test_an_unreachable_backend_fails_without_an_unknown_outcome(tmp_path):
    harness = TipsiHarness(tmp_path / "p", stores=1, items=2, attempts=2, timeout=1)
    project = ProjectRunner(harness.root)
    project.edit("reconciler.yaml", "https://tipsi.invalid", f"http://127.0.0.1:{free_port()}")
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "st0: failed" in result.output
    assert "login failed (ConnectError) (gave up after 2 attempts; nothing was applied)" in result.output
