"""The chain benchmark. For a generated chain (`chain.py`: `realistic` by default, or the
earlier `shared` one) at one or more sizes, each step in a fresh process with its peak
memory (median of `--runs`):

  validate   `reconciler validate`
  plan       `plan` with no changes since the last apply
  pr         `plan --out` after a pull request that edits 5 stores
  drift      `plan` with about 1% of the store-level facts drifted
  apply      `apply` of that drift over loopback, requests counted where they arrive
  floor      the same files parsed with the fastest parser, expanded and hashed, and the
             state read (floor.py): every step is also shown as a ratio to it
  ceiling    httpx against a trivial loopback server (ceiling.py): apply as a ratio to it
  file       loading a 10,000-product file, beside ruamel's round-trip loader

    ./scripts/bench                                   # realistic, 500 stores, every step
    ./scripts/bench --scale 100,500,2000 --steps plan,drift --runs 1
    ./scripts/bench --scenario shared
    ./scripts/bench --stores 1000 --shards 4          # sharded planning on PostgreSQL
    ./scripts/bench --stores 500 --steps drift,apply --runs 1 --profile /tmp/prof

Prints tables and writes everything as JSON to tests/bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "support")]

import ceiling  # noqa: E402
import chain  # noqa: E402
from emulators import Emulators  # noqa: E402
from figures import changed_stores, plan_figures  # noqa: E402
from loopback import serve  # noqa: E402
from processes import measure, median_of, python_json, timed_snippet  # noqa: E402
from profile_top import print_top, top  # noqa: E402
from seed import seed_emulators  # noqa: E402

from reconciler_dstore import signing  # noqa: E402

STEPS = ("validate", "plan", "pr", "drift", "apply", "floor", "ceiling", "file")
CHAIN_STEPS = ("validate", "plan", "pr", "drift", "apply")
NAMES = {"validate": "validate", "plan": "plan, no changes", "pr": f"plan --out, PR editing {chain.PR_STORES} stores",
         "pr-full": "the same PR plan, --no-cache", "drift": "plan, 1% drift", "apply": "apply 1% drift (loopback)"}
# Issue 15, on this machine, realistic chain: (stores, step) -> (seconds, MiB).
TARGETS = {(500, "drift"): (10, 1024), (2000, "drift"): (40, 3072), (2000, "pr"): (2, None)}
APPLY_TARGET = 200  # requests per second over loopback
CEILING_REQUESTS = 2000


def run_chain(scenario: object, stores: int, steps: set[str], runs: int, work: Path, keys: tuple[str, str],
              profile: Path | None, parallelism: int | None = None) -> dict:
    """Every chain step of one scenario at one size."""
    project = work / f"{scenario.name}-{stores}"
    emulators = Emulators(*keys, chain.MIPOS_ACCOUNT)
    out: dict = {"stores": stores, "rows": {}}
    rows = out["rows"]
    with emulators.serving() as urls:
        started = time.perf_counter()
        scenario.write(project, urls)
        emulators.write_keys(project)
        out["generate_seconds"] = time.perf_counter() - started
        seeded = python_json(str(HERE / "seed.py"), str(project))
        out["seed"] = seeded
        state_url = f"sqlite:///{project / '.reconciler' / 'state.db'}"
        if "apply" in steps:
            started = time.perf_counter()
            seed_emulators(project, state_url, emulators.dstore, emulators.tipsi, emulators.mipos)
            out["seed_emulators_seconds"] = time.perf_counter() - started
        print(f"[{scenario.name} {stores}] generated in {out['generate_seconds']:.1f} s; state seeded with "
              f"{seeded['bindings']} bindings in {seeded['seconds']:.1f} s", file=sys.stderr)

        def step(name: str, *args: str, expect: tuple[int, ...] = (0,)) -> None:
            rows[name] = median_of(runs, project, *args, expect=expect)
            print(f"[{scenario.name} {stores}] {NAMES[name]}: {rows[name]['seconds']:.2f} s, "
                  f"{rows[name]['peak_mib']:.0f} MiB", file=sys.stderr)

        if "validate" in steps:
            step("validate", "validate")
        # Full plans are measured with --no-cache: the plan cache makes a repeated plan of
        # an unchanged chain cost only reading and hashing its files.
        if "plan" in steps:
            step("plan", "plan", "--detailed-exitcode", "--no-cache")
        if "floor" in steps:
            out["floor"] = floor_of(runs, project)
            print(f"[{scenario.name} {stores}] floor: {out['floor']['seconds']:.2f} s", file=sys.stderr)
        if "pr" in steps:
            measure(project, "plan")  # the plan of main before the PR: it fills the plan cache
            scenario.edit_pr(project)
            pr_plan = project / "pr.json"
            step("pr", "plan", "--detailed-exitcode", "--out", str(pr_plan), expect=(2,))
            step("pr-full", "plan", "--detailed-exitcode", "--no-cache", expect=(2,))
            changed = changed_stores(json.loads(pr_plan.read_text()))
            out["pr"] = {"edited_stores": scenario.pr_stores, "changed_bindings": sorted(map(list, changed)),
                         "only_edited_stores": {s for _, s in changed} == set(scenario.pr_stores)}
            scenario.restore(project)
        if "drift" in steps or "apply" in steps:
            scenario.edit_drift(project)
            out["drift_counts"] = scenario.drift_counts
        if "drift" in steps:
            step("drift", "plan", "--detailed-exitcode", "--no-cache", expect=(2,))
        if profile is not None and ("drift" in steps or "apply" in steps):
            profile.mkdir(parents=True, exist_ok=True)
            measure(project, "plan", profile=profile / f"{scenario.name}-{stores}-plan-drift.speedscope.json")
        if "apply" in steps:
            out["apply"] = apply_drift(project, emulators, profile and profile / f"{scenario.name}-{stores}-apply.speedscope.json",
                                       parallelism)
            rows["apply"] = out["apply"]["row"]
    return out


def apply_drift(project: Path, emulators: Emulators, profile: Path | None, parallelism: int | None = None) -> dict:
    plan_file = project / "drift.json"
    made = measure(project, "plan", "--out", str(plan_file))
    if made["exit"] != 0:
        raise RuntimeError(f"the drift plan failed:\n{made['stderr'][-3000:]}")
    figures = plan_figures(json.loads(plan_file.read_text()))
    mark = emulators.mark()
    extra = ("--parallelism", str(parallelism)) if parallelism else ()
    applied = measure(project, "apply", str(plan_file), *extra, profile=profile)
    if applied["exit"] != 0:
        raise RuntimeError(f"the drift apply failed:\n{applied['stderr'][-3000:]}")
    arrived = emulators.since(mark)
    for backend, figure in figures["by_backend"].items():
        figure["sent_requests"] = len(arrived[backend])
    figures["sent_requests"] = sum(len(times) for times in arrived.values())
    times = sorted(t for ts in arrived.values() for t in ts)
    window = times[-1] - times[0] if len(times) > 1 else 0.0
    after = measure(project, "plan", "--detailed-exitcode")
    if after["exit"] != 0:
        raise RuntimeError("the chain did not converge after the drift apply")
    return {
        "figures": figures,
        "row": {"seconds": applied["seconds"], "min_seconds": applied["seconds"], "max_seconds": applied["seconds"],
                "cpu_seconds": applied["cpu_seconds"], "peak_mib": applied["peak_bytes"] / 2**20, "runs": 1},
        "per_second": figures["sent_requests"] / applied["seconds"],
        "cpu_ms_per_request": applied["cpu_seconds"] / figures["sent_requests"] * 1000,
        "send_window_seconds": window,
        "per_second_in_window": figures["sent_requests"] / window if window else None,
        "profiled": profile is not None,
        "parallelism": parallelism,
    }


def floor_of(runs: int, project: Path) -> dict:
    samples = [python_json(str(HERE / "floor.py"), str(project)) for _ in range(runs)]
    result = samples[-1]
    for name in result["parsers"]:
        result["parsers"][name]["seconds"] = statistics.median(s["parsers"][name]["seconds"] for s in samples)
    for part in ("components", "hashing"):
        for name in result[part]:
            result[part][name] = statistics.median(s[part][name] for s in samples)
    result["parse_floor"] = min((n for n, p in result["parsers"].items() if p["exact_decimals"]),
                                key=lambda n: result["parsers"][n]["seconds"])
    result["components"]["parse"] = result["parsers"][result["parse_floor"]]["seconds"]
    result["seconds"] = sum(result["components"].values())
    result["runs"] = runs
    return result


def transport_ceiling(runs: int, work: Path, private_pem: str) -> dict:
    key = work / "ceiling-key.pem"
    key.write_text(private_pem)
    out = {"requests": CEILING_REQUESTS, "concurrency": 4}
    with serve(ceiling.app) as url:
        for name, extra in (("unsigned", ()), ("signed", (str(key),))):
            samples = [python_json(str(HERE / "ceiling.py"), url, str(CEILING_REQUESTS), "4", *extra)
                       for _ in range(runs)]
            out[name] = statistics.median(s["per_second"] for s in samples)
            out[f"{name}_cpu_ms_per_request"] = statistics.median(s["client_cpu_ms_per_request"] for s in samples)
    return out


def file_load(runs: int, work: Path) -> dict:
    big = work / "big"
    big.mkdir(exist_ok=True)
    (big / "reconciler.yaml").write_text("catalog: [big.yaml]\n")
    (big / "big.yaml").write_text(chain.big_file())
    rows = {"`validate` of a 10,000-product file (CLI)": median_of(runs, big, "validate")}
    # Like with like for the ratio: both timed inside a fresh process after imports.
    rows["load+validate of that file (in-process)"] = timed_snippet(runs, (
        "from reconciler.project import load_project\n"
        "from reconciler.provider import ProviderContext\n"
        "from reconciler.validation import validate_project\n"
        "START\n"
        f"loaded = load_project(Path({str(big)!r}))\n"
        "validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))\n"))
    rows["baseline: ruamel round-trip load (in-process)"] = timed_snippet(runs, (
        "from ruamel.yaml import YAML\n"
        "START\n"
        f"YAML(typ='rt').load(Path({str(big / 'big.yaml')!r}).read_text())\n"))
    ratio = (rows["baseline: ruamel round-trip load (in-process)"]["seconds"]
             / rows["load+validate of that file (in-process)"]["seconds"])
    return {"rows": rows, "ruamel_over_ours": ratio}


def judge(scenario: str, sizes: dict[int, dict], ceiling_figures: dict | None, files: dict | None) -> dict[str, bool | None]:
    """Targets: issue 15's for the realistic chain, the earlier ones for the shared chain.
    None: not measured in this run."""
    targets: dict[str, bool | None] = {}
    if scenario == "realistic":
        for (stores, name), (seconds, mib) in TARGETS.items():
            row = sizes.get(stores, {}).get("rows", {}).get(name)
            label = f"{NAMES[name]} at {stores} stores <= {seconds} s"
            targets[label] = None if row is None else row["cpu_seconds"] <= seconds
            if mib is not None:
                targets[f"{NAMES[name]} at {stores} stores <= {mib / 1024:g} GiB"] = \
                    None if row is None else row["peak_mib"] <= mib
    else:
        for stores, size in sizes.items():
            row = size["rows"].get("drift")
            if row is not None:
                targets[f"plan, 1% drift at {stores} stores <= 10 s"] = row["cpu_seconds"] <= 10
                targets[f"plan, 1% drift at {stores} stores <= 2 GiB"] = row["peak_mib"] <= 2048
    for stores, size in sizes.items():
        if "pr" in size:
            targets[f"PR plan at {stores} stores changes only the edited stores"] = size["pr"]["only_edited_stores"]
        if "apply" in size:
            applied = size["apply"]
            figures = applied["figures"]
            targets[f"apply at {stores} stores >= {APPLY_TARGET} requests/s"] = applied["per_second"] >= APPLY_TARGET
            targets[f"apply at {stores} stores: requests == lower bound"] = \
                figures["sent_requests"] == figures["lower_bound"]
            if scenario == "shared":
                targets[f"apply at {stores} stores: bytes <= 5% of naive"] = figures["bytes"] / figures["naive_bytes"] <= 0.05
    if files is not None:
        targets["10k file >= 10x faster than ruamel"] = files["ruamel_over_ours"] >= 10
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(chain.SCENARIOS), default="realistic")
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--scale", default=None, metavar="N,N,...",
                        help="run the chain steps at each of these sizes (default: --stores)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", default=",".join(STEPS), metavar="STEP,...", help=", ".join(STEPS))
    parser.add_argument("--shards", type=int, default=None, metavar="N",
                        help="instead: plan the chain in N shards on PostgreSQL (shards.py)")
    parser.add_argument("--parallelism", type=int, default=None, metavar="N",
                        help="apply with --parallelism N (stores at once per backend; default: the backends' own)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also record the drift plan and the apply under py-spy into DIR")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    options = parser.parse_args()
    steps = set(options.steps.split(","))
    if steps - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(steps - set(STEPS)))}; choose from {', '.join(STEPS)}")
    sizes = [int(n) for n in options.scale.split(",")] if options.scale else [options.stores]
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    keys = signing.generate_key_pair()
    result: dict = {"scenario": options.scenario, "runs": options.runs, "steps": sorted(steps),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
                    "load_before": os.getloadavg(), "work": str(work)}

    if options.shards:
        import shards

        result["shards"] = shards.run(chain.SCENARIOS[options.scenario](options.stores), options.shards, work, keys)
        result["load_after"] = os.getloadavg()
        write(options.out, result)
        shards.report(result["shards"])
        return

    result["sizes"] = {}
    for stores in sizes:
        scenario = chain.SCENARIOS[options.scenario](stores)
        result["sizes"][stores] = run_chain(scenario, stores, steps, options.runs, work, keys, options.profile,
                                            options.parallelism)
    result["ceiling"] = transport_ceiling(options.runs, work, keys[0]) if "ceiling" in steps else None
    result["file"] = file_load(options.runs, work) if "file" in steps else None
    result["targets"] = judge(options.scenario, result["sizes"], result["ceiling"], result["file"])
    result["load_after"] = os.getloadavg()
    write(options.out, result)
    report(result)
    if options.profile is not None:
        for path in sorted(options.profile.glob("*.speedscope.json")):
            print_top(path.name, top(path))


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=list))


def report(result: dict) -> None:
    sizes: dict[int, dict] = result["sizes"]
    print(f"\n{result['scenario']} chain; load average {result['load_before'][0]:.2f} before, "
          f"{result['load_after'][0]:.2f} after; {result['cpus']} CPUs")
    for stores, size in sizes.items():
        floor = size.get("floor")
        print(f"\n{stores} stores ({size['seed']['bindings']} store bindings)")
        print(f"{'measurement':40} {'wall s':>8} {'min-max':>11} {'CPU s':>8} {'peak MiB':>9} {'x floor':>8} {'runs':>5}")
        for name, row in size["rows"].items():
            ratio = f"{row['cpu_seconds'] / floor['seconds']:8.1f}" if floor else f"{'':8}"
            spread = f"{row['min_seconds']:.1f}-{row['max_seconds']:.1f}"
            print(f"{NAMES[name]:40} {row['seconds']:8.2f} {spread:>11} {row['cpu_seconds']:8.2f} "
                  f"{row['peak_mib']:9.0f} {ratio} {row['runs']:5}")
        if floor:
            parts = ", ".join(f"{k} {v:.2f}" for k, v in floor["components"].items())
            print(f"{'floor (CPU s)':40} {'':8} {'':>11} {floor['seconds']:8.2f} {'':>9} {1:8.1f} {floor['runs']:5}")
            hashing = ", ".join(f"{k} {v:.2f}" for k, v in floor["hashing"].items())
            print(f"  floor: {parts}; {floor['resources']:,} resources (hashed: {hashing})")
            print(f"  parsing the {floor['files']} files ({floor['bytes'] / 2**20:.1f} MiB):")
            for name, parsed in sorted(floor["parsers"].items(), key=lambda item: item[1]["seconds"]):
                mark = " <- floor" if name == floor["parse_floor"] else ""
                exact = "exact decimals" if parsed["exact_decimals"] else "floats or no values"
                print(f"    {name:45} {parsed['seconds']:7.2f} CPU s  {exact}{mark}")
        if "pr" in size:
            print(f"  PR: edited {', '.join(size['pr']['edited_stores'])}; the plan changed "
                  f"{len(size['pr']['changed_bindings'])} bindings, "
                  f"{'only' if size['pr']['only_edited_stores'] else 'NOT only'} of those stores")
        if "apply" in size:
            report_apply(size["apply"], result.get("ceiling"))
    chain_rows = [name for name in NAMES if any(name in s["rows"] for s in sizes.values())]
    if len(sizes) > 1:
        print("\nscaling: CPU seconds and peak MiB, then per store, then the slope from the size before")
        print(f"{'step':34} {'stores':>7} {'CPU s':>8} {'MiB':>7} {'ms/store':>9} {'MiB/store':>10} "
              f"{'slope ms':>9} {'slope MiB':>10}")
        for name in chain_rows:
            before = None
            for stores, size in sizes.items():
                row = size["rows"].get(name)
                if row is None:
                    continue
                slope = (f"{(row['cpu_seconds'] - before[1]) / (stores - before[0]) * 1000:9.1f} "
                         f"{(row['peak_mib'] - before[2]) / (stores - before[0]):10.2f}") if before else ""
                print(f"{NAMES[name]:34} {stores:7} {row['cpu_seconds']:8.2f} {row['peak_mib']:7.0f} "
                      f"{row['cpu_seconds'] / stores * 1000:9.1f} {row['peak_mib'] / stores:10.2f} {slope}")
                before = (stores, row["cpu_seconds"], row["peak_mib"])
    if result.get("ceiling"):
        c = result["ceiling"]
        print(f"\ntransport ceiling (httpx -> uvicorn on loopback, {c['requests']} requests, {c['concurrency']} in "
              f"flight): {c['unsigned']:.0f} requests/s unsigned, {c['signed']:.0f} with an RSA signature each; "
              f"client CPU {c['unsigned_cpu_ms_per_request']:.2f} / {c['signed_cpu_ms_per_request']:.2f} ms per request")
    if result.get("file"):
        print()
        for name, row in result["file"]["rows"].items():
            print(f"{name:48} {row['seconds']:9.2f} s {row['cpu_seconds']:9.2f} CPU s {row['peak_mib']:7.0f} MiB")
        print(f"ruamel round-trip / ours: {result['file']['ruamel_over_ours']:.1f}x")
    print("\ntargets (times on CPU seconds: these steps use one core, so on a quiet machine wall is CPU;"
          " apply on wall time):")
    for name, met in result["targets"].items():
        print(f"  {'not measured' if met is None else 'met' if met else 'NOT met':12} {name}")


def report_apply(applied: dict, ceiling_figures: dict | None) -> None:
    figures = applied["figures"]
    print(f"  apply of the drift: {figures['sent_requests']} requests arrived in {applied['row']['seconds']:.1f} s "
          f"(process) = {applied['per_second']:.1f}/s, {applied['cpu_ms_per_request']:.1f} CPU ms per request; "
          f"first to last arrival {applied['send_window_seconds']:.1f} s"
          + (f" = {applied['per_second_in_window']:.1f}/s" if applied["per_second_in_window"] else ""))
    if ceiling_figures:
        print(f"    as a share of the ceiling (unsigned {ceiling_figures['unsigned']:.0f}/s, signed "
              f"{ceiling_figures['signed']:.0f}/s): process {applied['per_second'] / ceiling_figures['unsigned']:.1%} / "
              f"{applied['per_second'] / ceiling_figures['signed']:.1%}"
              + (f"; window {applied['per_second_in_window'] / ceiling_figures['unsigned']:.1%} / "
                 f"{applied['per_second_in_window'] / ceiling_figures['signed']:.1%}"
                 if applied["per_second_in_window"] else ""))
    print(f"    {'backend':9} {'stores':>7} {'changed':>8} {'arrived':>8} {'lower':>6} {'bytes':>12} "
          f"{'naive req':>10} {'naive bytes':>13} {'bytes/naive':>12}")
    for name, f in [*figures["by_backend"].items(), ("all", figures)]:
        stores = f.get("stores", f["naive_requests"])
        print(f"    {name:9} {stores:7} {f['stores_changed']:8} {f['sent_requests']:8} {f['lower_bound']:6} "
              f"{f['bytes']:12,} {f['naive_requests']:10} {f['naive_bytes']:13,} {f['bytes'] / f['naive_bytes']:12.1%}")


if __name__ == "__main__":
    main()
