"""Apply: stores in parallel (bounded per backend), actions in order within a store.

After each successful request the state store records the new snapshot, so a crash or
a failure leaves the state claiming exactly what happened, and re-applying the same plan
resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from aiolimiter import AsyncLimiter

from .errors import BackendError, OutcomeUnknown, ReconcilerError
from .fingerprint import snapshot_fingerprint
from .plan import Action, Plan, StorePlan
from .provider import Provider
from .state import StateStore, StoreState

log = logging.getLogger("reconciler.apply")

LEASE = timedelta(minutes=10)


@dataclass
class StoreResult:
    backend: str
    store: str
    status: str  # applied | failed | unknown | locked | skipped
    requests: int = 0
    message: str = ""
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "skipped")


Listener = Callable[[StorePlan, Action | None, str], None]


@dataclass
class _Limits:
    """Per backend: how many stores at once, and how many requests per second."""

    stores: asyncio.Semaphore
    rate: AsyncLimiter | None

    @classmethod
    def of(cls, provider: Provider) -> "_Limits":
        settings = provider.settings
        concurrency = getattr(settings, "concurrency", None) or provider.max_concurrency
        rate = getattr(settings, "rate_limit", None)
        # A bucket of one second's requests (at least one), refilled at `rate` per second.
        limiter = AsyncLimiter(max(1.0, rate), max(1.0, rate) / rate) if rate else None
        return cls(asyncio.Semaphore(concurrency), limiter)

    async def request(self) -> None:
        if self.rate is not None:
            await self.rate.acquire()


async def apply_plan(
    plan: Plan,
    providers: dict[str, Provider],
    state: StateStore,
    owner: str,
    listener: Listener | None = None,
) -> list[StoreResult]:
    stores = plan.changed_stores
    limits = {name: _Limits.of(p) for name, p in providers.items()}
    used = {s.backend for s in stores}
    for name in used:
        await providers[name].open()
    try:
        results = list(await asyncio.gather(*(
            _apply_store(plan, store, providers[store.backend], state, owner, limits[store.backend], listener)
            for store in stores
        )))
    finally:
        for name in used:
            await providers[name].close()
    if any(r.requests for r in results):
        try:  # bodies the old snapshots held; a failure here loses nothing
            state.prune()
        except ReconcilerError:
            log.warning("could not prune unreferenced resource bodies from the state", exc_info=True)
    return results


def _start_index(plan: Plan, store: StorePlan, row: StoreState | None) -> tuple[int, str | None]:
    """Where to start in this store's actions, or why not to start at all."""
    if row is not None and row.plan_id == plan.plan_id:
        start = (row.action_index if row.action_index is not None else -1) + 1
        if row.unknown and start < len(store.actions) and not store.actions[start].retry_safe:
            return 0, ("the outcome of action %d is unknown and it is not safe to re-send; "
                       "make a new plan (it takes the full path)" % start)
        return start, None
    return 0, None


async def _apply_store(plan: Plan, store: StorePlan, provider: Provider, state: StateStore, owner: str,
                       limit: _Limits, listener: Listener | None) -> StoreResult:
    result = StoreResult(store.backend, store.store, "applied")
    notify = listener or (lambda *_: None)
    async with limit.stores:
        held = state.acquire(store.backend, store.store, owner, LEASE)
        if held is not None:
            result.status = "locked"
            result.message = f"locked by {held.owner} until {held.expires_at}"
            notify(store, None, "locked")
            return result
        # Renewing after each action is not enough when one request (a large full sync
        # behind retries and backoff) takes longer than the lease: renew on a timer too.
        keeper = asyncio.create_task(_keep_lease(state, store.backend, store.store, owner))
        try:
            row = state.get(store.backend, store.store)
            start, refusal = _start_index(plan, store, row)
            if refusal:
                result.status, result.message = "failed", refusal
                notify(store, None, "failed")
                return result
            if start >= len(store.actions):
                result.status, result.message = "skipped", "already applied by this plan"
                notify(store, None, "skipped")
                return result
            meta = dict(row.meta) if row else {}
            resources = dict(row.resources) if row else {}
            serial = row.serial if row else 0
            for action in store.actions[start:]:
                notify(store, action, "sending")
                # Written before the request leaves: if this process dies before the answer
                # is recorded, the mark stays and the next reader treats the store as unknown.
                await limit.request()  # before the mark: waiting here sends nothing
                state.mark_in_flight(store.backend, store.store, store.remote_id, plan.plan_id,
                                     action.index, action.kind)
                try:
                    response = await provider.execute(store, action)
                except OutcomeUnknown as exc:
                    state.mark_unknown(store.backend, store.store, store.remote_id, str(exc), plan.plan_id, action.index)
                    result.status, result.message = "unknown", f"action {action.index} ({action.kind}): {exc}"
                    notify(store, action, "unknown")
                    return result
                except BackendError as exc:
                    # A definite refusal: the backend did not take it, so nothing is in flight.
                    state.clear_in_flight(store.backend, store.store)
                    result.status, result.message = "failed", f"action {action.index} ({action.kind}): {exc}"
                    notify(store, action, "failed")
                    return result
                result.requests += 1
                result.responses.append(response)
                if action.effect.replace:
                    resources = {}
                for key in action.effect.remove:
                    resources.pop(key, None)
                for key in action.effect.set:
                    resources[key] = store.resources[key]
                if action.effect.meta or action.effect.replace:
                    meta = dict(store.desired_meta)
                serial = state.record(
                    store.backend, store.store, store.remote_id, meta, resources,
                    snapshot_fingerprint(meta, resources), serial,
                    plan.plan_id, action.index, action.kind, action.bytes,
                )
                # The backend now holds what this action sent: reports from before it are superseded.
                state.clear_observations(store.backend, store.store,
                                         None if action.effect.replace else list(action.effect.set))
                state.renew(store.backend, store.store, owner, LEASE)
                notify(store, action, "done")
            return result
        except ReconcilerError as exc:
            result.status, result.message = "failed", str(exc)
            notify(store, None, "failed")
            return result
        finally:
            keeper.cancel()
            state.release(store.backend, store.store, owner)


async def _keep_lease(state: StateStore, backend: str, store: str, owner: str,
                      every: float | None = None) -> None:
    """Renew the lease every third of its length while the store's apply runs."""
    interval = every if every is not None else LEASE.total_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        try:
            state.renew(backend, store, owner, LEASE)
        except Exception:  # a failed renewal is retried at the next tick; the apply goes on
            log.warning("could not renew the lease of %s/%s", backend, store, exc_info=True)
