"""What `reconciler apply` does around the engine's `apply_plan`: the plan to apply, the
confirmation, progress or JSON events, Ctrl-C, the report and its exit code.

The plan is made (or read and proved) in one event loop, the confirmation is asked with
no loop running (so Ctrl-C at the prompt works at once), and the apply runs in a second
loop that owns Ctrl-C: the first asks every store to stop before its next request, the
second abandons the requests in flight (their stores are marked unknown).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from .applier import LEASE, Interruption, StoreResult, apply_plan
from .errors import PlanError
from .plan import Action, Plan, StorePlan
from .planner import PlanOptions, check_fresh, make_plan
from .render import render
from .state import StateStore, default_owner
from .validation import Validated

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class ApplyRequest:
    planfile: Path | None
    options: PlanOptions
    auto_approve: bool
    force: bool
    lock_timeout: float
    parallelism: int | None
    json_events: bool
    color: bool


class Events:
    """Where apply says what happens: human lines (a progress bar on a terminal), or one
    JSON object a line on stdout for CI (`--json`)."""

    def __init__(self, as_json: bool, err_console: Any):
        self.as_json = as_json
        self.err = err_console

    def emit(self, event: str, **fields: Any) -> None:
        if self.as_json:
            click.echo(json.dumps({"type": event, **fields}, ensure_ascii=False, default=str))

    def say(self, text: str) -> None:
        """A line for people: stderr, so stdout stays the plan or the JSON events."""
        if self.as_json:
            self.emit("message", text=text)
        else:
            click.echo(text, err=True)


def run_apply(validated: Validated, state: StateStore, request: ApplyRequest, events: Events) -> int:
    the_plan = _plan_to_apply(validated, state, request, events)
    the_plan.check_safety(request.force)
    if not the_plan.has_changes:
        events.emit("summary", applied=0, not_applied=0, exit_code=EXIT_OK)
        if not events.as_json:
            click.echo("Nothing to apply.")
        return EXIT_OK
    if request.planfile is None and not request.auto_approve:
        if not _confirmed(events):
            return EXIT_ERROR
    owner = default_owner()
    results, interrupted = asyncio.run(_apply(the_plan, validated, state, request, events, owner))
    return _report(results, interrupted, events)


def _plan_to_apply(validated: Validated, state: StateStore, request: ApplyRequest, events: Events) -> Plan:
    box: list[Plan] = []

    async def work() -> None:
        # The plan goes out through a box, not as the coroutine's result: asyncio.run
        # would build the repr of a finished task holding it (the whole plan as text).
        try:
            if request.planfile is not None:
                plan = Plan.from_json(request.planfile.read_text(encoding="utf-8"), str(request.planfile))
                await check_fresh(plan, validated, state)
            else:
                plan = await make_plan(validated, state, request.options)
            box.append(plan)
        finally:
            for provider in validated.providers.values():
                await provider.close()

    asyncio.run(work())
    plan = box[0]
    if request.planfile is not None:
        events.say(f"applying plan {plan.plan_id} from {request.planfile}")
        events.emit("plan", plan_id=plan.plan_id, source=str(request.planfile), stores=len(plan.changed_stores))
    elif events.as_json:
        events.emit("plan", plan_id=plan.plan_id, stores=len(plan.changed_stores), totals=plan.totals())
    else:
        click.echo(render(plan, "text", color=request.color, force=request.force))
    return plan


def _confirmed(events: Events) -> bool:
    if not sys.stdin.isatty():
        raise PlanError("apply without a plan file asks for confirmation; there is no terminal, "
                        "so pass --auto-approve (or apply a reviewed plan file)")
    try:
        # No event loop runs here: Ctrl-C interrupts the prompt at once.
        answer = click.confirm("Apply these changes?", default=False)
    except click.Abort:
        click.echo("Apply cancelled (interrupted); nothing was sent.", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    if not answer:
        events.say("Apply cancelled.")
    return answer


async def _apply(plan: Plan, validated: Validated, state: StateStore, request: ApplyRequest, events: Events,
                 owner: str) -> tuple[list[StoreResult], bool]:
    interruption = Interruption()
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        if interruption.stopping:
            events.say("Abandoning the requests in flight; their stores are marked unknown "
                       "(the next plan takes the full path for them).")
            interruption.abandon()
        else:
            events.say("Interrupted: no new request is sent; the ones in flight finish and are recorded "
                       "(Ctrl-C again abandons them).")
            interruption.stop()

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        handled = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        handled = False
    try:
        with _Progress(plan, events) as progress:
            results = await apply_plan(plan, validated.providers, state, owner, progress, request.lock_timeout,
                                       request.parallelism, interruption)
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
        for provider in validated.providers.values():
            await provider.close()
    return results, interruption.stopping


class _Progress:
    """Apply progress: a bar on a terminal, one line per event otherwise (CI logs), or
    JSON events with `--json`."""

    def __init__(self, plan: Plan, events: Events):
        self.events = events
        self.total = sum(len(s.actions) for s in plan.changed_stores)
        self.bar = None
        if not events.as_json and events.err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                console=events.err, transient=True)
            self.task = self.bar.add_task("applying", total=self.total)

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, store: StorePlan, action: Action | None, event: str) -> None:
        where = f"{store.backend}/{store.store}"
        if self.events.as_json:
            if action is None:
                self.events.emit("store", backend=store.backend, store=store.store, outcome=event)
            elif event != "sending":
                self.events.emit("action", backend=store.backend, store=store.store, action=action.index,
                                 kind=action.kind, outcome=event)
            return
        if self.bar is not None:
            if action is not None and event == "sending":
                self.bar.update(self.task, description=f"{where}: {action.kind}")
            elif action is not None and event == "done":
                self.bar.advance(self.task)
            elif event not in ("sending", "done"):
                self.bar.console.print(f"  {where}: {event}")
            return
        if action is None:
            click.echo(f"  {where}: {event}", err=True)
        elif event != "sending":
            click.echo(f"  {where}: {action.index + 1}/{len(store.actions)} {action.kind} {event}", err=True)


def _answer_counts(responses: list[dict[str, Any]]) -> dict[str, int]:
    """Numbers the backend reported (e.g. created_items), summed over a store's requests."""
    counts: dict[str, int] = {}
    for response in responses:
        for key, value in response.items():
            if isinstance(value, int) and not isinstance(value, bool):
                counts[key] = counts.get(key, 0) + value
    return counts


