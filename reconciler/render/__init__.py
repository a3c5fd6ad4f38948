"""Renderings of a plan: text for a terminal, markdown for a PR comment, json for machines."""

from __future__ import annotations

from ..plan import Plan
from .markdown import render_markdown
from .text import render_text

FORMATS = ("text", "markdown", "json")


def render(plan: Plan, fmt: str, color: bool = False, price_alert: float | None = None,
           full_plan: str | None = None) -> str:
    if fmt == "json":
        return plan.to_json()
    if fmt == "markdown":
        kwargs = {"price_alert": price_alert} if price_alert is not None else {}
        return render_markdown(plan, full_plan=full_plan, **kwargs)
    return render_text(plan, color=color)
