"""A plan that costs what changed.

A pull request usually edits a few store files of a chain. A store binding whose inputs
are exactly those of an earlier plan, and whose plan then sent nothing, gets that plan's
result again, and the file that defines it is not even parsed; only the rest is loaded,
validated and planned. What a binding's plan depends on, and so what its key covers:

- the reconciler's version, `reconciler.yaml` (backends, settings, safety, vars), the
  state URL and the plan options;
- the text of every catalog file that defines anything but stores (menus, units,
  suppliers), so a menu edit plans every store again;
- the text of the file that defines the store (rendered, for a template), and of a stock
  CSV file it names;
- what the state holds for the binding: its row's head (remote id, serial, generation,
  fingerprint, unknown and in-flight marks, last plan), its webhook reports, and a live
  lease on it (a plan warns of one).

Only plans that send nothing are kept: a plan with actions carries its plan id in its
idempotency keys and is made anew. Bindings of backends read live (the backend may have
changed) are never taken from the cache. The cache is `.reconciler/plan-cache.json`;
deleting it, or `plan --no-cache`, plans everything. `tests/engine/test_incremental_plan.py`
compares incremental and full plans over random edits.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import write_atomically
from .plan import StorePlan
from .project import PROJECT_FILE, Project, load_project

CACHE_FILE = "plan-cache.json"
FORMAT = 2


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


@dataclass
class PlanCache:
    """What earlier plans found, by catalog file and by store binding."""

    path: Path
    base: str  # version, reconciler.yaml, state URL, options: any change voids everything
    # display name -> {"text": hash, "stores": {store id: {"bindings": [backend, ...], "aux": {path: hash}}},
    #                  "other": whether the file defines anything but stores}
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # "backend\nstore" -> {"key", "plan"}

    @classmethod
    def open(cls, root: Path, base: str) -> "PlanCache":
        path = root / ".reconciler" / CACHE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(path, base)
        if data.get("format") != FORMAT or data.get("base") != base:
            return cls(path, base)
        return cls(path, base, data.get("files", {}), data.get("plans", {}))

    def save(self) -> None:
        write_atomically(self.path, json.dumps({"format": FORMAT, "base": self.base, "files": self.files,
                                                "plans": self.plans}, ensure_ascii=False, separators=(",", ":")))

    def stores_only(self, display: str, text: str) -> bool:
        """The file is unchanged and defines stores only: it may be skipped if its bindings' plans hold."""
        entry = self.files.get(display)
        return entry is not None and entry["text"] == text and not entry["other"]


def base_digest(root: Path, options: Any) -> str:
    config = (root / PROJECT_FILE).read_bytes()
    state = os.environ.get("RECONCILER_STATE") or ""
    return _digest(__version__, FORMAT, hashlib.sha256(config).hexdigest(), state, options.full, options.refresh)


def _catalog_digest(project: Project) -> str:
    """The texts of the files that define menus, units or suppliers: a skipped file
    defines stores alone, so these are all parsed."""
    return _digest(sorted((source.display, project.texts[source.display]) for source in project.files
                          if isinstance(source.data, dict) and set(source.data) - {"stores"}))


class Inputs:
    """A binding's cache key from what the project and the state say now."""

    def __init__(self, project: Project, state: Any):
        self.project = project
        self.catalog = _catalog_digest(project)
        self.heads = state.heads()
        self.observations = state.observation_digests()
        self.locks = {(lock.backend, lock.store): (lock.owner, lock.acquired_at, lock.expires_at, lock.expired)
                      for lock in state.locks()}

    def key(self, backend: str, store: str, file_text: str, aux: dict[str, str]) -> str:
        binding = (backend, store)
        return _digest(self.catalog, file_text, aux, self.heads.get(binding), self.observations.get(binding),
                       self.locks.get(binding))


