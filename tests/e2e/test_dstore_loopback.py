"""The CLI against a D-Store emulator served over real sockets on loopback."""

from __future__ import annotations

from project_runner import ProjectRunner
from harness import DStoreHarness
from loopback import serve
from reconciler.emulation import Fault


def test_plan_apply_plan_over_loopback_with_a_dropped_connection(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=2, products=5, timeout=2)
    project = ProjectRunner(harness.root)
    with serve(harness.emulator.app) as url:
        project.edit("reconciler.yaml", "https://dstore.invalid", url)
        # The first request is processed, then the connection drops before the answer.
        harness.emulator.faults.add(Fault(kind="drop", after_processing=True))
        result = project.run("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        assert "Apply finished: 2 applied, 0 not applied." in result.output
        assert len(harness.processed()) == 2
        assert sum(r["replayed"] for r in harness.emulator.requests) == 1
        harness.set_stores({"st0": {"item3": "SOLDOUT"}, "st1": {}})
        assert project.run("apply", "--auto-approve").exit_code == 0
        assert harness.emulator.requests[-1]["body"]["products"] == [{"posProductId": "item3", "status": "SOLDOUT"}]
        final = project.run("plan", "--detailed-exitcode")
        assert final.exit_code == 0, final.output
    assert harness.emulator.products("acct1", "st0")["item3"]["status"] == "SOLDOUT"


def test_unreachable_backend_is_reported_unknown_and_apply_exits_1(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=1, products=2, attempts=2, timeout=1)
    project = ProjectRunner(harness.root)
    from loopback import free_port

    project.edit("reconciler.yaml", "https://dstore.invalid", f"http://127.0.0.1:{free_port()}")
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "st0: unknown" in result.output
    assert "connection failed (ConnectError); no final answer after 2 attempts" in result.output
    plan = project.run("plan")
    assert "full path - the last outcome is unknown" in plan.output
