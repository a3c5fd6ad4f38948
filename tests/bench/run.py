"""The chain benchmark: validate, plan, plan with 1% drift, apply of that drift over
loopback, and loading a 10,000-product file, each the median of several runs with peak
memory; side by side with the obvious baselines. Prints one table and writes JSON.

    ./scripts/bench [--stores 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "support")]

import chain  # noqa: E402
from loopback import serve  # noqa: E402

from reconciler.fingerprint import snapshot_fingerprint  # noqa: E402
from reconciler.project import load_project  # noqa: E402
from reconciler.provider import ProviderContext  # noqa: E402
from reconciler.state import open_state  # noqa: E402
from reconciler.validation import validate_project  # noqa: E402
from reconciler_dstore import signing  # noqa: E402
from reconciler_dstore.emulator import DStoreEmulator  # noqa: E402


def measure(project: Path, *args: str) -> dict:
    """One CLI run in a fresh process: wall seconds (start-up included), peak bytes, exit code."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(HERE / "measure.py"), "-C", str(project), *args],
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    line = result.stderr.strip().splitlines()[-1]
    data = json.loads(line)
    data["seconds"] = seconds
    data["stdout"] = result.stdout
    return data


def median_of(runs: int, project: Path, *args: str, expect: tuple[int, ...] = (0,)) -> dict:
    samples = []
    for _ in range(runs):
        sample = measure(project, *args)
        assert sample["exit"] in expect, (args, sample)
        samples.append(sample)
    return {"seconds": statistics.median(s["seconds"] for s in samples),
            "peak_mib": max(s["peak_bytes"] for s in samples) / 2**20, "runs": runs}


def timed_snippet(runs: int, code: str) -> dict:
    """Median seconds of `code` after its imports (up to the START line), each run in a
    fresh process, with that process's peak memory."""
    imports, body = code.split("START\n")
    script = ("import json, sys, time\nfrom pathlib import Path\n" + imports
              + "sys.path.insert(0, " + repr(str(HERE)) + ")\nfrom measure import peak_bytes\n"
              + "started = time.perf_counter()\n" + body
              + "print(json.dumps({'seconds': time.perf_counter() - started, 'peak_bytes': peak_bytes()}))\n")
    samples = [json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                         check=True).stdout) for _ in range(runs)]
    return {"seconds": statistics.median(s["seconds"] for s in samples),
            "peak_mib": max(s["peak_bytes"] for s in samples) / 2**20, "runs": runs}


def seed(project: Path, emulator: DStoreEmulator) -> None:
    """State and emulator as if the chain had been applied once (a first full apply of a
    whole chain is not what this benchmark measures)."""
    loaded = load_project(project)
    validated = validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))
    provider = validated.providers["dstore"]
    state = open_state(loaded.state_url, loaded.root)
    try:
        for view in validated.views:
            desired = provider.desired(view)
            remote = provider.remote_id(view.binding)
            state.record("dstore", view.store_id, remote, desired.meta, desired.resources,
                         snapshot_fingerprint(desired.meta, desired.resources), 0,
                         "seed", 0, "seed", 0)
            emulator.seed_store("chain", remote, desired.meta.get("name"), list(desired.resources.values()))
    finally:
        state.close()


