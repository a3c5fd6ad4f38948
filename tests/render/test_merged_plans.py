"""`show plan-1.json ... plan-8.json`: the shard plans of a CI matrix as one comment."""

from __future__ import annotations

import re

import pytest

from plan_review import assert_renders_safely, chain_plan, list_items, shown_tables
from reconciler.errors import PlanError
from reconciler.plan import Plan
from reconciler.planner import shard_of
from reconciler.render import render
from reconciler.render.markdown import COMMENT_LIMIT


def shards(plan: Plan, count: int) -> list[Plan]:
    """The plans `plan --shard I/N` makes: each the stores of its shard, each its own id."""
    return [plan.model_copy(update={
        "plan_id": f"{plan.plan_id}-{i}",
        "options": {**plan.options, "selector": {"shard": [f"{i}/{count}"]}},
        "stores": [s for s in plan.stores if shard_of(s.backend, s.store, count) == i],
    }) for i in range(1, count + 1)]


async def test_eight_shards_of_a_2000_store_chain_are_one_comment_under_the_limit(tmp_path):
    whole = await chain_plan(tmp_path / "p", stores=2000, soldout=1500)
    parts = shards(whole, 8)
    assert all(part.stores for part in parts)
    merged = Plan.merged(list(reversed(parts)))
    assert merged.plan_id == "+".join(p.plan_id for p in reversed(parts))
    assert [s.key for s in merged.stores] == [s.key for s in whole.stores]  # sorted by backend and store
    files = [f"plan-{i}.json" for i in range(1, 9)]
    text = render(merged, "markdown", full_plan=files)
    assert len(text) <= COMMENT_LIMIT
    assert_renders_safely(text)
    assert "**2000** stores change: **6000** to create" in text
    assert text.startswith("<!-- reconciler-plan -->\n### Reconciler plan `" + merged.plan_id + "`\n")
    assert "_Note: shown together: 8 plans (" in text and "apply each plan file on its own_" in text
    # Findings shared by all shards are said once, for all 2000 stores.
    attention = list_items(text)[0]
    assert attention[0].startswith("marks item2 (item 2) unavailable in 1500 stores of sg (")
    assert attention[0].endswith(" and 1490 more)")
    # What did not fit is counted, and the counts add up to every store.
    note = text.strip().splitlines()[-1]
    match = re.search(r"Left out to stay under GitHub's 65,536-character limit: (\d+) summary rows, (\d+) stores' "
                      r"details\. The full plan is in the plan artifacts `plan-1\.json`, .*`plan-8\.json`; render "
                      r"them with `reconciler show PLANFILE\.\.\.`", note)
    assert match, note
    rows = len(shown_tables(text)[0]) - 1
    assert rows + int(match.group(1)) == 2000
    assert text.count("<details><summary>sg / ") + int(match.group(2)) == 2000


def _plan(plan_id: str, stores: list[str], version: int = 1, **store: object) -> Plan:
    """A plan file's content, as `show` reads it; `store` overrides each store's fields."""
    safety = {"removed": 0, "unavailable": 0, "total": 1, "removed_share": 0, "unavailable_share": 0,
              "max_removed_share": 0.3, "max_unavailable_share": 0.3, "empties_store": False}
    return Plan.model_validate({
        "format_version": version, "plan_id": plan_id, "created_at": "2026-01-01T00:00:00+00:00",
        "tool_version": "0.1.0", "project": "chain",
        "stores": [{"backend": "sg", "provider": "dstore", "store": s, "remote_id": s, "path": "none",
                    "reason": "no changes", "full_cost": {"requests": 1, "bytes": 10}, "desired_fingerprint": "d",
                    "observed_fingerprint": "o", "observed_source": "state", "base_serial": 1, "safety": safety,
                    **store} for s in stores]})


def test_plans_that_share_a_store_or_a_format_are_not_merged():
    with pytest.raises(PlanError, match=r"sg/b is in plan p1 and in plan p2; the plans to show together must cover "
                                        r"different stores"):
        Plan.merged([_plan("p1", ["a", "b"]), _plan("p2", ["b", "c"])])
    with pytest.raises(PlanError, match=r"different format versions \(1, 2\)"):
        Plan.merged([_plan("p1", ["a"]), _plan("p2", ["b"], version=2)])
    with pytest.raises(PlanError, match="no plan files"):
        Plan.merged([])
    one = _plan("p1", ["a"])
    assert Plan.merged([one]) is one


def test_a_merged_plan_is_refused_when_any_shard_is():
    empties = "would remove all 1 products and leave the store empty"
    refused = _plan("p2", ["b"], path="full", reason="--full was given", actions=[
        {"index": 0, "kind": "sync", "summary": "sync", "method": "POST", "path": "/", "body": {}, "bytes": 2,
         "idempotency_key": "k", "effect": {"replace": True}}],
        safety={**_plan("x", ["x"]).stores[0].safety.model_dump(), "violations": [empties]})
    merged = Plan.merged([refused, _plan("p1", ["a"])])
    assert merged.safety_violations() and [s.store for s in merged.stores] == ["a", "b"]
    text = render(merged, "markdown")
    assert text.splitlines()[1] == "### Reconciler plan `p2+p1`: refused by safety"
    assert f"> - **safety** sg / b: {empties}" in text
