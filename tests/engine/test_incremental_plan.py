"""A plan that takes unchanged stores from the plan cache equals a full plan, over random
edits of a chain: store files, the menu, the project file, applies, webhook reports,
leases, stores added and removed."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta

from project_runner import ProjectRunner
from reconciler.state import open_state

STORES = 12
PLAN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")  # the plan's clock, in movement dates
CONFIG = """\
catalog: [menu.yaml, stores/]
safety: {max_removed_share: 1, max_unavailable_share: 1}
backends:
  ds: {provider: dstore, url: "emulator://", pos_account_id: chain, owned: true}
  tp: {provider: tipsi, url: "emulator://", owned: true}
  mp: {provider: mipos, url: "emulator://", owned: true}
"""


def menu(rename: int = 0) -> str:
    lines = ["units: {pcs: {name: Pieces, short_name: pcs}}", "suppliers: {farm: {name: Farm}}",
             "menus:", "  m:", "    currency: SGD", "    products:"]
    for i in range(8):
        name = f"item {i}" + (f" v{rename}" if i == 0 and rename else "")
        lines.append(f'      p{i}: {{name: "{name}", price: "{i + 1}.50", barcodes: ["{1000 + i}"], category: drink, '
                     f'cost: "0.50", unit: pcs, supplier: farm}}')
    return "\n".join(lines) + "\n"


def store(n: int, rng: random.Random | None = None) -> str:
    backends = ["ds: {store_id: s%d}" % n] + (["tp: {store_id: %d}" % (100 + n)] if n % 3 == 0 else []) \
        + (['mp: {store_id: "%d"}' % (200 + n)] if n % 4 == 0 else [])
    prices = {f"p{i}": f"{i + 2}.00" for i in range(8) if rng and rng.random() < 0.2}
    status = {f"p{i}": "SOLDOUT" for i in range(8) if rng and rng.random() < 0.1}
    stock = {f"p{i}": (rng.randint(0, 20) if rng else 5) for i in range(8)}
    out = ["stores:", f"  st{n}:", f"    name: Store {n}", "    menu: m", "    backends: {" + ", ".join(backends) + "}"]
    if prices:
        out.append("    prices: {" + ", ".join(f'{k}: "{v}"' for k, v in prices.items()) + "}")
    if status:
        out.append("    status: {" + ", ".join(f"{k}: {v}" for k, v in status.items()) + "}")
    out.append("    stock: {" + ", ".join(f"{k}: {v}" for k, v in stock.items()) + "}")
    return "\n".join(out) + "\n"


def normalized(text: str) -> dict:
    plan = json.loads(CLOCK.sub("<time>", PLAN_ID.sub("<plan-id>", text)))
    plan.pop("created_at")
    return plan


def test_incremental_plans_equal_full_plans_over_random_edits(tmp_path):
    rng = random.Random(20261202)
    project = ProjectRunner(tmp_path / "chain")
    project.write("reconciler.yaml", CONFIG)
    project.write("menu.yaml", menu())
    present = set(range(STORES))
    for n in present:
        project.write(f"stores/st{n}.yaml", store(n))
    assert project.run("apply", "--auto-approve").exit_code == 0
    skipped_rounds, rename = 0, 0
    kinds = ["stores", "stores", "apply", "menu", "config", "webhook", "lease", "add", "remove", "nothing"] * 3
    rng.shuffle(kinds)  # every kind of edit several times, in a random order with random details
    for round_, what in enumerate(kinds):
        if what == "stores":
            for n in rng.sample(sorted(present), rng.randint(1, 3)):
                project.write(f"stores/st{n}.yaml", store(n, rng))
        elif what == "apply":
            assert project.run("apply", "--auto-approve").exit_code in (0, 1)
        elif what == "menu":
            rename += 1
            project.write("menu.yaml", menu(rename))
        elif what == "config":
            project.write("reconciler.yaml", CONFIG.replace("max_removed_share: 1", f"max_removed_share: 0.{round_ % 9 + 1}"))
        elif what in ("webhook", "lease"):
            # On converged stores the cache holds: a report or a lease must void it.
            project.run("apply", "--auto-approve")
            project.run("plan")
            state = open_state("sqlite:///.reconciler/state.db", project.root)
            try:
                rows = [r for r in state.all() if r.resources and (what == "lease" or r.backend == "mp")]
                row = rng.choice(rows)
                if what == "webhook":
                    key = rng.choice(sorted(row.resources))
                    state.record_observation(row.backend, row.store, key, {"stock": str(rng.randint(0, 9))},
                                             "2026-12-02 10:00:00 UTC", "webhook")
                elif state.lock_of(row.backend, row.store) is None:
                    state.acquire(row.backend, row.store, "someone@else", timedelta(minutes=5))
                else:
                    state.release(row.backend, row.store)
            finally:
                state.close()
        elif what == "add":
            n = max(present) + 1
            present.add(n)
            project.write(f"stores/st{n}.yaml", store(n, rng))
        elif what == "remove" and len(present) > 4:
            n = rng.choice(sorted(present))
            present.discard(n)
            (project.root / f"stores/st{n}.yaml").unlink()
        incremental = project.run("plan", "--format", "json", "--force")
        full = project.run("plan", "--format", "json", "--force", "--no-cache")
        assert incremental.exit_code == full.exit_code, (what, incremental.output, full.output)
        if incremental.exit_code == 0:
            assert normalized(incremental.stdout) == normalized(full.stdout), (round_, what)
        skipped_rounds += "taken from the plan cache" in incremental.stderr
    assert skipped_rounds >= 8  # the cache was used, not just checked against itself


def test_a_pull_request_editing_one_store_parses_only_that_file(tmp_path):
    project = ProjectRunner(tmp_path / "chain")
    project.write("reconciler.yaml", CONFIG)
    project.write("menu.yaml", menu())
    for n in range(STORES):
        project.write(f"stores/st{n}.yaml", store(n))
    assert project.run("apply", "--auto-approve").exit_code == 0
    assert project.run("plan").exit_code == 0  # fills the cache
    project.write("stores/st5.yaml", store(5, random.Random(1)))
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert f"{STORES - 1} of {STORES + 1} catalog files unchanged since an earlier plan" in plan.stderr
    assert "ds / st5" in plan.stdout and "ds / st4" not in plan.stdout
