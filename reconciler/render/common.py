"""Small formatting helpers shared by the renderings."""

from __future__ import annotations

import json
from typing import Any, Callable

from ..diff import ResourceChange
from ..plan import Plan, StorePlan

OP_SYMBOL = {"create": "+", "update": "~", "delete": "-"}
OP_WORD = {"create": "create", "update": "update", "delete": "remove"}


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def value(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def describe(change: ResourceChange) -> str:
    """One line per resource change: the name if there is one, the fields that move."""
    name = change.label
    label = f"{change.key}" + (f" ({name})" if name and name != change.key else "")
    if change.op == "update":
        return label + ": " + "; ".join(f"{f.field} {value(f.old)} -> {value(f.new)}" for f in change.fields)
    return label


def store_title(store: StorePlan) -> str:
    return f"{store.backend} / {store.store}"


def cost_line(store: StorePlan) -> str:
    requests = store.requests
    line = f"{requests} request{'s' * (requests != 1)}, {size(store.bytes)}"
    if store.path == "light":
        full = store.full_cost
        line += f"; a full resync would be {full.requests} request{'s' * (full.requests != 1)}, {size(full.bytes)}"
    return line


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def shown_stores(plan: Plan) -> list[StorePlan]:
    """The stores a rendering lists: those apply sends requests to, those whose changes
    nothing is sent for, and those with notes (a lock, what a backend cannot do)."""
    return [s for s in plan.stores if s.actions or s.changes or s.meta_changes or s.warnings]


def counts_phrase(totals: dict[str, int], number: Callable[[int], str] = str, nonzero: bool = False,
                  unavailable: int | None = None, settings: bool = True) -> str:
    """The counts of a summary line, the same in every rendering: `number` formats the
    numbers (bold in markdown); `nonzero` leaves out what does not happen."""
    parts = [(totals["create"], "to create"), (totals["update"], "to update"), (totals["delete"], "to remove")]
    if unavailable is not None:
        parts.append((unavailable, "to mark unavailable"))
    phrases = [f"{number(n)} {what}" for n, what in parts if n or not nonzero]
    if settings and totals["settings"]:
        phrases.append(settings_phrase(totals, number))
    return ", ".join(phrases)


def settings_phrase(totals: dict[str, int], number: Callable[[int], str] = str) -> str:
    """The stores whose own settings change (a name, a webhook)."""
    n = totals["settings"]
    return f"settings of {number(n)} store{'s' * (n != 1)} to update"


def refusal(plan: Plan, force: bool) -> str:
    """The banner's first sentence, or "" when no store crosses a safety threshold."""
    violations = plan.safety_violations()
    if not violations:
        return ""
    found = f"{plural(len(violations), 'safety finding')} in {plural(len({s.key for s, _ in violations}), 'store')}"
    if force:
        return f"Safety thresholds crossed ({found}); --force was given, so apply runs this plan anyway."
    return (f"REFUSED by safety ({found}): apply will not run this plan and nothing is sent. "
            "If the changes are intended, review them and plan again with --force.")
