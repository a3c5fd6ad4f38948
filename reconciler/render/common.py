"""Small formatting helpers shared by the renderings."""

from __future__ import annotations

import json
from typing import Any

from ..diff import ResourceChange
from ..plan import StorePlan

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
