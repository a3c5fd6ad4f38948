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
from reconciler_tipsi.emulator import TipsiEmulator  # noqa: E402


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


def seed(project: Path, dstore: DStoreEmulator, tipsi: TipsiEmulator) -> None:
    """State and emulators as if the chain had been applied once (a first full apply of
    a whole chain is not what this benchmark measures)."""
    loaded = load_project(project)
    validated = validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))
    state = open_state(loaded.state_url, loaded.root)
    tipsi_items: dict[str, list[dict]] = {}
    try:
        for view in validated.views:
            provider = validated.providers[view.backend]
            desired = provider.desired(view)
            remote = provider.remote_id(view.binding)
            state.record(view.backend, view.store_id, remote, desired.meta, desired.resources,
                         snapshot_fingerprint(desired.meta, desired.resources), 0, "seed", 0, "seed", 0)
            if view.backend == "dstore":
                dstore.seed_store("chain", remote, desired.meta.get("name"), list(desired.resources.values()))
            else:
                tipsi_items[remote] = list(desired.resources.values())
    finally:
        state.close()
    tipsi.load_seed({"stores": tipsi_items})


def lower_bound(store: dict) -> int:
    """The fewest requests that can carry a store's changes on its backend."""
    if store["provider"] == "dstore":
        # Status-only changes of SINGLE/MODIFIER products: 10 per status update;
        # anything else needs the one full sync.
        light = all(c["op"] == "update" and [f["field"] for f in c["fields"]] == ["status"]
                    and c["new"]["type"] in ("SINGLE", "MODIFIER") for c in store["changes"])
        return math.ceil(len(store["changes"]) / 10) if light else 1
    if store["provider"] == "tipsi":
        return math.ceil(len(store["changes"]) / 300)  # ext/sync upserts, chunk_size items each
    raise ValueError(store["provider"])


def plan_figures(plan: dict) -> dict:
    stores = [s for s in plan["stores"] if s["actions"]]
    figures: dict = {"stores_changed": len(stores), "by_backend": {}}
    for backend in sorted({s["backend"] for s in plan["stores"]}):
        bindings = [s for s in plan["stores"] if s["backend"] == backend]
        changed = [s for s in bindings if s["actions"]]
        figures["by_backend"][backend] = {
            "stores": len(bindings), "stores_changed": len(changed),
            "requests": sum(len(s["actions"]) for s in changed),
            "bytes": sum(a["bytes"] for s in changed for a in s["actions"]),
            "lower_bound": sum(lower_bound(s) for s in changed),
            "naive_requests": len(bindings), "naive_bytes": sum(s["full_cost"]["bytes"] for s in bindings),
        }
    for key in ("requests", "bytes", "lower_bound", "naive_requests", "naive_bytes"):
        figures[key] = sum(b[key] for b in figures["by_backend"].values())
    return figures


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
    tipsi = TipsiEmulator()
    tipsi.add_user("bench", "bench-password")
    (project / "keys").mkdir(parents=True)
    (project / "keys" / "client.pem").write_text(private_pem)
    (project / "keys" / "gateway.pem").write_text(emulator.gateway_public_key_pem)
    (project / "keys" / "tipsi-password").write_text("bench-password")
    drifted, counts = chain.drift(options.stores)
    with serve(emulator.app) as url, serve(tipsi.app) as tipsi_url:
        chain.write_project(project, url, tipsi_url, options.stores)
        started = time.perf_counter()
        seed(project, emulator, tipsi)
        print(f"seeded {options.stores} stores x 1,500 products (every {chain.TIPSI_EVERY}th also on Tipsi) "
              f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        rows.append(("validate", median_of(options.runs, project, "validate")))
        rows.append(("plan, no changes", median_of(options.runs, project, "plan", "--detailed-exitcode")))
        (project / "stores.yaml").write_text(chain.stores_yaml(options.stores, drifted))
        rows.append(("plan, 1% drift", median_of(options.runs, project, "plan", "--detailed-exitcode",
                                                  expect=(2,))))
        plan_file = project / "drift.json"
        measure(project, "plan", "--out", str(plan_file))
        figures = plan_figures(json.loads(plan_file.read_text()))
        before = len(emulator.requests), len(tipsi.requests)
        applied = measure(project, "apply", str(plan_file))
        assert applied["exit"] == 0, applied
        # What reached the emulators, counted there (logins are not changes).
        sent = {"dstore": len(emulator.requests[before[0]:]),
                "tipsi": sum(1 for r in tipsi.requests[before[1]:] if "/ext/sync" in r["path"])}
        for backend, count in sent.items():
            figures["by_backend"][backend]["sent_requests"] = count
        figures["sent_requests"] = sum(sent.values())
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
    print(f"\n{'measurement':48} {'median s':>9} {'peak MiB':>9} {'runs':>5}")
    for name, row in rows:
        print(f"{name:48} {row['seconds']:9.2f} {row['peak_mib']:9.0f} {row['runs']:5}")
    print(f"\n{'apply of the drift':19} {'stores':>7} {'changed':>8} {'sent':>6} {'lower':>6} {'bytes':>12} "
          f"{'naive req':>10} {'naive bytes':>13} {'bytes/naive':>12}")
    for name, f in [*figures["by_backend"].items(), ("all", figures)]:
        stores = f.get("stores", f["naive_requests"])
        print(f"{name:19} {stores:7} {f['stores_changed']:8} {f['sent_requests']:6} {f['lower_bound']:6} "
              f"{f['bytes']:12,} {f['naive_requests']:10} {f['naive_bytes']:13,} {f['bytes'] / f['naive_bytes']:12.1%}")
    print(f"10,000-product file: ruamel round-trip {baseline['seconds']:.2f} s vs ours {ours:.2f} s "
          f"({baseline['seconds'] / ours:.1f}x)")
    print("\ntargets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in result["targets"].items()))
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
