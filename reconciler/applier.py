"""Apply: stores in parallel (bounded per backend), actions in order within a store.

A store's actions are sent only under its lease, and only if the store's state row is
still the one the plan was made from (its serial and generation), or the same plan is
being resumed (the row remembers the digest of the store plan it started): two applies
that overlap on a store never both send, whatever order their leases come in.

After each successful request the state store records the new snapshot, so a crash or
a failure leaves the state claiming exactly what happened, and re-applying the same plan
resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from aiolimiter import AsyncLimiter

from .errors import BackendError, OutcomeUnknown, ReconcilerError
from .fingerprint import encode_body, snapshot_fingerprint
from .plan import Action, Plan, StorePlan
from .provider import Provider
from .state import Lock, StateStore, StoreState
from .state.writer import StateWriter

log = logging.getLogger("reconciler.apply")

LEASE = timedelta(minutes=10)


@dataclass
class StoreResult:
    backend: str
    store: str
    status: str  # applied | failed | unknown | locked | stale | interrupted | skipped
    requests: int = 0
    message: str = ""
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "skipped")


Listener = Callable[[StorePlan, Action | None, str], None]


class Interruption:
    """Ctrl-C during an apply. The first asks every store to stop before its next request
    (requests in flight finish and are recorded); the second abandons what is in flight:
    those stores are marked unknown (the backend may have taken the request), so the next
    plan takes the full path for them. Either way nothing is left claiming what did not
    happen, and applying again resumes."""

    def __init__(self) -> None:
        self.stopping = False
        self.abandoned = False
        self._tasks: list[asyncio.Task] = []

    def stop(self) -> None:
        self.stopping = True

    def abandon(self) -> None:
        self.stopping = self.abandoned = True
        for task in self._tasks:
            task.cancel()


@dataclass
class _Limits:
    """Per backend: how many stores at once, and how many requests per second."""

    stores: asyncio.Semaphore
    rate: AsyncLimiter | None

    @classmethod
    def of(cls, provider: Provider, parallelism: int | None = None) -> "_Limits":
        settings = provider.settings
        concurrency = parallelism or getattr(settings, "concurrency", None) or provider.max_concurrency
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
    lock_timeout: float = 0.0,
    parallelism: int | None = None,
    interruption: Interruption | None = None,
) -> list[StoreResult]:
    """Apply every changed store of `plan`. A store whose lease another apply holds is
    waited for up to `lock_timeout` seconds, then reported locked. `parallelism` overrides
    every backend's `concurrency` (stores at once)."""
    stores = plan.changed_stores
    limits = {name: _Limits.of(p, parallelism) for name, p in providers.items()}
    interruption = interruption or Interruption()
    used = {s.backend for s in stores}
    writer = StateWriter(state)
    for name in used:
        await providers[name].open()
    try:
        interruption._tasks = [asyncio.create_task(_apply_store(
            plan, store, providers[store.backend], writer, owner, limits[store.backend], listener, lock_timeout,
            interruption)) for store in stores]
        results = list(await asyncio.gather(*interruption._tasks))
    finally:
        writer.close()
        for name in used:
            await providers[name].close()
    if any(r.requests for r in results):
        try:  # bodies the old snapshots held; a failure here loses nothing
            state.prune()
        except ReconcilerError:
            log.warning("could not prune unreferenced resource bodies from the state", exc_info=True)
    return results


def _stale(plan: Plan, store: StorePlan, digest: str, row: StoreState | None) -> str | None:
    """Why the store's row is no longer the one this plan was made from, if it is not.

    Checked under the lease, so nothing can move the row between this check and the
    sends. A row of this same plan is a resume, allowed only for the same store plan.
    """
    if row is not None and row.plan_id == plan.plan_id:
        if row.plan_digest is not None and row.plan_digest != digest:
            return ("this plan was started for this store with other actions than the ones given now "
                    "(was the plan file edited?); nothing was sent. Make a new plan")
        return None
    serial, generation = (row.serial, row.generation) if row is not None else (0, 0)
    if (serial, generation) != (store.base_serial, store.base_generation):
        return (f"changed since this plan was made (state serial {store.base_serial} -> {serial}"
                + (f", last written by plan {row.plan_id}" if row is not None and row.plan_id else "")
                + "); nothing was sent for it. Plan again")
    return None


async def _acquire(writer: StateWriter, store: StorePlan, owner: str, timeout: float) -> Lock | None:
    """Take the store's lease, waiting up to `timeout` seconds for another apply to let go;
    the live lock someone else still holds after that, or None."""
    deadline = time.monotonic() + timeout
    while True:
        held = await writer.call(store.key, lambda: writer.state.acquire(store.backend, store.store, owner, LEASE))
        left = deadline - time.monotonic()
        if held is None or left <= 0:
            return held
        # A little jitter keeps many waiting stores from polling the state in step.
        await asyncio.sleep(min(left, 0.5 + random.random() * 0.5))


def _start_index(plan: Plan, store: StorePlan, row: StoreState | None) -> tuple[int, str | None]:
    """Where to start in this store's actions, or why not to start at all."""
    if row is not None and row.plan_id == plan.plan_id:
        start = (row.action_index if row.action_index is not None else -1) + 1
        if row.unknown and start < len(store.actions) and not store.actions[start].retry_safe:
            return 0, ("the outcome of action %d is unknown and it is not safe to re-send; "
                       "make a new plan (it takes the full path)" % start)
        return start, None
    return 0, None


