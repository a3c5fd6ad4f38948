"""The keyed diff: hashes first, field detail only for resources that differ."""

from __future__ import annotations

from reconciler import diff
from reconciler.diff import diff_resources


def test_create_update_delete_with_field_paths():
    desired = {"a": {"price": {"value": 950}, "status": "AVAILABLE"}, "b": {"name": "new"}}
    observed = {"a": {"price": {"value": 1000}, "status": "AVAILABLE"}, "c": {"name": "gone"}}
    changes = {c.key: c for c in diff_resources(desired, observed)}
    assert {k: c.op for k, c in changes.items()} == {"a": "update", "b": "create", "c": "delete"}
    assert [(f.field, f.old, f.new) for f in changes["a"].fields] == [("price.value", 1000, 950)]
    assert changes["a"].only_fields({"price"}) and not changes["a"].only_fields({"status"})


def test_list_changes_are_reported_by_index():
    (change,) = diff_resources({"g": {"subProducts": ["p1", "p2", "p3"]}}, {"g": {"subProducts": ["p1", "p2"]}})
    assert [(f.field, f.new) for f in change.fields] == [("subProducts[2]", "p3")]


def test_equal_resources_are_never_deep_diffed(monkeypatch):
    calls = []
    monkeypatch.setattr(diff, "field_changes", lambda old, new: calls.append(1) or [])
    resources = {f"p{i}": {"name": f"n{i}", "price": {"value": i}} for i in range(200)}
    observed = {k: dict(v) for k, v in resources.items()}
    observed["p7"] = {"name": "n7", "price": {"value": 8}}
    changes = diff_resources(resources, observed)
    assert [c.key for c in changes] == ["p7"]
    assert len(calls) == 1
