"""`--shard I/N`: a CI matrix of N jobs covers every store exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import DStoreHarness
from loopback import serve
from project_runner import copy_example
from reconciler.planner import shard_of
from reconciler.state import open_state


def _planned(project, *args: str) -> set[tuple[str, str]]:
    result = project.run("plan", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return {(s["backend"], s["store"]) for s in json.loads(result.output)["stores"]}


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_are_disjoint_and_cover_every_store(tmp_path, count):
    project = copy_example("dstore-examples", tmp_path)
    everything = _planned(project)
    assert len(everything) == 6
    shards = [_planned(project, "--shard", f"{i}/{count}") for i in range(1, count + 1)]
    assert set().union(*shards) == everything
    assert sum(map(len, shards)) == len(everything)  # disjoint
    for i, shard in enumerate(shards, 1):
        assert all(shard_of(b, s, count) == i for b, s in shard)


def test_the_split_is_stable_across_processes():
    # sha256 of "backend/store", not the per-process salted hash(): pinned values.
    assert [shard_of("demo", s, 3) for s in ("basic", "combo", "variant", "bundle")] == [1, 1, 2, 1]
    code = "from reconciler.planner import shard_of; print([shard_of('demo', s, 5) for s in 'abcdefgh'])"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert runs == {str([shard_of("demo", s, 5) for s in "abcdefgh"]) + "\n"}


@pytest.mark.parametrize("value", ["0/3", "4/3", "1/0", "x/2", "2", "1/2/3", "-1/2"])
def test_an_invalid_shard_is_a_clear_usage_error(tmp_path, value):
    project = copy_example("dstore-examples", tmp_path)
    result = project.run("plan", "--shard", value)
    assert result.exit_code == 1  # a usage error; 2 would read as "changes present"
    assert "Invalid value for '--shard'" in result.output and "is not I/N with 1 <= I <= N" in result.output


def test_concurrent_sharded_applies_apply_each_store_once(tmp_path, postgres_server):
    """Three `apply --shard i/3` processes at once, one served emulator, PostgreSQL state."""
    harness = DStoreHarness(tmp_path / "p", stores=9, products=3, timeout=10)
    state_url = postgres_server.new_database()
    env = {**os.environ, "RECONCILER_STATE": state_url}
    with serve(harness.emulator.app) as url:
        text = (harness.root / "reconciler.yaml").read_text().replace("https://dstore.invalid", url)
        (harness.root / "reconciler.yaml").write_text(text)
        command = [sys.executable, "-c", "from reconciler.cli import main; main()", "-C", str(harness.root),
                   "apply", "--auto-approve"]
        jobs = [subprocess.Popen([*command, "--shard", f"{i}/3"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for i in (1, 2, 3)]
        outputs = [job.communicate(timeout=120)[0] for job in jobs]
        assert [job.returncode for job in jobs] == [0, 0, 0], outputs
        requests = harness.emulator.requests
    # Each store's full sync reached the backend exactly once: no request sent twice.
    synced = [r["body"]["store"]["posStoreId"] for r in requests]
    assert sorted(synced) == sorted(f"st{n}" for n in range(9))
    assert not any(r["replayed"] for r in requests)
    # And each snapshot is in the state, once: no write lost to a concurrent writer.
    state = open_state(state_url, harness.root)
    try:
        rows = state.all()
        assert sorted(r.store for r in rows) == sorted(f"st{n}" for n in range(9))
        assert all(r.serial == 1 and r.unknown is None and len(r.resources) == 3 for r in rows)
        assert state.locks() == []
    finally:
        state.close()


def _shard_of_store(store: str, count: int = 3) -> int:
    return shard_of("demo", store, count)


def test_a_shard_validates_and_plans_only_the_stores_it_holds(tmp_path):
    # A large chain's shard must cost its own stores, so it leaves the others out right
    # after parsing: a problem in another shard's store is that shard's to report.
    project = copy_example("dstore-examples", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    broken, removed = "variant", "combo"
    assert _shard_of_store(broken) == 2 and _shard_of_store(removed) == 1
    stores = project.root / "stores" / "stores.yaml"
    text = stores.read_text().replace("menu: variant,", "menu: variant, prices: {no-such-product: 1},")
    stores.write_text("\n".join(line for line in text.splitlines() if not line.startswith(f"  {removed}:")) + "\n")

    whole = project.run("plan")
    assert whole.exit_code == 1 and "stores/stores.yaml:6" in whole.output and "no-such-product" in whole.output

    shard_2 = project.run("plan", "--shard", "2/3")
    assert shard_2.exit_code == 1 and "no-such-product" in shard_2.output

    shard_1 = project.run("plan", "--shard", "1/3", "--format", "json")
    assert "no-such-product" not in shard_1.output
    plans = {s["store"]: s for s in json.loads(shard_1.output[shard_1.output.index("{"):])["stores"]}
    # Shard 1 plans its own stores; the store that left the catalog is planned (to be
    # emptied, which safety refuses), and no store of another shard is taken for one that left.
    assert set(plans) == {s for s in ("basic", "modifier-group", "nested-modifiers", "variant", "combo", "bundle")
                          if _shard_of_store(s) == 1}
    assert plans[removed]["changes"] and all(c["op"] == "delete" for c in plans[removed]["changes"])
    assert all(not p["changes"] for store, p in plans.items() if store != removed)

    shard_3 = project.run("plan", "--shard", "3/3", "--detailed-exitcode")
    assert shard_3.exit_code == 0, shard_3.output  # nothing changed in shard 3
