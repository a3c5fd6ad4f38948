"""The pull-request rendering: summary first, risky changes next, details folded, and
always under GitHub's comment limit."""

from __future__ import annotations

from ..plan import Plan, StorePlan
from .common import OP_SYMBOL, OP_WORD, cost_line, describe, size, store_title

COMMENT_LIMIT = 65536
MARKER = "<!-- reconciler-plan -->"
_RESERVE = 2048  # room for the closing note about what was left out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, limit: int = COMMENT_LIMIT) -> str:
    parts: list[str] = [MARKER, f"### Reconciler plan `{plan.plan_id}`", ""]
    changed = plan.changed_stores
    if not changed:
        parts.append("**No changes.** The backends match the catalog.")
        return "\n".join(parts) + "\n"
    totals = plan.totals()
    parts.append(
        f"**{totals['create']}** to create, **{totals['update']}** to update, **{totals['delete']}** to remove "
        f"in **{totals['stores']}** store(s); **{totals['requests']}** request(s), {size(totals['bytes'])}."
    )
    parts += ["", "| backend | store | path | create | update | remove | requests | bytes |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    for store in changed:
        c = store.counts()
        parts.append(f"| {_cell(store.backend)} | {_cell(store.store)} | {store.path} | {c['create']} | "
                     f"{c['update']} | {c['delete']} | {store.requests} | {store.bytes} |")
    risky = _risky(changed)
    if risky:
        parts += ["", "#### Needs attention", ""] + [f"- {line}" for line in risky]
    head = "\n".join(parts) + "\n"
    budget = limit - len(head) - _RESERVE
    details: list[str] = []
    left_out = 0
    for store in changed:
        block = _details(store)
        if len(block) + 1 > budget:
            left_out += 1
            continue
        details.append(block)
        budget -= len(block) + 1
    text = head + "\n" + "\n".join(details)
    if left_out:
        text += (f"\n_{left_out} store(s) left out of this comment to stay under GitHub's "
                 f"{limit:,}-character limit; the full plan is in the plan artifact (`reconciler show`)._\n")
    return text


def _risky(stores: list[StorePlan]) -> list[str]:
    lines = []
    for store in stores:
        title = _cell(store_title(store))
        for violation in store.safety.violations:
            lines.append(f"**safety** {title}: {violation}")
        removed = [c.key for c in store.changes if c.op == "delete"]
        if removed:
            lines.append(f"{title}: removes {len(removed)}: " + ", ".join(f"`{k}`" for k in removed[:20])
                         + (" ..." if len(removed) > 20 else ""))
        soldout = [c.key for c in store.changes if c.op == "update"
                   and any(f.field == "status" and f.new == "SOLDOUT" for f in c.fields)]
        if soldout:
            lines.append(f"{title}: marks SOLDOUT: " + ", ".join(f"`{k}`" for k in soldout[:20])
                         + (" ..." if len(soldout) > 20 else ""))
        if store.path == "full":
            lines.append(f"{title}: full path ({store.reason})")
        for warning in store.warnings:
            lines.append(f"{title}: {warning}")
    return lines


def _details(store: StorePlan) -> str:
    lines = [f"<details><summary>{store_title(store)}: {store.path} path, {cost_line(store)}</summary>", "",
             f"Reason: {store.reason}", ""]
    for field in store.meta_changes:
        lines.append(f"- ~ store `{field.field}`: {field.old} -> {field.new}")
    for change in store.changes:
        lines.append(f"- {OP_SYMBOL[change.op]} {OP_WORD[change.op]} `{describe(change)}`")
    lines += ["", "</details>", ""]
    return "\n".join(lines)
