"""The state calls of an apply, made by one thread and committed together.

Every store of an apply writes to the state before and after each request, and must not
send its next request before its last write is durable. Made one by one on the event
loop, each write blocked every store for its own commit (an fsync); here the calls of all
stores queue up while the previous batch commits, and the next batch runs in one
transaction: one commit serves every store that wrote meanwhile, and each store still
waits for its own write to be durable.

Each call runs in a savepoint of the batch, so one that fails (a serial conflict) leaves
the others. Calls touch stores in the order of their keys, so two processes' batches take
the stores' locks in the same order; should a batch fail as a whole anyway (PostgreSQL
breaking a deadlock), its calls run again one by one, each in its own transaction.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .base import StateStore

T = TypeVar("T")
_Job = tuple[tuple[str, str], Callable[[], Any], asyncio.Future]


class StateWriter:
    def __init__(self, state: StateStore):
        self.state = state
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciler-state")
        self._pending: list[_Job] = []
        self._flushing: asyncio.Task | None = None

    async def call(self, store: tuple[str, str], work: Callable[[], T]) -> T:
        """Run `work` (state calls about `store`) in the next batch; return once committed."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((store, work, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            jobs, self._pending = self._pending, []
            outcomes = await loop.run_in_executor(self._thread, self._run, jobs)
            for (_, _, future), (ok, value) in zip(jobs, outcomes):
                if future.done():  # its store was abandoned meanwhile; the write stands
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _run(self, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        order = sorted(range(len(jobs)), key=lambda i: jobs[i][0])
        outcomes: list[tuple[bool, Any]] = [(False, None)] * len(jobs)
        try:
            with self.state.batch():
                for i in order:
                    outcomes[i] = self._one(jobs[i][1])
            return outcomes
        except Exception:
            return [self._one(work) for _, work, _ in jobs]

    def _one(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            with self.state.batch():
                return True, work()
        except Exception as exc:  # handed to the store that asked, as if it had called directly
            return False, exc

    def close(self) -> None:
        self._thread.shutdown(wait=True)
