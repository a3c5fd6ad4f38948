"""The pull-request rendering: summary first, what a reviewer must not miss next,
details folded, and always under GitHub's comment limit.

The first line is a hidden marker, so CI can find and update its own comment instead of
adding a new one on every push.
"""

from __future__ import annotations

from ..plan import Plan, StorePlan
from .common import OP_SYMBOL, OP_WORD, cost_line, describe, size, store_title

COMMENT_LIMIT = 65536
MARKER = "<!-- reconciler-plan -->"
DEFAULT_PRICE_ALERT = 0.2  # a price moving by more than this share is called out
_RESERVE = 1024  # room for the closing note about what was left out
_LIST_LIMIT = 20  # ids shown inline in one attention line


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ids(keys: list[str]) -> str:
    shown = ", ".join(f"`{k}`" for k in keys[:_LIST_LIMIT])
    return shown + (f" and {len(keys) - _LIST_LIMIT} more" if len(keys) > _LIST_LIMIT else "")


def _percent(change: float | None) -> str:
    return "" if change is None else f"{change:+.1%}"


class _Budget:
    """Collects blocks while they fit; counts what did not."""

    def __init__(self, limit: int):
        self.limit = limit - _RESERVE
        self.parts: list[str] = []
        self.used = 0
        self.left_out: dict[str, int] = {}

    def add(self, block: str, kind: str | None = None) -> bool:
        if self.used + len(block) + 1 > self.limit:
            if kind:
                self.left_out[kind] = self.left_out.get(kind, 0) + 1
            return False
        self.parts.append(block)
        self.used += len(block) + 1
        return True


def render_markdown(plan: Plan, limit: int = COMMENT_LIMIT, price_alert: float = DEFAULT_PRICE_ALERT,
                    full_plan: str | None = None) -> str:
    out = _Budget(limit)
    out.add(MARKER)
    out.add(f"### Reconciler plan `{plan.plan_id}`\n")
    changed = plan.changed_stores
    # A store with nothing to send is still shown when it has notes: a drift that no
    # request can fix (a field the backend cannot clear) must stay visible.
    noted = [s for s in plan.stores if not s.has_changes and s.warnings]
    if not changed and not noted:
        out.add("**No changes.** The backends match the catalog.")
        return "\n".join(out.parts) + "\n"
    if changed:
        totals = plan.totals()
        unavailable = sum(1 for s in changed for m in s.availability_moves if not m.available)
        out.add(
            f"**{totals['stores']}** store(s) change: **{totals['create']}** to create, **{totals['update']}** to update, "
            f"**{totals['delete']}** to remove, **{unavailable}** to mark unavailable; "
            f"**{totals['requests']}** request(s), {size(totals['bytes'])}.\n"
        )
        out.add("| backend | store | path | create | update | remove | availability | requests | bytes |\n"
                "|---|---|---|---:|---:|---:|---:|---:|---:|")
        for store in changed:
            c = store.counts()
            out.add(f"| {_cell(store.backend)} | {_cell(store.store)} | {store.path} | {c['create']} | {c['update']} | "
                    f"{c['delete']} | {len(store.availability_moves)} | {store.requests} | {store.bytes} |", "summary rows")
    else:
        out.add("**Nothing to send.**")
    attention = [line for store in changed + noted for line in _attention(store, price_alert)]
    out.add("\n#### Needs attention\n" if attention else "\nNothing needs special attention.\n")
    for line in attention:
        out.add(f"- {line}", "attention items")
    out.add("")
    for store in changed + noted:
        out.add(_details(store, price_alert), "stores' details")
    if out.left_out:
        what = ", ".join(f"{n} {kind}" for kind, n in out.left_out.items())
        where = f"the plan artifact `{full_plan}`" if full_plan else "the plan artifact (`plan --out`)"
        out.parts.append(
            f"\n_Left out to stay under GitHub's {limit:,}-character limit: {what}. "
            f"The full plan is {where}; render it with `reconciler show PLANFILE`._"
        )
    return "\n".join(out.parts) + "\n"


def _attention(store: StorePlan, price_alert: float) -> list[str]:
    title = _cell(store_title(store))
    lines = [f"**safety** {title}: {v}" for v in store.safety.violations]
    removed = [c.key for c in store.changes if c.op == "delete"]
    if removed:
        lines.append(f"{title}: removes {len(removed)}: {_ids(removed)}")
    soldout = [m.key for m in store.availability_moves if not m.available]
    if soldout:
        lines.append(f"{title}: marks unavailable {len(soldout)}: {_ids(soldout)}")
    for move in store.price_moves:
        if move.change is None or abs(move.change) > price_alert:
            lines.append(f"{title}: price of `{move.key}` {move.old} -> {move.new} ({_percent(move.change) or 'new or removed price'})")
    if store.path == "full":
        lines.append(f"{title}: full path ({_cell(store.reason)})")
    if store.unseen and not store.owned:  # owned: expected, and said in the details
        lines.append(f"**unseen contents** {title}: {_cell(store.unseen)}")
    lines.extend(f"{title}: {_cell(w)}" for w in store.warnings)
    return lines


def _details(store: StorePlan, price_alert: float) -> str:
    lines = [f"<details><summary>{_cell(store_title(store))}: {store.path} path, {cost_line(store)}</summary>", "",
             f"Reason: {_cell(store.reason)}", ""]
    if store.unseen:
        lines += [f"Unseen contents: {_cell(store.unseen)}" + (" (the store is declared owned)" if store.owned else ""), ""]
    if store.price_moves:
        lines += ["| price | name | old | new | change |", "|---|---|---:|---:|---:|"]
        for move in store.price_moves:
            flag = " **!**" if move.change is None or abs(move.change) > price_alert else ""
            lines.append(f"| `{_cell(move.key)}` | {_cell(move.name)} | {move.old or ''} | {move.new or ''} | "
                         f"{_percent(move.change)}{flag} |")
        lines.append("")
    if store.availability_moves:
        lines += ["| availability | name | after |", "|---|---|---|"]
        for move in store.availability_moves:
            lines.append(f"| `{_cell(move.key)}` | {_cell(move.name)} | {'available' if move.available else '**unavailable**'} |")
        lines.append("")
    for field in store.meta_changes:
        lines.append(f"- ~ store `{field.field}`: {_cell(field.old)} -> {_cell(field.new)}")
    for change in store.changes:
        lines.append(f"- {OP_SYMBOL[change.op]} {OP_WORD[change.op]} `{_cell(describe(change))}`")
    lines += ["", "</details>", ""]
    return "\n".join(lines)