def plan_figures(plan: dict) -> dict:
    stores = [s for s in plan["stores"] if s["actions"]]
    requests = sum(len(s["actions"]) for s in stores)
    sent = sum(a["bytes"] for s in stores for a in s["actions"])
    naive = sum(s["full_cost"]["bytes"] for s in plan["stores"])
    lower = 0
    for s in stores:
        light = all(c["op"] == "update" and [f["field"] for f in c["fields"]] == ["status"]
                    and c["new"]["type"] in ("SINGLE", "MODIFIER") for c in s["changes"])
        lower += math.ceil(len(s["changes"]) / 10) if light else 1
    return {"stores_changed": len(stores), "requests": requests, "bytes": sent, "lower_bound": lower,
            "naive_requests": len(plan["stores"]), "naive_bytes": naive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    options = parser.parse_args()
    rows: list[tuple[str, dict]] = []
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    project = work / "chain"
    private_pem, public_pem = signing.generate_key_pair()
    emulator = DStoreEmulator()
    emulator.register_client("bench-client", public_pem)
    (project / "keys").mkdir(parents=True)
    (project / "keys" / "client.pem").write_text(private_pem)
    (project / "keys" / "gateway.pem").write_text(emulator.gateway_public_key_pem)
    drifted, counts = chain.drift(options.stores)
    with serve(emulator.app) as url:
        chain.write_project(project, url, options.stores)
        started = time.perf_counter()
        seed(project, emulator)
        print(f"seeded {options.stores} stores x 1,500 products in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        rows.append(("validate", median_of(options.runs, project, "validate")))
        rows.append(("plan, no changes", median_of(options.runs, project, "plan", "--detailed-exitcode")))
        (project / "stores.yaml").write_text(chain.stores_yaml(options.stores, drifted))
        rows.append(("plan, 1% drift", median_of(options.runs, project, "plan", "--detailed-exitcode",
                                                  expect=(2,))))
        plan_file = project / "drift.json"
        measure(project, "plan", "--out", str(plan_file))
        figures = plan_figures(json.loads(plan_file.read_text()))
        before = len(emulator.requests)
        applied = measure(project, "apply", str(plan_file))
        assert applied["exit"] == 0, applied
        sent = emulator.requests[before:]
        figures["sent_requests"] = len(sent)
        rows.append(("apply 1% drift (loopback)", {"seconds": applied["seconds"],
                                                   "peak_mib": applied["peak_bytes"] / 2**20, "runs": 1}))
        after = measure(project, "plan", "--detailed-exitcode")
        assert after["exit"] == 0, "the chain did not converge after the drift apply"

    big = work / "big"
    big.mkdir()
    (big / "reconciler.yaml").write_text("catalog: [big.yaml]\n")
    (big / "big.yaml").write_text(chain.big_file())
    rows.append(("`validate` of a 10,000-product file (CLI)", median_of(options.runs, big, "validate")))
    # Like with like for the ratio: both timed inside a fresh process after imports.
    rows.append(("load+validate of that file (in-process)", timed_snippet(options.runs, (
        "from reconciler.project import load_project\n"
        "from reconciler.provider import ProviderContext\n"
        "from reconciler.validation import validate_project\n"
        "START\n"
        f"loaded = load_project(Path({str(big)!r}))\n"
        "validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))\n"))))
    rows.append(("baseline: ruamel round-trip load (in-process)", timed_snippet(options.runs, (
        "from ruamel.yaml import YAML\n"
        "START\n"
        f"YAML(typ='rt').load(Path({str(big / 'big.yaml')!r}).read_text())\n"))))
    baseline = dict(rows)["baseline: ruamel round-trip load (in-process)"]

    ours = dict(rows)["load+validate of that file (in-process)"]["seconds"]
    result = {
        "stores": options.stores, "products_per_store": len(chain.product_ids()), "drift": counts,
        "measurements": {name: row for name, row in rows},
        "apply": figures,
        "ratios": {
            "ruamel_load_over_ours": baseline["seconds"] / ours,
            "drift_bytes_over_naive_full_resync": figures["bytes"] / figures["naive_bytes"],
            "drift_requests_over_naive_full_resync": figures["requests"] / figures["naive_requests"],
            "requests_over_lower_bound": figures["sent_requests"] / figures["lower_bound"],
        },
        "targets": {
            "plan 1% drift <= 10 s": dict(rows)["plan, 1% drift"]["seconds"] <= 10,
            "plan 1% drift <= 2 GiB": dict(rows)["plan, 1% drift"]["peak_mib"] <= 2048,
            "10k file >= 10x faster than ruamel": baseline["seconds"] / ours >= 10,
            "apply requests == lower bound": figures["sent_requests"] == figures["lower_bound"],
            "drift bytes <= 5% of naive": figures["bytes"] / figures["naive_bytes"] <= 0.05,
        },
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2))
    print(f"\n{'measurement':45} {'median s':>9} {'peak MiB':>9} {'runs':>5}")
    for name, row in rows:
        print(f"{name:45} {row['seconds']:9.2f} {row['peak_mib']:9.0f} {row['runs']:5}")
    f = figures
    print(f"\napply of the drift: {f['sent_requests']} requests (lower bound {f['lower_bound']}), {f['bytes']:,} bytes; "
          f"naive full resync: {f['naive_requests']} requests, {f['naive_bytes']:,} bytes "
          f"({f['bytes'] / f['naive_bytes']:.1%})")
    print(f"10,000-product file: ruamel round-trip {baseline['seconds']:.2f} s vs ours {ours:.2f} s "
          f"({baseline['seconds'] / ours:.1f}x)")
    print("\ntargets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in result["targets"].items()))
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
