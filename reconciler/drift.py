"""`plan --refresh-only`: what changed in the backends outside the reconciler.

The baseline is the last applied snapshot in the state store; the observation is a live
read where the provider can read (`Provider.observe`), otherwise the snapshot with the
webhook observations laid over it. Nothing is compiled and nothing is written: this is
a report for a scheduled drift check, not a plan. A store never applied has no baseline
and a write-only backend without observations cannot show drift; both are listed as such
rather than reported clean.

Drift reads in the direction of `plan` (catalog -> backend), so the two can be read side
by side: `~ price 5.50 -> 8.25` says the backend holds 5.50 now and the last apply set
8.25, just as a plan says the backend holds 5.50 and apply sets 8.25; `+` is what the
backend lost, `-` what it gained. The report and its JSON (`sides`) say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .diff import ResourceChange, diff_resources, field_changes
from .planner import PlanOptions, _observe, _observed_from_state, _targets
from .render.common import value
from .render.escape import md
from .render.findings import PLAIN, Style
from .render.markdown import MARKDOWN
from .state import StateView
from .validation import Validated

DRIFT_FORMAT_VERSION = 2  # 2: changes read backend now (old) -> recorded (new)


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
        # The direction of `plan` (catalog -> backend): the backend now is the side a
        # change starts from ("old"), the last applied snapshot the side it goes to
        # ("new"). A create is something the backend lost; a delete, something it gained.
        changes = diff_resources(row.resources, observed.resources, target.provider.label)
        # Compare only the meta fields the backend reported: a provider that reads no meta
        # must not look like one whose meta was wiped.
        seen_meta = {k: observed.meta[k] for k in observed.meta}
        base_meta = {k: row.meta.get(k) for k in observed.meta}
        meta_changes = field_changes(seen_meta, base_meta) if seen_meta != base_meta else []
        stores.append(StoreDrift(target.backend, target.store, target.remote_id, observed.source,
                                 changes, meta_changes, row.unknown, observed, row))
    never = sorted(f"{t.backend}/{t.store}" for t in targets if t.row is None)
    return DriftReport(stores, unobservable, never)


_SYMBOL = {"create": "+", "update": "~", "delete": "-"}
_WHAT = {"create": "recorded, missing from the backend (removed outside the reconciler)",
         "delete": "in the backend, never applied (added outside the reconciler)"}
SIDES = {"old": "the backend now", "new": "recorded at the last apply"}
LEGEND = ("Read as `plan` reads (catalog -> backend): `~ field A -> B` means the backend holds A now and the "
          "last apply set B; `+` is recorded but missing from the backend, `-` is in the backend but was never "
          "applied. While the catalog is unchanged, `reconciler plan` puts back the recorded side; "
          "`reconciler apply --refresh-only` records the backend's side instead.")


def _change_line(change: ResourceChange, style: Style) -> str:
    name = style.code(change.key) + (f" ({style.text(change.label)})" if change.label else "")
    if change.op != "update":
        return f"{style.code(_SYMBOL[change.op])} {name}: {style.text(_WHAT[change.op])}"
    return f"{style.code('~')} {name}: " + ", ".join(_field(f, style) for f in change.fields)


def _field(change: Any, style: Style) -> str:
    return f"{style.code(change.field)} {style.code(value(change.old))} -> {style.code(value(change.new))}"


def render_drift(report: DriftReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({
            "format_version": DRIFT_FORMAT_VERSION, "kind": "drift", "has_drift": report.has_drift, "sides": SIDES,
            "stores": [{"backend": s.backend, "store": s.store, "remote_id": s.remote_id, "source": s.source,
                        "unknown": s.unknown, "changes": [c.model_dump(mode="json") for c in s.changes],
                        "meta_changes": [m.model_dump(mode="json") for m in s.meta_changes]}
                       for s in report.stores],
            "unobservable": report.unobservable, "never_applied": report.never_applied,
        }, indent=2, ensure_ascii=False)
    markdown = fmt == "markdown"
    style = MARKDOWN if markdown else PLAIN
    # The legend is the reconciler's own text; its backticks are meant as code.
    out = (["## Drift since the last apply", "", f"{LEGEND} Nothing was written."] if markdown else
           ["Drift since the last apply (nothing was written).", LEGEND])
    out.append("")
    by_backend: dict[str, list[StoreDrift]] = {}
    for store in report.drifted:
        by_backend.setdefault(store.backend, []).append(store)
    for backend, stores in by_backend.items():
        out.append(f"### {md(backend)}" if markdown else backend)
        for store in stores:
            head = f"{store.store} (id {store.remote_id}, observed: {store.source})"
            out.append(f"- **{md(head)}**" if markdown else f"  {head}")
            lines = _change_lines_all(store, style)
            out.extend(f"  - {line}" if markdown else f"    {line}" for line in lines)
        out.append("")
    resources = sum(len(s.changes) + (1 if s.meta_changes else 0) for s in report.drifted)
    if report.has_drift:
        out.append(f"Drift: {resources} resource{'s' if resources != 1 else ''} changed outside the reconciler "
                   f"in {len(report.drifted)} store{'s' if len(report.drifted) != 1 else ''}.")
    else:
        out.append(f"No drift in {len(report.stores)} observed store{'s' if len(report.stores) != 1 else ''}.")
    listed = md if markdown else str
    if report.unobservable:
        out.append("Not observable (write-only backend, no webhook observations): "
                   + listed(", ".join(report.unobservable)))
    if report.never_applied:
        out.append("Never applied (no snapshot to compare with): " + listed(", ".join(report.never_applied)))
    return "\n".join(out)


def _change_lines_all(store: StoreDrift, style: Style) -> list[str]:
    lines = [_change_line(change, style) for change in store.changes]
    if store.meta_changes:
        lines.append(f"{style.code('~')} store settings: " + ", ".join(_field(m, style) for m in store.meta_changes))
    return lines
