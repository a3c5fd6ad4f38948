"""Two CI jobs (or a job and a person) applying at once never send a store's changes twice.

Each process plans from the same state, then applies. Whoever takes a store's lease
first applies it; the others find, under the lease, that the store's state row moved
since their plan and leave it alone ("changed since this plan was made"), however long
they waited. A miPOS movement is not idempotent, so sending it twice would move the
stock twice: the emulators count what they processed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from dstore_helpers import processed as dstore_processed
from loopback import serve
from mipos_helpers import ACCOUNT, STOCK, processed as mipos_processed
from project_runner import ProjectRunner
from reconciler.emulation import Fault
from reconciler.state import open_state
from reconciler_dstore import signing
from reconciler_dstore.emulator import DStoreEmulator
from reconciler_mipos.emulator import MiPOSEmulator

STORES = [f"st{n}" for n in range(6)]


def chain(root, dstore_url: str, mipos_url: str, drift: bool) -> ProjectRunner:
    project = ProjectRunner(root)
    project.write("reconciler.yaml", textwrap.dedent(f"""\
        safety: {{max_unavailable_share: 0.6}}   # eggs sold out in each two-product store
        backends:
          ds: {{provider: dstore, url: "{dstore_url}", client_id: overlap-client, pos_account_id: acct,
                private_key: "${{file:keys/client.pem}}", owned: true,
                retry: {{attempts: 2, backoff: 0, timeout: 20}}}}
          mp: {{provider: mipos, url: "{mipos_url}", client_id: {ACCOUNT["client_id"]},
                client_secret: "${{file:keys/mipos-secret}}", email: {ACCOUNT["email"]},
                password: {ACCOUNT["password"]}, user_id_tps: "30",
                inventory_system_id: {ACCOUNT["inventory_system_id"]}, owned: true,
                retry: {{attempts: 2, backoff: 0, timeout: 20}}}}
        """))
    project.write("menu.yaml", textwrap.dedent("""\
        units: {pcs: {name: Pieces, short_name: pcs}}
        suppliers: {farm: {name: Farm}}
        menus:
          m:
            currency: SGD
            products:
              eggs:  {name: Eggs, price: "3.00", cost: "1.00", unit: pcs, supplier: farm}
              bread: {name: Bread, price: "2.50", cost: "0.80", unit: pcs, supplier: farm}
        """))
    lines = ["stores:"]
    for n, store in enumerate(STORES):
        status = ", status: {eggs: SOLDOUT}" if drift else ""
        stock = f"{{eggs: {20 + n if drift else 10}, bread: 5}}"
        lines.append(f"  {store}: {{name: {store}, menu: m, backends: {{ds: {{store_id: {store}}}, "
                     f"mp: {{store_id: \"{100 + n}\"}}}}, stock: {stock}{status}}}")
    project.write("stores.yaml", "\n".join(lines) + "\n")
    return project


@pytest.mark.parametrize("state_kind", ["sqlite", "postgresql"])
def test_overlapping_applies_send_each_store_once_and_move_no_stock_twice(tmp_path, request, state_kind):
    dstore = DStoreEmulator()
    private_pem, public_pem = signing.generate_key_pair()
    dstore.register_client("overlap-client", public_pem)
    mipos = MiPOSEmulator(account=dict(ACCOUNT), delivery_backoff=0)
    for n in range(len(STORES)):
        mipos.seed_store(str(100 + n))  # stores of the account, empty before the first sync
    env = dict(os.environ)
    if state_kind == "postgresql":
        env["RECONCILER_STATE"] = request.getfixturevalue("postgres_server").new_database()
    with serve(dstore.app) as dstore_url, serve(mipos.app) as mipos_url:
        project = chain(tmp_path / "chain", dstore_url, mipos_url, drift=False)
        project.write("keys/client.pem", private_pem)
        project.write("keys/mipos-secret", ACCOUNT["client_secret"])
        command = [sys.executable, "-c", "from reconciler.cli import main; main()", "-C", str(project.root),
                   "apply", "--auto-approve", "--lock-timeout", "60s"]
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stdout + first.stderr
        before_dstore, before_mipos = len(dstore.requests), len(mipos.requests)
        chain(tmp_path / "chain", dstore_url, mipos_url, drift=True)  # one status and one stock per store
        # Every request takes a while, so the later jobs plan while the first is applying.
        dstore.faults.add(Fault("latency", seconds=2, times=len(STORES)))
        mipos.faults.add(Fault("latency", seconds=2, times=len(STORES)))
        jobs = []
        for _ in range(3):  # three jobs started 0.4 s apart, as CI starts them
            jobs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True))
            time.sleep(0.4)
        outputs = [job.communicate(timeout=180)[0] for job in jobs]
        codes = [job.returncode for job in jobs]
        status_updates = [r for r in dstore_processed(dstore)[0:] if r in dstore.requests[before_dstore:]]
        movements = [r for r in mipos.requests[before_mipos:] if r in mipos_processed(mipos) and "stock/update" in r["path"]]
    # Per store and backend exactly one process applied, and every other one said why not.
    for backend in ("ds", "mp"):
        for store in STORES:
            applied = [o for o in outputs if re.search(rf"^{backend}/{store}: applied", o, re.M)]
            assert len(applied) == 1, (backend, store, outputs)
            # A job that planned before the store was applied finds it stale; one that
            # planned after has nothing to do for it.
            for other in (o for o in outputs if o not in applied):
                line = re.search(rf"^{backend}/{store}: .*$", other, re.M)
                assert line is None or line.group(0).startswith(
                    f"{backend}/{store}: stale, 0 requests - changed since this plan was made"), other
    # The jobs did overlap: some found stores another had applied since they planned, and
    # said so with their exit code.
    assert sum(o.count(": stale, 0 requests") for o in outputs) >= len(STORES), outputs
    assert sorted(codes)[-1] == 1
    assert sorted(r["body"]["store"]["posStoreId"] for r in status_updates) == STORES
    assert all(r["mode"] == "status" for r in status_updates)
    assert sorted(r["path"] for r in movements) == sorted(STOCK.format(100 + n) for n in range(len(STORES)))
    for n in range(len(STORES)):
        assert mipos.items(str(100 + n))["eggs"]["stock"] == str(20 + n)
        [movement] = mipos.movements(str(100 + n))  # moved once, by 10 + n
        assert (movement["external_id"], movement["movement_type"], movement["quantity"]) == ("eggs", 1, str(10 + n))
    state = open_state(env.get("RECONCILER_STATE", "sqlite:///.reconciler/state.db"), project.root)
    try:
        assert all(row.serial == 2 and row.unknown is None for row in state.all())
        assert state.locks() == []
    finally:
        state.close()
