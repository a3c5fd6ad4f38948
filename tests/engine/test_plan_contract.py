"""The JSON plan is a contract: its schema only changes on purpose."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.plan import FORMAT_VERSION, Plan
from reconciler.schema import plan_schema

SNAPSHOT = Path(__file__).with_name(f"plan-schema-v{FORMAT_VERSION}.json")


def test_plan_schema_matches_the_published_one():
    published = json.loads(SNAPSHOT.read_text())
    assert plan_schema() == published, (
        "the JSON plan schema changed. If only optional fields were added, update "
        f"{SNAPSHOT.name} (`reconciler schema plan`); otherwise bump FORMAT_VERSION too."
    )


def test_a_plan_round_trips_through_json(dstore_examples):
    result = dstore_examples.run("plan", "--format", "json")
    plan = Plan.from_json(result.output, "stdout")
    assert json.loads(plan.to_json()) == json.loads(result.output)
