"""`apply --refresh-only`: record what the backends hold into the state, as Terraform does.

After a person has read the drift report (`plan --refresh-only`, shown again by the
command) and agreed that the backends are right, exactly what the report showed becomes
the last applied snapshot: live reads where a backend can be read, the webhook reports
laid over the snapshot otherwise. Nothing is sent to any backend. Each store is written
under its lease and only if its state row is still the one the report was made from;
the reports it took in are then cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .drift import DriftReport
from .fingerprint import snapshot_fingerprint
from .planner import new_plan_id
from .state import StateStore


@dataclass(frozen=True)
class Refreshed:
    backend: str
    store: str
    status: str  # recorded | stale | locked
    message: str = ""


def refresh_state(state: StateStore, report: DriftReport, owner: str, lease: timedelta) -> list[Refreshed]:
    """Record the observed state of every drifted store of `report`."""
    plan_id = "refresh-" + new_plan_id()
    out: list[Refreshed] = []
    for drift in report.drifted:
        row, observed = drift.row, drift.observed
        held = state.acquire(drift.backend, drift.store, owner, lease)
        if held is not None:
            out.append(Refreshed(drift.backend, drift.store, "locked", f"locked by {held.owner} until {held.expires_at}"))
            continue
        try:
            now = state.get(drift.backend, drift.store)
            if now is None or (now.serial, now.generation) != (row.serial, row.generation):
                out.append(Refreshed(drift.backend, drift.store, "stale",
                                     "changed since the report was made; nothing recorded. Run it again"))
                continue
            meta = {**row.meta, **observed.meta}  # a backend that reads no store fields keeps the recorded ones
            state.record(drift.backend, drift.store, row.remote_id, meta, observed.resources,
                         snapshot_fingerprint(meta, observed.resources), row.serial, plan_id, 0, "refresh-only", 0)
            state.clear_observations(drift.backend, drift.store, None)
            out.append(Refreshed(drift.backend, drift.store, "recorded"))
        finally:
            state.release(drift.backend, drift.store, owner)
    return out
