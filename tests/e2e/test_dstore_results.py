"""What a user reads after an apply, for every result of the document's table.

The CLI against the emulator over loopback: each F result is shown with D-Store's code
and message and what to do, and leaves the state as it was; a rate limit is backed off
and then reported failed; U is retried with the same requestId and reported unknown.
"""

from __future__ import annotations

import sqlite3

import pytest

from harness import DStoreHarness
from loopback import serve
from project_runner import ProjectRunner
from reconciler.emulation import Fault

PATH = "/v2/pos/syncProduct"
STORE_LINE = "sg/st0: failed, 0 requests - action 0 (syncProduct.full): "  # requests: those that succeeded
F_RESULTS = [
    ("PROCESS_FAIL", "A general business failure occurred. Do not retry.",
     "contact overseas_support@service.alibaba.com to troubleshoot it, quoting the requestId"),
    ("PARAM_ILLEGAL", "Parameter names or values do not meet the specified requirements.",
     "check the request parameters (headers and body) against the syncProduct document"),
    ("INVALID_API", "The called API is invalid or not active.", "check the API name"),
    ("ACCESS_DENIED", "Access is denied", "contact overseas_support@service.alibaba.com to troubleshoot access"),
]


def stores_recorded(root) -> dict:
    with sqlite3.connect(root / ".reconciler" / "state.db") as db:
        return {row[0]: row[1:] for row in db.execute("SELECT store, serial, unknown FROM stores")}


@pytest.fixture
def served(tmp_path):
    """A one-store project whose D-Store is the harness's emulator, on loopback."""
    harness = DStoreHarness(tmp_path / "p", stores=1, products=3)
    project = ProjectRunner(harness.root)
    with serve(harness.emulator.app) as url:
        project.edit("reconciler.yaml", "https://dstore.invalid", url)
        yield harness, project


def test_every_result_of_the_table_reads_as_the_table_says(served):
    harness, project = served
    emulator = harness.emulator
    for code, message, what_to_do in F_RESULTS:
        emulator.faults.add(Fault(kind="result", path=PATH, code=code, times=3))
        failed = project.run("apply", "--auto-approve")
        emulator.faults.clear()
        assert failed.exit_code == 1, failed.output
        assert f"{STORE_LINE}{code}: {message} (requestId " in failed.output
        assert what_to_do in failed.output
        assert "Apply finished: 0 applied, 1 not applied." in failed.output
    assert stores_recorded(harness.root) == {}  # nothing claimed
    assert sum(r["requestId"] is not None for r in emulator.requests) == len(F_RESULTS)  # one request each

    emulator.faults.add(Fault(kind="rate_limit", path=PATH, times=3))
    limited = project.run("apply", "--auto-approve")
    assert limited.exit_code == 1
    assert ("sg/st0: failed, 0 requests - action 0 (syncProduct.full): REQUEST_TRAFFIC_EXCEED_LIMIT: "
            "The request traffic exceeds the limit. (requestId ") in limited.output
    assert "3 attempts): retried with backoff and still limited; reduce the calling frequency" in limited.output
    assert stores_recorded(harness.root) == {}

    emulator.faults.add(Fault(kind="unknown", path=PATH, times=3))
    unknown = project.run("apply", "--auto-approve")
    assert unknown.exit_code == 1
    assert "sg/st0: unknown" in unknown.output
    assert "UNKNOWN_EXCEPTION: An API calling is failed, which is caused by unknown reasons." in unknown.output
    assert "contact overseas_support@service.alibaba.com" in unknown.output
    assert "the next plan takes the full path" in unknown.output
    tries = [r for r in emulator.requests if r["fault"] == "unknown"]
    assert len(tries) == 3 and len({(r["requestId"], r["body_sha256"]) for r in tries}) == 1

    applied = project.run("apply", "--auto-approve")
    assert applied.exit_code == 0 and "sg/st0: applied, 1 request" in applied.output
    assert stores_recorded(harness.root)["st0"][1] is None


def test_a_status_update_for_a_product_removed_in_dstore_console_says_how_to_resync(served):
    """A PARAM_ILLEGAL the catalog cannot show: someone removed a product in D-Store."""
    harness, project = served
    emulator = harness.emulator
    assert project.run("apply", "--auto-approve").exit_code == 0
    config = harness.root / "reconciler.yaml"
    config.write_text(config.read_text() + "safety: {max_unavailable_share: 1}\n")
    held = emulator.products("acct1", "st0")
    emulator.seed_store("acct1", "st0", "st0", [held["item0"], held["item2"]])
    harness.set_stores({"st0": {"item1": "SOLDOUT"}})
    failed = project.run("apply", "--auto-approve")
    assert failed.exit_code == 1
    assert ("action 0 (syncProduct.status): PARAM_ILLEGAL: products[0].posProductId 'item1' does not exist "
            "in this store") in failed.output
    assert "`reconciler apply --full` sends it whole again" in failed.output
    full = project.run("apply", "--auto-approve", "--full")
    assert full.exit_code == 0, full.output
    assert emulator.products("acct1", "st0")["item1"]["status"] == "SOLDOUT"
