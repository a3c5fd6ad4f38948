"""Observations in the state store and how planning uses them, whatever the backend."""

from __future__ import annotations

from types import SimpleNamespace

from project_runner import copy_example
from reconciler.planner import _observed_from_state, _with_owned_fields
from reconciler.provider import DesiredStore, Observed
from reconciler.state import open_state


def test_observations_merge_per_key_and_are_cleared_by_key_or_store(state_url, tmp_path):
    state = open_state(state_url, tmp_path)
    state.record_observation("b", "st", "x", {"stock": "7"}, "2026-01-01 10:00:00", "webhook")
    state.record_observation("b", "st", "x", {"price": "2"}, "2026-01-01 10:01:00", "webhook")
    state.record_observation("b", "st", "y", {"stock": "1"}, "2026-01-01 10:02:00", "webhook")
    state.record_observation("b", "other", "x", {"stock": "3"}, "2026-01-01 10:02:00", "webhook")
    [x, y] = state.observations("b", "st")
    assert (x.key, x.fields, x.observed_at, x.source) == ("x", {"stock": "7", "price": "2"}, "2026-01-01 10:01:00", "webhook")
    state.clear_observations("b", "st", ["x"])
    assert [o.key for o in state.observations("b", "st")] == ["y"]
    state.clear_observations("b", "st", None)
    assert state.observations("b", "st") == [] and len(state.observations("b", "other")) == 1
    state.close()
    reopened = open_state(state_url, tmp_path)  # CREATE TABLE IF NOT EXISTS on an existing store
    assert len(reopened.observations("b", "other")) == 1
    reopened.close()


def test_observations_overlay_the_snapshot_and_name_their_source(state_url, tmp_path):
    state = open_state(state_url, tmp_path)
    state.record("b", "st", "r1", {}, {"x": {"stock": "12", "name": "X"}}, "fp", 0, "p1", 0, "sync", 10)
    row = state.get("b", "st")
    assert _observed_from_state(row, state.observations("b", "st")).source == "state"
    state.record_observation("b", "st", "x", {"stock": "7"}, "now", "webhook")
    state.record_observation("b", "st", "ghost", {"stock": "1"}, "now", "webhook")  # never applied: not shown
    observed = _observed_from_state(row, state.observations("b", "st"))
    assert observed.source == "state+webhooks"
    assert observed.resources == {"x": {"stock": "7", "name": "X"}}
    state.close()


def test_owned_fields_take_the_trusted_backend_value_never_a_webhooks():
    provider = SimpleNamespace(owned_fields=("stock",))
    desired = DesiredStore({}, {"x": {"stock": "12", "name": "X"}, "new": {"stock": "1", "name": "N"}})
    live = Observed({}, {"x": {"stock": "7", "name": "Old"}}, "live")
    notes: list[str] = []
    effective = _with_owned_fields(provider, "pos", desired, live, None, notes)
    assert effective.resources == {"x": {"stock": "7", "name": "X"}, "new": {"stock": "1", "name": "N"}}
    assert notes == ["stock of x is 7 in pos (catalog says 12); owned by the backend, left as is"]
    # A webhook's report is unverified: the last applied value stays the desired one.
    applied = SimpleNamespace(resources={"x": {"stock": "9", "name": "Old"}})
    reported = Observed({}, {"x": {"stock": "7", "name": "Old"}}, "state+webhooks")
    effective = _with_owned_fields(provider, "pos", desired, reported, applied, [])
    assert effective.resources["x"] == {"stock": "9", "name": "X"}
    git_owns = _with_owned_fields(SimpleNamespace(owned_fields=()), "pos", desired, live, None, [])
    assert git_owns is desired


def test_owned_fields_is_an_engine_key_not_a_provider_setting(tmp_path):
    project = copy_example("tipsi-wine-shop", tmp_path)
    project.edit("reconciler.yaml", "emulator_seed: tipsi-seed.json}", "emulator_seed: tipsi-seed.json, owned_fields: [in_stock]}")
    assert project.run("validate").exit_code == 0
    assert project.run("apply", "--auto-approve").exit_code == 0
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
