"""What a plan asks of each backend, beside the fewest requests that could carry it and
a naive full resync of every store."""

from __future__ import annotations

import math


def lower_bound(store: dict) -> int:
    """The fewest requests that can carry a store's changes on its backend."""
    changes = store["changes"]
    if store["provider"] == "dstore":
        # Status-only changes of SINGLE/MODIFIER products: 10 per status update;
        # anything else needs the one full sync.
        light = all(c["op"] == "update" and [f["field"] for f in c["fields"]] == ["status"]
                    and c["new"]["type"] in ("SINGLE", "MODIFIER") for c in changes)
        return math.ceil(len(changes) / 10) if light else 1
    if store["provider"] == "tipsi":
        return math.ceil(len(changes) / 300)  # ext/sync upserts, chunk_size items each
    if store["provider"] == "mipos":
        # Stock-only drift: miPOS has no batch of movements, so one stock/update per item.
        # (One system/sync would carry it too, but resends the whole store: the bound
        # follows the light path, as D-Store's does.) Anything else: the one system/sync.
        light = all(c["op"] == "update" and [f["field"] for f in c["fields"]] == ["stock"] for c in changes)
        return len(changes) if light else 1
    raise ValueError(store["provider"])


def plan_figures(plan: dict) -> dict:
    stores = [s for s in plan["stores"] if s["actions"]]
    figures: dict = {"stores_changed": len(stores), "by_backend": {}}
    for backend in sorted({s["backend"] for s in plan["stores"]}):
        bindings = [s for s in plan["stores"] if s["backend"] == backend]
        changed = [s for s in bindings if s["actions"]]
        figures["by_backend"][backend] = {
            "stores": len(bindings), "stores_changed": len(changed),
            "requests": sum(len(s["actions"]) for s in changed),
            "bytes": sum(a["bytes"] for s in changed for a in s["actions"]),
            "lower_bound": sum(lower_bound(s) for s in changed),
            "naive_requests": len(bindings), "naive_bytes": sum(s["full_cost"]["bytes"] for s in bindings),
        }
    for key in ("requests", "bytes", "lower_bound", "naive_requests", "naive_bytes"):
        figures[key] = sum(b[key] for b in figures["by_backend"].values())
    return figures


def changed_stores(plan: dict) -> set[tuple[str, str]]:
    return {(s["backend"], s["store"]) for s in plan["stores"] if s["actions"]}
