"""The terminal rendering, colored with rich when the output is a terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape

from ..plan import Plan
from .common import OP_SYMBOL, cost_line, describe, size, store_title

STYLE = {"create": "green", "update": "yellow", "delete": "red"}


def render_text(plan: Plan, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, color_system="standard" if color else None,
                      width=120, highlight=False, soft_wrap=True)
    out = console.print
    changed = plan.changed_stores
    out(f"[bold]Plan {plan.plan_id}[/bold] for {escape(plan.project)}: "
        f"{len(plan.stores)} store binding{'s' * (len(plan.stores) != 1)}, {len(changed)} with changes")
    for store in plan.stores:
        if not store.has_changes:
            continue
        out("")
        out(f"[bold]{escape(store_title(store))}[/bold] (id {escape(store.remote_id)} on {store.provider}): "
            f"[cyan]{store.path} path[/cyan] - {escape(store.reason)}")
        for field in store.meta_changes:
            out(f"  [yellow]~ store {escape(field.field)}[/yellow]: {escape(str(field.old))} -> {escape(str(field.new))}")
        for change in store.changes:
            out(f"  [{STYLE[change.op]}]{OP_SYMBOL[change.op]} {escape(describe(change))}[/{STYLE[change.op]}]")
        for move in store.price_moves:
            change = f" ({move.change:+.1%})" if move.change is not None else ""
            out(f"  [yellow]price {escape(move.key)}[/yellow]: {move.old} -> {move.new}{change}")
        for move in store.availability_moves:
            style = "green" if move.available else "bold red"
            out(f"  [{style}]{'available' if move.available else 'unavailable'}: {escape(move.key)}"
                f"{' (' + escape(move.name) + ')' if move.name else ''}[/{style}]")
        out(f"  sends {cost_line(store)}")
        for action in store.actions:
            out(f"    {action.index}. {action.kind}: {escape(action.summary)} ({size(action.bytes)})")
        for warning in store.warnings:
            out(f"  [magenta]note: {escape(warning)}[/magenta]")
        for violation in store.safety.violations:
            out(f"  [bold red]safety: {escape(violation)}[/bold red]")
    totals = plan.totals()
    out("")
    if not changed:
        out("[green]No changes.[/green] The backends match the catalog.")
    else:
        out(f"[bold]Plan:[/bold] {totals['create']} to create, {totals['update']} to update, "
            f"{totals['delete']} to remove in {totals['stores']} store{'s' * (totals['stores'] != 1)}; "
            f"{totals['requests']} request{'s' * (totals['requests'] != 1)}, {size(totals['bytes'])}.")
    return buffer.getvalue()
