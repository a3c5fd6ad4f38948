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
from .fingerprint import encode_body, resource_hash, snapshot_fingerprint
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


@dataclass
class _Opening:
    """What taking a store's lease found: someone else's lock, a reason to send nothing
    (the lease is already let go), or where to start, with that action marked in flight."""

    held: Lock | None = None
    status: str = ""  # stale | failed | skipped, when nothing is sent
    message: str = ""
    row: StoreState | None = None
    start: int = 0


def _open(state: StateStore, plan: Plan, store: StorePlan, owner: str, digest: str, mark: bool) -> _Opening:
    """One state transaction: the lease, the row, the checks, and the first mark."""
    held = state.acquire(store.backend, store.store, owner, LEASE)
    if held is not None:
        return _Opening(held=held)
    row = state.get(store.backend, store.store)
    stale = _stale(plan, store, digest, row)
    start, refusal = _start_index(plan, store, row)
    if stale or refusal or start >= len(store.actions):
        state.release(store.backend, store.store, owner)
        if stale:
            return _Opening(status="stale", message=stale)
        if refusal:
            return _Opening(status="failed", message=refusal)
        return _Opening(status="skipped", message="already applied by this plan")
    if mark:
        _mark(state, plan, store, store.actions[start], digest)
    return _Opening(row=row, start=start)


def _mark(state: StateStore, plan: Plan, store: StorePlan, action: Action, digest: str) -> None:
    """Durable before the request leaves: if this process dies before the answer is
    recorded, the mark stays and the next reader treats the store as unknown."""
    state.mark_in_flight(store.backend, store.store, store.remote_id, plan.plan_id, action.index, action.kind, digest)


async def _acquire(writer: StateWriter, plan: Plan, store: StorePlan, owner: str, digest: str, mark: bool,
                   timeout: float) -> _Opening:
    """Open the store, waiting up to `timeout` seconds for another apply to let go of it."""
    deadline = time.monotonic() + timeout
    while True:
        opening = await writer.call(store.key, functools.partial(_open, writer.state, plan, store, owner, digest, mark))
        left = deadline - time.monotonic()
        if opening.held is None or left <= 0:
            return opening
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
    state, key = writer.state, store.key
    digest = store.digest()
    opened = False
    try:
        async with limit.stores:
            if interruption.stopping:
                return _interrupted(result, store, 0, notify)
            # With a rate limit the first mark waits for a token; without, it is written with the lease.
            opening = await _acquire(writer, plan, store, owner, digest, limit.rate is None, lock_timeout)
            if opening.held is not None:
                result.status = "locked"
                result.message = f"locked by {opening.held.owner} until {opening.held.expires_at}"
                notify(store, None, "locked")
                return result
            if opening.status:
                result.status, result.message = opening.status, opening.message
                notify(store, None, opening.status)
                return result
            opened = True
            result = await _apply_actions(plan, store, provider, writer, owner, limit, notify, interruption,
                                          result, opening, digest)
            opened = False  # the last write let the lease go
            return result
    except asyncio.CancelledError:
        # Abandoned before a request left (waiting for a slot, the lease or the rate limit).
        return _interrupted(result, store, result.requests, notify)
    finally:
        if opened:
            await writer.call(key, lambda: state.release(store.backend, store.store, owner))


def _interrupted(result: StoreResult, store: StorePlan, done: int, notify: Listener) -> StoreResult:
    result.status = "interrupted"
    result.message = (f"stopped by Ctrl-C after {done} of {len(store.actions)} actions; nothing is in flight. "
                      "Applying again resumes")
    notify(store, None, "interrupted")
    return result