def _report(results: list[StoreResult], interrupted: bool, events: Events) -> int:
    failed = [r for r in results if not r.ok]
    applied = sum(1 for r in results if r.status == "applied")
    code = EXIT_INTERRUPTED if interrupted else EXIT_ERROR if failed else EXIT_OK
    for result in results:
        counts = _answer_counts(result.responses)
        if events.as_json:
            events.emit("result", backend=result.backend, store=result.store, outcome=result.status,
                        requests=result.requests, counts=counts, message=result.message)
            continue
        line = f"{result.backend}/{result.store}: {result.status}, {result.requests} request{'s' * (result.requests != 1)}"
        if counts:
            line += " (" + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items()) + ")"
        click.echo(line + (f" - {result.message}" if result.message else ""))
    events.emit("summary", applied=applied, not_applied=len(failed), exit_code=code)
    if events.as_json:
        return code
    click.echo(f"Apply {'interrupted' if interrupted else 'finished'}: {applied} applied, {len(failed)} not applied.")
    hints: dict[str, str] = {
        "unknown": "Stores with an unknown outcome are marked; the next plan takes the full path for them.",
        "stale": "Stores that changed since the plan was made were left alone; make a new plan for them.",
        "locked": "Locked stores are being applied by someone else; plan again when they are done "
                  "(--lock-timeout waits for them).",
        "interrupted": "What was applied is recorded; applying again resumes with the rest.",
    }
    for status, hint in hints.items():
        if any(r.status == status for r in results):
            click.echo(hint)
    return code


def lease_for_refresh():
    return LEASE


def report_refresh(records: list, events: Events) -> int:
    """The outcome of `apply --refresh-only`, and its exit code."""
    for record in records:
        if events.as_json:
            events.emit("result", backend=record.backend, store=record.store, outcome=record.status,
                        message=record.message)
        else:
            click.echo(f"{record.backend}/{record.store}: {record.status}" + (f" - {record.message}" if record.message else ""))
    recorded = sum(1 for r in records if r.status == "recorded")
    code = EXIT_OK if recorded == len(records) else EXIT_ERROR
    events.emit("summary", recorded=recorded, not_recorded=len(records) - recorded, exit_code=code)
    if not events.as_json:
        click.echo(f"Refresh finished: {recorded} recorded into the state, {len(records) - recorded} not; "
                   "nothing was sent to any backend.")
    return code


Listener = Callable[[StorePlan, Action | None, str], None]
