"""`plan --refresh-only`: what changed in the backends outside the reconciler.

The baseline is the last applied snapshot in the state store; the observation is a live
read where the provider can read (`Provider.observe`), otherwise the snapshot with the
webhook observations laid over it. Nothing is compiled and nothing is written: this is
a report for a scheduled drift check, not a plan. A store never applied has no baseline
and a write-only backend without observations cannot show drift; both are listed as such
rather than reported clean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .diff import ResourceChange, diff_resources, field_changes
from .planner import PlanOptions, _observe, _observed_from_state, _targets
from .state import StateView
from .validation import Validated

DRIFT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoreDrift:
    backend: str
    store: str
    remote_id: str
    source: str  # "live", "state+webhooks", ...
    changes: list[ResourceChange]
    meta_changes: list[Any] = field(default_factory=list)
    unknown: str | None = None
    observed: Any = None  # the Observed the report compared, for `apply --refresh-only`
    row: Any = None  # the state row it was compared with


@dataclass(frozen=True)
class DriftReport:
    stores: list[StoreDrift]  # every observable store, drifted or not
    unobservable: list[str]  # backend/store: no live read and no observations
    never_applied: list[str]  # backend/store: no snapshot to compare with

    @property
    def drifted(self) -> list[StoreDrift]:
        return [s for s in self.stores if s.changes or s.meta_changes]

    @property
    def has_drift(self) -> bool:
        return bool(self.drifted)


async def drift_report(validated: Validated, state: StateView, options: PlanOptions) -> DriftReport:
    targets = _targets(validated, state, options)
    applied = [t for t in targets if t.row is not None]
    # Live reads only for stores with a baseline: reading the others would show nothing.
    live = await _observe(applied, PlanOptions(refresh=True, selector=options.selector))
    stores, unobservable = [], []
    for target in sorted(applied, key=lambda t: (t.backend, t.store)):
        row = target.row
        observed = live.get((target.backend, target.store)) or _observed_from_state(
            row, state.observations(target.backend, target.store))
        if observed.source == "state":  # the snapshot itself: nothing was observed
            unobservable.append(f"{target.backend}/{target.store}")
            continue
        # Observed is the "new" side: a create is something that appeared outside.
        changes = diff_resources(observed.resources, row.resources, target.provider.label)
        # Compare only the meta fields the backend reported: a provider that reads no meta
        # must not look like one whose meta was wiped.
        seen_meta = {k: observed.meta[k] for k in observed.meta}
        base_meta = {k: row.meta.get(k) for k in observed.meta}
        meta_changes = field_changes(base_meta, seen_meta) if seen_meta != base_meta else []
        stores.append(StoreDrift(target.backend, target.store, target.remote_id, observed.source,
                                 changes, meta_changes, row.unknown, observed, row))
    never = sorted(f"{t.backend}/{t.store}" for t in targets if t.row is None)
    return DriftReport(stores, unobservable, never)


_SYMBOL = {"create": "+", "update": "~", "delete": "-"}
_WORD = {"create": "appeared", "update": "changed", "delete": "disappeared"}


def _change_lines(change: ResourceChange) -> list[str]:
    name = f"{change.key} ({change.label})" if change.label else change.key
    if change.op != "update":
        return [f"{_SYMBOL[change.op]} {name} {_WORD[change.op]}"]
    return [f"~ {name}: " + ", ".join(f"{f.field} {_show(f.old)} -> {_show(f.new)}" for f in change.fields)]


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def render_drift(report: DriftReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({
            "format_version": DRIFT_FORMAT_VERSION, "kind": "drift", "has_drift": report.has_drift,
            "stores": [{"backend": s.backend, "store": s.store, "remote_id": s.remote_id, "source": s.source,
                        "unknown": s.unknown, "changes": [c.model_dump(mode="json") for c in s.changes],
                        "meta_changes": [m.model_dump(mode="json") for m in s.meta_changes]}
                       for s in report.stores],
            "unobservable": report.unobservable, "never_applied": report.never_applied,
        }, indent=2, ensure_ascii=False)
    markdown = fmt == "markdown"
    out = ["## Drift since the last apply" if markdown else "Drift since the last apply (nothing was written):", ""]
    by_backend: dict[str, list[StoreDrift]] = {}
    for store in report.drifted:
        by_backend.setdefault(store.backend, []).append(store)
    for backend, stores in by_backend.items():
        out.append(f"### {backend}" if markdown else backend)
        for store in stores:
            head = f"{store.store} (id {store.remote_id}, observed: {store.source})"
            out.append(f"- **{head}**" if markdown else f"  {head}")
            lines = _change_lines_all(store)
            out.extend(f"  - `{line}`" if markdown else f"    {line}" for line in lines)
        out.append("")
    resources = sum(len(s.changes) + (1 if s.meta_changes else 0) for s in report.drifted)
    if report.has_drift:
        out.append(f"Drift: {resources} resource{'s' if resources != 1 else ''} changed outside the reconciler "
                   f"in {len(report.drifted)} store{'s' if len(report.drifted) != 1 else ''}.")
    else:
        out.append(f"No drift in {len(report.stores)} observed store{'s' if len(report.stores) != 1 else ''}.")
    if report.unobservable:
        out.append("Not observable (write-only backend, no webhook observations): " + ", ".join(report.unobservable))
    if report.never_applied:
        out.append("Never applied (no snapshot to compare with): " + ", ".join(report.never_applied))
    return "\n".join(out)


def _change_lines_all(store: StoreDrift) -> list[str]:
    lines = [line for change in store.changes for line in _change_lines(change)]
    if store.meta_changes:
        lines.append("~ store settings: " + ", ".join(f"{m.field} {_show(m.old)} -> {_show(m.new)}"
                                                     for m in store.meta_changes))
    return lines