def aux_hashes(project: Project, store_id: str) -> dict[str, str]:
    """The files a store names besides the one that defines it (a stock CSV), by hash."""
    store = project.catalog.stores[store_id]
    if not isinstance(store.stock, str):
        return {}
    return {store.stock: _file_hash(project.root / store.stock)}


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


@dataclass
class Reuse:
    """The outcome of consulting the cache: a project loaded without the files it
    vouched for, and the store plans it gives back."""

    project: Project
    plans: dict[tuple[str, str], StorePlan]
    cache: PlanCache
    inputs: Inputs


def reads_live(project: Project, options: Any, backend: str) -> bool:
    """Whether a plan reads this backend live (its bindings are then never reused)."""
    from .provider import Provider
    from .registry import provider_class

    entry = project.config.backends.get(backend)
    if entry is None or not options.refresh:
        return False
    return provider_class(entry.provider).observe is not Provider.observe


def load_with_cache(root: Path, options: Any, open_state: Any) -> Reuse:
    """Load the project, skipping the store files whose every binding the cache holds.
    `open_state(project)` opens the state store for a project."""
    root = root.resolve()
    cache = PlanCache.open(root, base_digest(root, options))
    project = load_project(root, skip=cache.stores_only)
    state = open_state(project)
    try:
        inputs = Inputs(project, state)
    finally:
        state.close()
    plans: dict[tuple[str, str], StorePlan] = {}
    reload: set[str] = set()
    defined = {(section, key) for section, key in project.catalog.origins}
    for display in project.skipped:
        entry = cache.files[display]
        found: dict[tuple[str, str], StorePlan] = {}
        for store_id, store in entry["stores"].items():
            aux = {path: _file_hash(root / path) for path in store["aux"]}
            if ("stores", store_id) in defined:  # defined twice now: the full load reports it
                found = None
                break
            for backend in store["bindings"]:
                held = cache.plans.get(f"{backend}\n{store_id}")
                if (reads_live(project, options, backend) or held is None
                        or held["key"] != inputs.key(backend, store_id, entry["text"], aux)):
                    found = None
                    break
                found[(backend, store_id)] = StorePlan.model_validate_json(held["plan"])
            if found is None:
                break
        if found is None:
            reload.add(display)
        else:
            plans.update(found)
    if reload:
        skip = project.skipped - reload
        project = load_project(root, skip=lambda display, text: display in skip)
        inputs.project = project
    return Reuse(project, plans, cache, inputs)


def remember(reuse: Reuse, stores: list[StorePlan], options: Any) -> None:
    """Keep what this plan found for the next one: the loaded files, and every store plan
    that sends nothing (reused ones stay)."""
    project, cache = reuse.project, reuse.cache
    files: dict[str, dict[str, Any]] = {d: cache.files[d] for d in project.skipped}
    defined: dict[str, dict[str, Any]] = {source.display: {} for source in project.files}
    text_of: dict[str, str] = {}
    for store_id, store in project.catalog.stores.items():  # grouped by the file that defines them
        display = project.catalog.origins[("stores", store_id)].display
        defined[display][store_id] = {"bindings": sorted(store.backends), "aux": aux_hashes(project, store_id)}
        text_of[store_id] = project.texts[display]
    for source in project.files:
        data = source.data if isinstance(source.data, dict) else {}
        files[source.display] = {"text": project.texts[source.display], "stores": defined[source.display],
                                 "other": bool(set(data) - {"stores"})}
    plans = {k: v for k, v in cache.plans.items() if tuple(k.split("\n", 1)) in reuse.plans}
    for store in stores:
        if store.actions or reads_live(project, options, store.backend) or store.store not in text_of:
            continue
        aux = files[project.catalog.origins[("stores", store.store)].display]["stores"][store.store]["aux"]
        plans[f"{store.backend}\n{store.store}"] = {
            "key": reuse.inputs.key(store.backend, store.store, text_of[store.store], aux),
            "plan": store.model_dump_json(),  # kept as text: read back with pydantic's own JSON parser
        }
    cache.files, cache.plans = files, plans
    cache.save()
