"""The pull-request rendering: a refusal first when safety refuses the plan, the counts,
a table of the stores that change, what a reviewer must not miss (grouped across
stores), then each store's details folded; always under GitHub's comment limit.

The first line is a hidden marker, so CI can find and update its own comment instead of
adding a new one on every push. Every name comes from users or backends and goes through
`escape`: in markdown text and code spans with `md`, inside `<summary>` with `html`.

What does not fit is left out in the reverse order of its worth: stores' details first,
then rows of the table, then attention items; the last line says what was left out.
"""

from __future__ import annotations

from typing import Sequence

from ..plan import Plan, StorePlan
from .common import OP_WORD, cost_line, counts_phrase, plural, refusal, shown_stores, size, store_title, value
from .escape import html, md
from .findings import DEFAULT_PRICE_ALERT, Finding, Style, alerted, findings, percent, phrase

COMMENT_LIMIT = 65536
MARKER = "<!-- reconciler-plan -->"
_RESERVE = 1024  # room for the closing note about what was left out
_OPEN_ROWS = 10  # a longer table of stores is folded, so the findings stay on the first screen

MARKDOWN = Style(code=lambda s: md(s, code=True), text=md, label=lambda word: f"**{word}**")


class _Budget:
    """Takes blocks while they fit; counts what did not."""

    def __init__(self, limit: int):
        self.limit = limit - _RESERVE
        self.used = 0
        self.left_out: dict[str, int] = {}

    def take(self, block: str, kind: str | None = None) -> bool:
        """Room for `block` and its line break; `kind` None: taken whatever the room."""
        if kind is not None and self.used + len(block) + 1 > self.limit:
            self.left_out[kind] = self.left_out.get(kind, 0) + 1
            return False
        self.used += len(block) + 1
        return True


def render_markdown(plan: Plan, limit: int = COMMENT_LIMIT, price_alert: float = DEFAULT_PRICE_ALERT,
                    full_plan: str | Sequence[str] | None = None, force: bool = False) -> str:
    budget = _Budget(limit)
    shown = shown_stores(plan)
    found = findings(plan, price_alert)
    banner = refusal(plan, force)
    refused = ": refused by safety" if banner and not force else ""
    head = [MARKER, f"### Reconciler plan {md(plan.plan_id, code=True)}{refused}", ""]
    budget.take("\n".join(head))
    if banner:  # its lines are taken as they fit
        head += _banner(banner, [f for f in found if f.kind == "safety"], force, budget) + [""]
    rest = [f"_Note: {md(note)}_" for note in plan.notes] + [""] * bool(plan.notes) + _counts(plan, shown)
    budget.take("\n".join(rest))
    head += rest
    if not shown:
        return "\n".join(head) + "\n"
    head.append("")
    # Taken in the order of their worth, written in the order a reviewer reads.
    listed = [f for f in found if not (banner and f.kind == "safety")]  # the banner lists those
    attention = []
    if listed:
        attention = ["#### Needs attention", ""]
        budget.take("\n".join(attention))
        items = (f"- {phrase(finding, MARKDOWN)}" for finding in listed)
        attention += [item for item in items if budget.take(item, "attention items")] + [""]
    table = _table(plan.changed_stores, budget)
    details = [block for block in (_details(s, price_alert) for s in shown if s.actions or s.changes or s.meta_changes)
               if budget.take(block, "stores' details")]
    parts = head + table + attention + details
    if budget.left_out:
        parts.append(_left_out(budget.left_out, limit, full_plan))
    return "\n".join(parts) + "\n"


def _banner(sentence: str, safety: list[Finding], force: bool, budget: _Budget) -> list[str]:
    """A GitHub alert: red (caution) when refused, yellow (warning) when forced."""
    lines = ["> [!WARNING]" if force else "> [!CAUTION]", f"> **{md(sentence)}**", ">"]
    for finding in safety:
        line = f"> - {phrase(finding, MARKDOWN)}"
        if budget.take(line, "safety findings"):
            lines.append(line)
    return lines


def _bold(n: int) -> str:
    return f"**{n}**"


def _counts(plan: Plan, shown: list[StorePlan]) -> list[str]:
    """The summary sentences: what apply sends, what it cannot send, what else has notes."""
    changed, unsent = plan.changed_stores, plan.unsent_stores
    lines = []
    if changed:
        totals = plan.totals()
        unavailable = sum(1 for s in changed for m in s.availability_moves if not m.available)
        counts = counts_phrase(totals, _bold, unavailable=unavailable)
        lines.append(f"**{totals['stores']}** {'store changes' if totals['stores'] == 1 else 'stores change'}: "
                     f"{counts}; **{totals['requests']}** request{'s' * (totals['requests'] != 1)}, "
                     f"{size(totals['bytes'])}.")
    elif unsent:
        lines.append("**Nothing to send.**")
    else:
        lines.append("**No changes.** The backends match the catalog.")
    if unsent:
        left = plan.totals(unsent)
        lines.append(f"**Not sent:** {counts_phrase(left, _bold, nonzero=True)} in {plural(left['stores'], 'store')}: "
                     "the backend cannot take these changes, so nothing is sent for them (see the notes).")
    noted = len(shown) - len(changed) - len(unsent)
    if noted:
        lines.append(f"{plural(noted, 'store has', 'stores have')} notes and no changes.")
    paragraphs = []
    for line in lines:
        paragraphs += [line, ""]
    return paragraphs[:-1]


