"""Seeding a generated chain as if it had been applied once (a first full apply of a
whole chain is not what the benchmark measures).

`python seed.py PROJECT` records every store binding's desired state in the project's
state store (`RECONCILER_STATE` overrides it, as for the CLI), in a process of its own so
that the benchmark's parent never holds a whole chain. It goes through the state store's
own `record`, one call per store as an apply makes after a full sync. `seed_emulators`
then gives each emulator exactly what the state says was applied.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.fingerprint import snapshot_fingerprint
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.state import open_state
from reconciler.validation import validate_project


def seed_state(project: Path) -> dict[str, Any]:
    started = time.perf_counter()
    loaded = load_project(project)
    validated = validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))
    state = open_state(loaded.state_url, loaded.root)
    bindings = 0
    try:
        for view in validated.views:
            provider = validated.providers[view.backend]
            desired = provider.desired(view)
            state.record(view.backend, view.store_id, provider.remote_id(view.binding), desired.meta,
                         desired.resources, snapshot_fingerprint(desired.meta, desired.resources),
                         0, "seed", 0, "seed", 0)
            bindings += 1
    finally:
        state.close()
    return {"bindings": bindings, "seconds": time.perf_counter() - started}


def seed_emulators(project: Path, state_url: str, dstore: Any, tipsi: Any, mipos: Any | None) -> int:
    """Put what the state records into the emulators, without a request; how many stores."""
    from reconciler_mipos import mapping as mipos_mapping

    state = open_state(state_url, project)
    try:
        rows = state.all()
    finally:
        state.close()
    tipsi_items: dict[str, list[dict]] = {}
    for row in rows:
        if row.backend == "dstore":
            dstore.seed_store("chain", row.remote_id, row.meta.get("name"), list(row.resources.values()))
        elif row.backend == "tipsi":
            tipsi_items[row.remote_id] = list(row.resources.values())
        elif row.backend == "mipos":
            # The emulator's own full sync, so the seed passes its validation as a real one would.
            account = mipos.account
            mipos.seed_store(row.remote_id)  # a store of the account, then its first sync
            status, answer = mipos.sync(row.remote_id, mipos_mapping.sync_body(
                row.resources, account["user_id_tps"], account["inventory_system_id"]))
            if status != 200:
                raise RuntimeError(f"miPOS emulator refused the seed of store {row.remote_id}: {answer}")
        else:
            raise ValueError(f"no emulator for backend {row.backend!r}")
    tipsi.load_seed({"stores": tipsi_items})
    return len(rows)


if __name__ == "__main__":
    print(json.dumps(seed_state(Path(sys.argv[1]))))
