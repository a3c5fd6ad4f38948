"""The terminal rendering, colored with rich when the output is a terminal.

Top to bottom: the refusal banner when safety refuses the plan; every store apply sends
requests to, every store whose changes nothing is sent for, and every store with notes,
in full; what needs attention, grouped across stores; the counts.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from ..plan import Plan, StorePlan
from .common import (OP_SYMBOL, cost_line, counts_phrase, describe, plural, refusal, settings_phrase,
                     shown_stores, size, store_title, value)
from .findings import DEFAULT_PRICE_ALERT, findings, phrase

STYLE = {"create": "green", "update": "yellow", "delete": "red"}
FINDING_STYLE = {"safety": "bold red", "not sent": "bold magenta", "remove": "red", "unavailable": "red",
                 "price": "yellow", "first apply": "magenta", "note": "magenta", "full path": "cyan"}


Part = str | tuple[str, str]  # plain text, or (style, text)


def render_text(plan: Plan, color: bool = False, price_alert: float = DEFAULT_PRICE_ALERT,
                force: bool = False) -> str:
    lines: list[tuple[Part, ...]] = []

    def out(*parts: Part) -> None:
        lines.append(parts)

    shown = shown_stores(plan)
    changed, unsent = plan.changed_stores, plan.unsent_stores
    head = f"{plural(len(plan.stores), 'store binding')}, {len(changed)} with changes"
    if unsent:
        head += f", {len(unsent)} with changes that are not sent"
    noted = len(shown) - len(changed) - len(unsent)
    if noted:
        head += f", {noted} with notes only"
    out(("bold", f"Plan {plan.plan_id}"), f" for {plan.project}: {head}")
    for note in plan.notes:
        out(f"note: {note}")
    found = findings(plan, price_alert)
    banner = refusal(plan, force)
    if banner:
        out(("bold red" if not force else "bold yellow", banner))
        for finding in found:
            if finding.kind == "safety":
                out("  ", ("bold red", phrase(finding)))
    for store in shown:
        out()
        _store(store, out)
    listed = [f for f in found if not (banner and f.kind == "safety")]  # the banner lists those
    if listed:
        out()
        out(("bold", "Needs attention:"))
        for finding in listed:
            out("  ", (FINDING_STYLE[finding.kind], phrase(finding)))
    out()
    for line in _summary(plan, shown):
        out(*line)
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


def _store(store: StorePlan, out) -> None:
    if store.actions:
        how = (("cyan", f"{store.path} path"), f" - {store.reason}")
    elif store.changes or store.meta_changes:
        how = (("bold magenta", "nothing is sent"), f" - {store.reason}; these changes stay undone:")
    else:
        how = ("no changes",)
    out(("bold", store_title(store)), f" (id {store.remote_id} on {store.provider}): ", *how)
    for field in store.meta_changes:
        out("  ", ("yellow", f"~ store {field.field}"), f": {value(field.old)} -> {value(field.new)}")
    for change in store.changes:
        out("  ", (STYLE[change.op], f"{OP_SYMBOL[change.op]} {describe(change)}"))
    if store.actions:
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
    if store.actions:  # a store that sends nothing is refused nothing
        for violation in store.safety.violations:
            out("  ", ("bold red", f"safety: {violation}"))


def _summary(plan: Plan, shown: list[StorePlan]) -> list[tuple[Part, ...]]:
    """The last lines: what apply does, then what it leaves undone."""
    totals, unsent = plan.totals(), plan.unsent_stores
    lines: list[tuple[Part, ...]] = []
    if plan.changed_stores:
        settings = f"; {settings_phrase(totals)}" if totals["settings"] else ""
        lines.append((("bold", "Plan:"), f" {counts_phrase(totals, settings=False)} in "
                      f"{plural(totals['stores'], 'store')}; "
                      f"{plural(totals['requests'], 'request')}, {size(totals['bytes'])}{settings}."))
    elif unsent:
        lines.append((("bold", "Nothing to send."),))
    else:
        lines.append((("green", "No changes."), " The backends match the catalog."))
    if unsent:
        left = plan.totals(unsent)
        counts = counts_phrase(left, nonzero=True)
        names = ", ".join(store_title(s) for s in unsent[:10]) + (" ..." if len(unsent) > 10 else "")
        lines.append((("bold magenta", "Not sent:"), f" {counts} in {plural(left['stores'], 'store')} ({names}): "
                      "the backend cannot take these changes, so nothing is sent for them (see the notes above)."))
    noted = len(shown) - len(plan.changed_stores) - len(unsent)
    if noted:
        lines.append((f"{plural(noted, 'store has', 'stores have')} notes and no changes (above).",))
    return lines
