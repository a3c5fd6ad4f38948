"""The floor of a plan on the same files: how long the unavoidable work takes with the
fastest means at hand. Run as `python floor.py PROJECT`, in a fresh process of its own;
prints one JSON object.

- parse: every file of the project read by each YAML parser available, timed apart. The
  floor takes the fastest one that keeps decimals exact (a price must stay `10.005`, never
  become the float 10.005000000000001): rapidyaml parsing and emitting JSON in C++, then
  `json.loads(parse_float=Decimal)`. The others are shown beside it: the engine's own
  `parse_yaml`, libyaml (PyYAML's C loader), the Rust parsers `yaml_rs` and `ryaml` when
  they are installed (`pip install yaml-rs ryaml`; they read plain decimals as floats), and
  rapidyaml's parse alone, with no Python objects built, which no reader can beat.
  YAML 1.1 typing (`yes`, `0o17`, dates) differs between them; the generated chains
  use none of it.
- expand, map, hash: every store binding expanded (`expand_store`) and mapped to its
  backend's resources (`Provider.desired`) with the engine's own functions, each timed
  apart, after the project was loaded and validated (not timed); then hashed, the faster
  of the engine's `snapshot_fingerprint` (a hash per resource) and one canonical JSON text
  per store. These are the engine's functions as they are: when the engine makes them
  cheaper, the floor of the same run goes down with them.
- state: every row of the state store read and decoded (`StateView.all`), as planning does.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import yaml


def catalog_texts(project: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(project.rglob("*.yaml")) if ".reconciler" not in p.parts]


def parsers() -> dict[str, tuple[Callable[[bytes], Any], bool]]:
    """name -> (parse bytes into Python data, keeps decimals exact)."""
    import ryml

    from reconciler.yamlio import parse_yaml

    def rapidyaml_json(data: bytes) -> Any:
        tree = ryml.parse_in_arena(data)
        return json.loads(ryml.emit_json_malloc(tree, tree.root_id()), parse_float=Decimal)

    found: dict[str, tuple[Callable[[bytes], Any], bool]] = {
        "rapidyaml -> JSON -> json.loads(Decimal)": (rapidyaml_json, True),
        "engine parse_yaml (rapidyaml fast path)": (lambda data: parse_yaml(data.decode("utf-8"), "<floor>"), True),
        "libyaml (PyYAML CSafeLoader)": (lambda data: yaml.load(data, Loader=yaml.CSafeLoader), False),
    }
    try:
        import yaml_rs

        found["yaml_rs (Rust)"] = (lambda data: yaml_rs.loads(data.decode("utf-8")), False)
    except ImportError:
        pass
    try:
        import ryaml as ryaml_module

        found["ryaml (Rust)"] = (lambda data: ryaml_module.loads(data.decode("utf-8")), False)
    except ImportError:
        pass
    found["rapidyaml parse only (no Python objects)"] = (lambda data: ryml.parse_in_arena(data), False)
    return found


def timed(work: Callable[[], Any]) -> float:
    """CPU seconds of `work` (this process's; the benchmark reports CPU time beside wall
    time because the machine is shared), with the cycle collector off meanwhile (the
    fastest means: the work makes millions of objects and no cycles)."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        work()
        return time.process_time() - started
    finally:
        gc.enable()


def measure(project: Path) -> dict[str, Any]:
    texts = catalog_texts(project)
    parse = {name: {"seconds": timed(lambda f=parse_one: [f(t) for t in texts]), "exact_decimals": exact}
             for name, (parse_one, exact) in parsers().items()}
    chosen = min((name for name, p in parse.items() if p["exact_decimals"]), key=lambda n: parse[n]["seconds"])

    from reconciler.expand import expand_store
    from reconciler.fingerprint import fingerprint, snapshot_fingerprint
    from reconciler.project import load_project
    from reconciler.provider import ProviderContext
    from reconciler.state import open_state
    from reconciler.validation import validate_project

    loaded = load_project(project)
    validated = validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))
    catalog = loaded.catalog

    stocks = [{pid: item.stock for pid, item in view.products.items() if item.stock is not None}
              for view in validated.views]
    views: list = []
    desired: list = []
    expand_seconds = timed(lambda: views.extend(
        expand_store(catalog, v.store_id, v.backend, v.binding, stock) for v, stock in zip(validated.views, stocks)))
    map_seconds = timed(lambda: desired.extend(validated.providers[v.backend].desired(v) for v in views))
    hash_seconds = timed(lambda: [snapshot_fingerprint(d.meta, d.resources) for d in desired])
    # The same content hashed as one canonical JSON text per store (one C call), which is
    # what hashing every store's resources costs without the engine's per-resource hashes.
    hash_store_seconds = timed(lambda: [fingerprint([d.meta, d.resources]) for d in desired])
    state = open_state(loaded.state_url, loaded.root)
    try:
        state_seconds = timed(state.all)
    finally:
        state.close()
    result = {
        "files": len(texts), "bytes": sum(map(len, texts)), "bindings": len(validated.views),
        "parsers": parse, "parse_floor": chosen,
        "components": {"parse": parse[chosen]["seconds"], "expand": expand_seconds, "map": map_seconds,
                       "hash": min(hash_seconds, hash_store_seconds), "state_read": state_seconds},
        "hashing": {"engine, per resource": hash_seconds, "one canonical JSON per store": hash_store_seconds},
        "resources": sum(len(d.resources) for d in desired),
    }
    result["seconds"] = sum(result["components"].values())
    return result


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]))))