def _table(stores: list[StorePlan], budget: _Budget) -> list[str]:
    """One row per store apply sends requests to; folded when long."""
    if not stores:
        return []
    fold = len(stores) > _OPEN_ROWS
    top = ([f"<details><summary>All {len(stores)} stores that change</summary>", ""] if fold else []) + [
        "| backend | store | path | create | update | remove | availability | requests | bytes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    bottom = ["", "</details>", ""] if fold else [""]
    rows = []
    for store in stores:
        c = store.counts()
        row = (f"| {md(store.backend)} | {md(store.store)} | {store.path} | {c['create']} | {c['update']} | "
               f"{c['delete']} | {len(store.availability_moves)} | {store.requests} | {store.bytes} |")
        if not rows:  # the table's frame comes with its first row, or not at all
            if not budget.take("\n".join(top + bottom) + "\n" + row, "summary rows"):
                continue
            rows.append(row)
        elif budget.take(row, "summary rows"):
            rows.append(row)
    return top + rows + bottom if rows else []


def _details(store: StorePlan, price_alert: float) -> str:
    if store.actions:
        summary = f"{store.path} path, {cost_line(store)}"
    else:
        undone = len(store.changes) + bool(store.meta_changes)
        summary = f"nothing is sent, {plural(undone, 'change')} {'stays' if undone == 1 else 'stay'} undone"
    lines = [f"<details><summary>{html(store_title(store))}: {html(summary)}</summary>", "",
             f"Reason: {md(store.reason)}", ""]
    if store.unseen:
        owned = " (the store is declared owned)" if store.owned else ""
        lines += [f"Unseen contents: {md(store.unseen)}{owned}", ""]
    if store.actions and store.price_moves:
        lines += ["| price | name | old | new | change |", "|---|---|---:|---:|---:|"]
        for move in store.price_moves:
            flag = " **!**" if alerted(move.change, price_alert) else ""
            lines.append(f"| {md(move.key, code=True, cell=True)} | {md(move.name)} | {md(move.old or '')} | "
                         f"{md(move.new or '')} | {percent(move.change)}{flag} |")
        lines.append("")
    if store.actions and store.availability_moves:
        lines += ["| availability | name | after |", "|---|---|---|"]
        for move in store.availability_moves:
            lines.append(f"| {md(move.key, code=True, cell=True)} | {md(move.name)} | "
                         f"{'available' if move.available else '**unavailable**'} |")
        lines.append("")
    if not store.actions:
        lines += ["These changes are not sent:", ""]
    for field in store.meta_changes:
        lines.append(f"- **store setting** {md(field.field, code=True)}: {md(value(field.old), code=True)} -> "
                     f"{md(value(field.new), code=True)}")
    for change in store.changes:
        line = f"- **{OP_WORD[change.op]}** {md(change.key, code=True)}"
        if change.label and change.label != change.key:
            line += f" ({md(change.label)})"
        if change.op == "update":
            line += ": " + "; ".join(f"{md(f.field, code=True)} {md(value(f.old), code=True)} -> "
                                     f"{md(value(f.new), code=True)}" for f in change.fields)
        lines.append(line)
    notes = [md(w) for w in store.warnings]
    if store.actions:
        notes += [f"**safety** {md(v)}" for v in store.safety.violations]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _left_out(left_out: dict[str, int], limit: int, full_plan: str | Sequence[str] | None) -> str:
    what = ", ".join(f"{n} {kind}" for kind, n in left_out.items())
    files = [full_plan] if isinstance(full_plan, str) else list(full_plan or [])
    if files:
        where = ("the plan artifact " if len(files) == 1 else "in the plan artifacts ") + \
            ", ".join(md(f, code=True) for f in files[:10]) + (" ..." if len(files) > 10 else "")
        show = "it with `reconciler show PLANFILE`" if len(files) == 1 else "them with `reconciler show PLANFILE...`"
    else:
        where, show = "the plan artifact (`plan --out`)", "it with `reconciler show PLANFILE`"
    return (f"\n_Left out to stay under GitHub's {limit:,}-character limit: {what}. "
            f"The full plan is {where}; render {show}._")
