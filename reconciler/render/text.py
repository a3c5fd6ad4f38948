"""The terminal rendering, colored with rich when the output is a terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from ..plan import Plan
from .common import OP_SYMBOL, cost_line, describe, size, store_title

STYLE = {"create": "green", "update": "yellow", "delete": "red"}


Part = str | tuple[str, str]  # plain text, or (style, text)


def render_text(plan: Plan, color: bool = False) -> str:
    lines: list[tuple[Part, ...]] = []

    def out(*parts: Part) -> None:
        lines.append(parts)

    changed = plan.changed_stores
    out(("bold", f"Plan {plan.plan_id}"), f" for {plan.project}: "
        f"{len(plan.stores)} store binding{'s' * (len(plan.stores) != 1)}, {len(changed)} with changes")
    noted = [s for s in plan.stores if not s.has_changes and s.warnings]
    for store in plan.stores:
        # A store with nothing to send is still shown when it has notes: a drift that no
        # request can fix (a field the backend cannot clear) must stay visible.
        if not store.has_changes and not store.warnings:
            continue
        out()
        out(("bold", store_title(store)), f" (id {store.remote_id} on {store.provider}): ",
            ("cyan", f"{store.path} path"), f" - {store.reason}")
        for field in store.meta_changes:
            out("  ", ("yellow", f"~ store {field.field}"), f": {field.old} -> {field.new}")
        for change in store.changes:
            out("  ", (STYLE[change.op], f"{OP_SYMBOL[change.op]} {describe(change)}"))
        for move in store.price_moves:
            change = f" ({move.change:+.1%})" if move.change is not None else ""
            out("  ", ("yellow", f"price {move.key}"), f": {move.old} -> {move.new}{change}")
        for move in store.availability_moves:
            out("  ", ("green" if move.available else "bold red",
                       f"{'available' if move.available else 'unavailable'}: {move.key}"
                       f"{' (' + move.name + ')' if move.name else ''}"))
        out(f"  sends {cost_line(store)}")
        for action in store.actions:
            out(f"    {action.index}. {action.kind}: {action.summary} ({size(action.bytes)})")
        if store.unseen:
            out("  ", ("bold magenta", f"unseen contents: {store.unseen}"
                       + (" (the store is declared owned)" if store.owned else "")))
        for warning in store.warnings:
            out("  ", ("magenta", f"note: {warning}"))
        for violation in store.safety.violations:
            out("  ", ("bold red", f"safety: {violation}"))
    totals = plan.totals()
    out()
    if not changed and noted:
        out(("yellow", "Nothing to send."), " See the notes above.")
    elif not changed:
        out(("green", "No changes."), " The backends match the catalog.")
    else:
        out(("bold", "Plan:"), f" {totals['create']} to create, {totals['update']} to update, "
            f"{totals['delete']} to remove in {totals['stores']} store{'s' * (totals['stores'] != 1)}; "
            f"{totals['requests']} request{'s' * (totals['requests'] != 1)}, {size(totals['bytes'])}.")
    if not color:
        # Plain text needs no rich at all: a chain's plan is tens of thousands of lines.
        return "".join("".join(p if isinstance(p, str) else p[1] for p in parts) + "\n" for parts in lines)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=120,
                      highlight=False, soft_wrap=True)
    text = Text("\n").join(Text.assemble(*((p, "") if isinstance(p, str) else (p[1], p[0]) for p in parts))
                           for parts in lines)
    console.print(text)
    return buffer.getvalue()
