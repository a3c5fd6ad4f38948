"""Sharded planning (issue 15, item 5): the chain planned as a CI matrix would plan it,
`plan --shard I/N --out plan-I.json` for each shard against one PostgreSQL state,
then the plan comment of all shards together.

The shards run one after another, each in a fresh process with its own peak memory (a
CI matrix runs them on separate machines at once; on one 2-core machine they would only
compete). The drift of `chain.py` is in the files, so every shard has changes to show.
The comment is `reconciler show plan-1.json ... plan-N.json --format markdown` when
`show` takes several plans, otherwise each shard's comment apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from emulators import Emulators
from figures import changed_stores
from processes import measure, python_json

HERE = Path(__file__).resolve().parent
UNSHARDED_UP_TO = 4000  # stores: above, the unsharded comparison plan is not run


def run(scenario: object, shards: int, work: Path, keys: tuple[str, str]) -> dict:
    from pg_server import PostgresServer

    import chain

    project = work / f"{scenario.name}-{scenario.stores}-sharded"
    server = PostgresServer().start()
    try:
        env = {"RECONCILER_STATE": server.new_database()}
        emulators = Emulators(*keys, chain.MIPOS_ACCOUNT)
        with emulators.serving() as urls:  # only for the addresses: plans send nothing
            scenario.write(project, urls)
            emulators.write_keys(project)
            seeded = python_json(str(HERE / "seed.py"), str(project), env=env)
            print(f"[shards] {scenario.stores} stores seeded into PostgreSQL in {seeded['seconds']:.1f} s",
                  file=sys.stderr)
            scenario.edit_drift(project)
            out: dict = {"scenario": scenario.name, "stores": scenario.stores, "bindings": seeded["bindings"],
                         "shards": shards, "seed": seeded, "state": "postgresql", "per_shard": []}
            plans = []
            for index in range(1, shards + 1):
                plan_file = project / f"plan-{index}.json"
                run_ = measure(project, "plan", "--shard", f"{index}/{shards}", "--out", str(plan_file), env=env)
                if run_["exit"] != 0:
                    raise RuntimeError(f"shard {index}/{shards} failed:\n{run_['stderr'][-3000:]}")
                plan = json.loads(plan_file.read_text())
                plans.append(plan_file)
                out["per_shard"].append({
                    "shard": f"{index}/{shards}", "seconds": run_["seconds"], "cpu_seconds": run_["cpu_seconds"],
                    "peak_mib": run_["peak_bytes"] / 2**20,
                    "bindings": len(plan["stores"]), "changed": len(changed_stores(plan)),
                    "plan_bytes": plan_file.stat().st_size,
                })
                print(f"[shards] {index}/{shards}: {run_['seconds']:.1f} s, {run_['peak_bytes'] / 2**20:.0f} MiB",
                      file=sys.stderr)
            if scenario.stores <= UNSHARDED_UP_TO:
                whole = measure(project, "plan", env=env)
                out["unsharded"] = {"seconds": whole["seconds"], "cpu_seconds": whole["cpu_seconds"],
                                    "peak_mib": whole["peak_bytes"] / 2**20}
            else:  # one process with the whole chain: minutes and most of this machine's memory
                out["unsharded"] = None
            out["comment"] = comment(project, plans)
    finally:
        server.stop()
    return out


def comment(project: Path, plans: list[Path]) -> dict:
    """The merged markdown comment, or each shard's when `show` takes one plan only."""
    command = [str(Path(sys.executable).parent / "reconciler"), "-C", str(project), "show", "--format", "markdown"]
    started = time.perf_counter()
    merged = subprocess.run([*command, *map(str, plans)], capture_output=True, text=True)
    if merged.returncode == 0:
        return {"merged": True, "seconds": time.perf_counter() - started, "bytes": len(merged.stdout.encode()),
                "lines": merged.stdout.count("\n"), "head": merged.stdout[:1500]}
    each = []
    for plan in plans:
        started = time.perf_counter()
        shown = subprocess.run([*command, str(plan)], capture_output=True, text=True, check=True)
        each.append({"plan": plan.name, "seconds": time.perf_counter() - started,
                     "bytes": len(shown.stdout.encode()), "lines": shown.stdout.count("\n")})
    return {"merged": False, "why": merged.stderr.strip().splitlines()[-1].split(" (")[0] if merged.stderr.strip() else "",
            "each": each}


def report(out: dict) -> None:
    print(f"\nsharded planning: {out['scenario']} chain, {out['stores']} stores ({out['bindings']} bindings), "
          f"{out['shards']} shards, PostgreSQL state, 1% drift")
    print(f"{'shard':8} {'bindings':>9} {'changed':>8} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'plan MiB':>9}")
    for s in out["per_shard"]:
        print(f"{s['shard']:8} {s['bindings']:9} {s['changed']:8} {s['seconds']:8.1f} {s['cpu_seconds']:8.1f} "
              f"{s['peak_mib']:9.0f} {s['plan_bytes'] / 2**20:9.1f}")
    whole = out["unsharded"]
    if whole is None:
        print(f"{'all':8} {out['bindings']:9}   (no unsharded plan above {UNSHARDED_UP_TO:,} stores)")
    else:
        print(f"{'all':8} {out['bindings']:9} {'':8} {whole['seconds']:8.1f} {whole['cpu_seconds']:8.1f} "
              f"{whole['peak_mib']:9.0f}   (one unsharded plan, for comparison)")
    c = out["comment"]
    if c["merged"]:
        print(f"merged comment: {c['bytes']:,} bytes, {c['lines']} lines, rendered in {c['seconds']:.1f} s")
    else:
        print(f"`show` took one plan only ({c['why']}); each shard's comment:")
        for e in c["each"]:
            print(f"  {e['plan']}: {e['bytes']:,} bytes, {e['lines']} lines, rendered in {e['seconds']:.1f} s")