async def _apply_store(plan: Plan, store: StorePlan, provider: Provider, writer: StateWriter, owner: str,
                       limit: _Limits, listener: Listener | None, lock_timeout: float = 0.0,
                       interruption: Interruption | None = None) -> StoreResult:
    result = StoreResult(store.backend, store.store, "applied")
    notify = listener or (lambda *_: None)
    interruption = interruption or Interruption()
    try:
        async with limit.stores:
            if interruption.stopping:
                return _interrupted(result, store, 0, notify)
            held = await _acquire(writer, store, owner, lock_timeout)
            if held is not None:
                result.status = "locked"
                result.message = f"locked by {held.owner} until {held.expires_at}"
                notify(store, None, "locked")
                return result
            try:
                return await _apply_actions(plan, store, provider, writer, owner, limit, notify, interruption,
                                            result)
            finally:
                await writer.call(store.key, lambda: writer.state.release(store.backend, store.store, owner))
    except asyncio.CancelledError:
        # Abandoned before a request left (waiting for a slot, the lease or the rate limit).
        return _interrupted(result, store, result.requests, notify)


def _interrupted(result: StoreResult, store: StorePlan, done: int, notify: Listener) -> StoreResult:
    result.status = "interrupted"
    result.message = (f"stopped by Ctrl-C after {done} of {len(store.actions)} actions; nothing is in flight. "
                      "Applying again resumes")
    notify(store, None, "interrupted")
    return result


async def _apply_actions(plan: Plan, store: StorePlan, provider: Provider, writer: StateWriter, owner: str,
                         limit: _Limits, notify: Listener, interruption: Interruption,
                         result: StoreResult) -> StoreResult:
    """A store's actions in order, under its lease."""
    state, key = writer.state, store.key
    # Renewing after each action is not enough when one request (a large full sync
    # behind retries and backoff) takes longer than the lease: renew on a timer too.
    keeper = asyncio.create_task(_keep_lease(writer, store, owner))
    try:
        row = await writer.call(key, lambda: state.get(store.backend, store.store))
        digest = store.digest()
        stale = _stale(plan, store, digest, row)
        if stale:
            result.status, result.message = "stale", stale
            notify(store, None, "stale")
            return result
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
            if interruption.stopping:
                return _interrupted(result, store, action.index, notify)
            notify(store, action, "sending")
            await limit.request()  # before the mark: waiting here sends nothing
            # Durable before the request leaves: if this process dies before the answer is
            # recorded, the mark stays and the next reader treats the store as unknown.
            await writer.call(key, lambda: state.mark_in_flight(
                store.backend, store.store, store.remote_id, plan.plan_id, action.index, action.kind, digest))
            try:
                response = await provider.execute(store, action)
            except OutcomeUnknown as exc:
                await writer.call(key, lambda: state.mark_unknown(
                    store.backend, store.store, store.remote_id, str(exc), plan.plan_id, action.index))
                result.status, result.message = "unknown", f"action {action.index} ({action.kind}): {exc}"
                notify(store, action, "unknown")
                return result
            except BackendError as exc:
                # A definite refusal: the backend did not take it, so nothing is in flight.
                await writer.call(key, lambda: state.clear_in_flight(store.backend, store.store))
                result.status, result.message = "failed", f"action {action.index} ({action.kind}): {exc}"
                notify(store, action, "failed")
                return result
            except asyncio.CancelledError:
                reason = f"abandoned by Ctrl-C while action {action.index} ({action.kind}) was in flight"
                await writer.call(key, lambda: state.mark_unknown(
                    store.backend, store.store, store.remote_id, reason, plan.plan_id, action.index))
                result.status, result.message = "unknown", (f"{reason}; whether the backend took it is unknown, "
                                                             "so the next plan takes the full path")
                notify(store, action, "unknown")
                return result
            result.requests += 1
            result.responses.append(response)
            if action.effect.replace:
                resources = {}
            for name in action.effect.remove:
                resources.pop(name, None)
            for name in action.effect.set:
                resources[name] = store.resources[name]
            if action.effect.meta or action.effect.replace:
                meta = dict(store.desired_meta)
            serial = await writer.call(key, functools.partial(
                _record, state, plan, store, action, meta, dict(resources), serial))
            notify(store, action, "done")
        return result
    except ReconcilerError as exc:
        result.status, result.message = "failed", str(exc)
        notify(store, None, "failed")
        return result
    finally:
        keeper.cancel()


def _record(state: StateStore, plan: Plan, store: StorePlan, action: Action, meta: dict, resources: dict,
            serial: int) -> int:
    """After a successful request: the new snapshot, and the backend's reports it supersedes."""
    serial = state.record(
        store.backend, store.store, store.remote_id, meta, resources, snapshot_fingerprint(meta, resources),
        serial, plan.plan_id, action.index, action.kind, action.bytes,
        hashlib.sha256(encode_body(action.body)).hexdigest(),
    )
    state.clear_observations(store.backend, store.store, None if action.effect.replace else list(action.effect.set))
    return serial


async def _keep_lease(writer: StateWriter, store: StorePlan, owner: str, every: float | None = None) -> None:
    """Renew the lease every third of its length while the store's apply runs."""
    interval = every if every is not None else LEASE.total_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        try:
            await writer.call(store.key, lambda: writer.state.renew(store.backend, store.store, owner, LEASE))
        except Exception:  # a failed renewal is retried at the next tick; the apply goes on
            log.warning("could not renew the lease of %s/%s", store.backend, store.store, exc_info=True)