async def _apply_actions(plan: Plan, store: StorePlan, provider: Provider, writer: StateWriter, owner: str,
                         limit: _Limits, notify: Listener, interruption: Interruption, result: StoreResult,
                         opening: _Opening, digest: str) -> StoreResult:
    """A store's actions in order, under its lease: one state write per request (the record of
    one and the mark of the next together), and the lease let go with the last."""
    state, key = writer.state, store.key
    # Renewing after each action is not enough when one request (a large full sync
    # behind retries and backoff) takes longer than the lease: renew on a timer too.
    keeper = asyncio.create_task(_keep_lease(writer, store, owner))
    row = opening.row
    meta = dict(row.meta) if row else {}
    resources = dict(row.resources) if row else {}
    # Kept beside the resources, so a record never hashes the whole store again.
    hashes = (dict(row.resource_hashes) if row and row.resource_hashes.keys() == resources.keys()
              else resource_hash.many(resources))
    serial = row.serial if row else 0
    marked = limit.rate is None  # the first action's mark went with the lease
    try:
        for action in store.actions[opening.start:]:
            if interruption.stopping:
                if marked:  # marked, but never sent
                    await writer.call(key, lambda: state.clear_in_flight(store.backend, store.store))
                return _interrupted(result, store, action.index, notify)
            notify(store, action, "sending")
            if not marked:
                await limit.request()  # before the mark: waiting here sends nothing
                await writer.call(key, functools.partial(_mark, state, plan, store, action, digest))
            marked = False
            try:
                response = await provider.execute(store, action)
            except OutcomeUnknown as exc:
                await writer.call(key, functools.partial(_close, state, store, owner,
                                                         unknown=(str(exc), plan, action)))
                result.status, result.message = "unknown", f"action {action.index} ({action.kind}): {exc}"
                notify(store, action, "unknown")
                return result
            except BackendError as exc:
                # A definite refusal: the backend did not take it, so nothing is in flight.
                await writer.call(key, lambda: _close(state, store, owner, refused=True))
                result.status, result.message = "failed", f"action {action.index} ({action.kind}): {exc}"
                notify(store, action, "failed")
                return result
            except asyncio.CancelledError:
                reason = f"abandoned by Ctrl-C while action {action.index} ({action.kind}) was in flight"
                await writer.call(key, lambda: _close(state, store, owner, unknown=(reason, plan, action)))
                result.status, result.message = "unknown", (f"{reason}; whether the backend took it is unknown, "
                                                             "so the next plan takes the full path")
                notify(store, action, "unknown")
                return result
            result.requests += 1
            result.responses.append(response)
            held = set(hashes.values())
            if action.effect.replace:
                resources, hashes = {}, {}
            for name in action.effect.remove:
                resources.pop(name, None)
                hashes.pop(name, None)
            for name in action.effect.set:
                resources[name] = store.resources[name]
                hashes[name] = resource_hash(resources[name])
            if action.effect.meta or action.effect.replace:
                meta = dict(store.desired_meta)
            following = store.actions[action.index + 1] if action.index + 1 < len(store.actions) else None
            marked = following is not None and limit.rate is None and not interruption.stopping
            serial = await writer.call(key, functools.partial(
                _record, state, plan, store, action, meta, dict(resources), dict(hashes), held, serial, owner,
                following if marked else None, digest, following is None))
            notify(store, action, "done")
        return result
    except ReconcilerError as exc:
        await writer.call(key, lambda: _close(state, store, owner, refused=marked))
        result.status, result.message = "failed", str(exc)
        notify(store, None, "failed")
        return result
    finally:
        keeper.cancel()


def _record(state: StateStore, plan: Plan, store: StorePlan, action: Action, meta: dict, resources: dict,
            hashes: dict[str, str], held: set[str], serial: int, owner: str, mark_next: Action | None, digest: str,
            last: bool) -> int:
    """After a successful request, in one transaction: the new snapshot, the backend's
    reports it supersedes, and the mark of the next request (or, after the last, the lease
    let go). `hashes`: the new snapshot's; `held`: those of the one at `serial`."""
    serial = state.record(
        store.backend, store.store, store.remote_id, meta, resources, snapshot_fingerprint(meta, resources, hashes),
        serial, plan.plan_id, action.index, action.kind, action.bytes,
        hashlib.sha256(encode_body(action.body)).hexdigest(), hashes=hashes, held=held,
    )
    state.clear_observations(store.backend, store.store, None if action.effect.replace else list(action.effect.set))
    if mark_next is not None:
        _mark(state, plan, store, mark_next, digest)
    if last:
        state.release(store.backend, store.store, owner)
    return serial


def _close(state: StateStore, store: StorePlan, owner: str, unknown: tuple | None = None,
           refused: bool = False) -> None:
    """A store's apply ends early, in one transaction: an unknown outcome marked, or a mark
    cleared (nothing was sent), and the lease let go."""
    if unknown is not None:
        reason, plan, action = unknown
        state.mark_unknown(store.backend, store.store, store.remote_id, reason, plan.plan_id, action.index)
    elif refused:
        state.clear_in_flight(store.backend, store.store)
    state.release(store.backend, store.store, owner)


async def _keep_lease(writer: StateWriter, store: StorePlan, owner: str, every: float | None = None) -> None:
    """Renew the lease every third of its length while the store's apply runs."""
    interval = every if every is not None else LEASE.total_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        try:
            await writer.call(store.key, lambda: writer.state.renew(store.backend, store.store, owner, LEASE))
        except Exception:  # a failed renewal is retried at the next tick; the apply goes on
            log.warning("could not renew the lease of %s/%s", store.backend, store.store, exc_info=True)
