"""Renderings of a plan: text for a terminal, markdown for a PR comment, json for machines.

`render(Plan.merged(plans), ...)` renders the plans of a CI matrix's shards as one.
"""

from __future__ import annotations

from typing import Sequence

from ..plan import Plan
from .findings import DEFAULT_PRICE_ALERT
from .markdown import render_markdown
from .text import render_text

FORMATS = ("text", "markdown", "json")


def render(plan: Plan, fmt: str, color: bool = False, price_alert: float | None = None,
           full_plan: str | Sequence[str] | None = None, force: bool = False) -> str:
    """`plan` as `fmt`. `full_plan`: the plan file(s) the markdown's left-out note points
    to. `force`: --force was given, so crossed safety thresholds warn instead of refuse."""
    if fmt == "json":
        return plan.to_json()
    alert = DEFAULT_PRICE_ALERT if price_alert is None else price_alert
    if fmt == "markdown":
        return render_markdown(plan, full_plan=full_plan, price_alert=alert, force=force)
    return render_text(plan, color=color, price_alert=alert, force=force)
