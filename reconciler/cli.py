"""The `reconciler` command line. Thin: it loads, calls the engine, renders, and maps
outcomes to the fixed exit codes (0 ok / no changes, 1 error, 2 changes with
--detailed-exitcode, 3 refused by safety)."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console

from . import __version__
from .applier import StoreResult, apply_plan
from .errors import PlanError, ReconcilerError, ValidationFailed
from .plan import Action, Plan, StorePlan
from .planner import PlanOptions, Selector, check_fresh, make_plan
from .project import load_project
from .redaction import RedactingStream, scrub
from .provider import ProviderContext
from .registry import provider_class
from .render import FORMATS, render
from .state import StateStore, default_owner, open_state
from .validation import Validated, validate_project

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED = 0, 1, 2, 3

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", markup=True) if err.is_terminal else click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationFailed as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            _fail(str(exc), exc.exit_code)
        except ReconcilerError as exc:
            _fail(str(exc), exc.exit_code)

    return wrapper


class Session:
    """The project a command works on, loaded once."""

    def __init__(self, directory: Path):
        self.directory = directory

    def validated(self) -> Validated:
        project = load_project(self.directory)
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        return validate_project(project, context)

    def state(self, validated: Validated) -> StateStore:
        return open_state(validated.project.state_url, validated.project.root)


def selector_options(command: Callable) -> Callable:
    options = [
        click.option("--backend", "backends", multiple=True, metavar="NAME", help="Only these backends (glob; repeatable)."),
        click.option("--exclude-backend", "exclude_backends", multiple=True, metavar="NAME", help="Leave these backends out."),
        click.option("--store", "stores", multiple=True, metavar="ID", help="Only these stores (glob; repeatable)."),
        click.option("--exclude-store", "exclude_stores", multiple=True, metavar="ID", help="Leave these stores out."),
        click.option("--full", is_flag=True, help="Take the full path for every selected store."),
        click.option("--refresh/--no-refresh", default=True, help="Read live state from backends that can be read."),
        click.option("--shard", "shard", default=None, metavar="I/N", callback=_parse_shard,
                     help="Only the stores in shard I of N (a stable hash of backend/store), for a CI matrix."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    index, slash, count = value.partition("/")
    try:
        shard = (int(index), int(count)) if slash else None
    except ValueError:
        shard = None
    if shard is None or shard[1] < 1 or not 1 <= shard[0] <= shard[1]:
        raise click.BadParameter(f"{value!r} is not I/N with 1 <= I <= N (for example 2/4)")
    return shard


class Duration(click.ParamType):
    """Seconds, as Terraform writes them: 30, 30s, 5m, 1h."""

    name = "duration"
    _UNITS = {"s": 1, "m": 60, "h": 3600}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        unit = self._UNITS.get(text[-1:], None)
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1)
        except ValueError:
            seconds = -1.0
        if seconds < 0:
            self.fail(f"{value!r} is not a duration such as 30s, 5m or 90", param, ctx)
        return seconds


def _plan_options(backends, exclude_backends, stores, exclude_stores, full, refresh, shard=None) -> PlanOptions:
    return PlanOptions(full=full, refresh=refresh, selector=Selector(
        tuple(backends), tuple(exclude_backends), tuple(stores), tuple(exclude_stores), shard))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "directory", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="Project directory (default: the current one).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="reconciler")
@click.pass_context
def main(ctx: click.Context, directory: Path, verbose: int) -> None:
    """Reconcile YAML retail catalogs into point-of-sale and marketplace backends."""
    # Everything the CLI prints passes through the scrubber: a server that echoes a request
    # into its error cannot put a secret on the screen or into a CI log.
    for name in ("stdout", "stderr"):
        if not isinstance(getattr(sys, name), RedactingStream):
            setattr(sys, name, RedactingStream(getattr(sys, name)))
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs URLs, which may carry keys
    # A chain's plan holds millions of small objects and creates few cycles; with the
    # default thresholds the cyclic collector walks them all again and again (about a
    # fifth of a 500-store plan). Collect the youngest generation less often.
    gc.set_threshold(100_000, 50, 100)
    ctx.obj = Session(directory)


@main.command()
@click.pass_obj
@handles_errors
def validate(session: Session) -> None:
    """Check the project and its catalog; nothing is sent anywhere."""
    validated = session.validated()
    click.echo(f"ok: {len(validated.project.catalog.menus)} menus, {len(validated.project.catalog.stores)} stores, "
               f"{len(validated.views)} store bindings on {len(validated.providers)} backends")


@main.command()
@selector_options
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write the plan to FILE (JSON).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--force", is_flag=True, help="Do not refuse the plan on safety thresholds.")
@click.option("--price-alert", type=click.FloatRange(0), default=None, metavar="SHARE",
              help="In markdown, call out prices moving by more than SHARE (default 0.2).")
@click.option("--refresh-only", is_flag=True,
              help="Report what changed in the backends since the last apply (drift); propose no writes.")
@click.pass_obj
@handles_errors
def plan(session: Session, out: Path | None, fmt: str, detailed_exitcode: bool, force: bool,
         price_alert: float | None, refresh_only: bool, **selectors: Any) -> None:
    """Show what apply would change, and how many requests it would take."""
    if refresh_only:
        if out is not None or not selectors["refresh"] or selectors["full"]:
            raise click.UsageError("--refresh-only reads the backends and writes no plan: "
                                   "it does not combine with --out, --no-refresh or --full")
        _drift(session, fmt, detailed_exitcode, selectors)
        return
    validated = session.validated()
    state = session.state(validated)
    try:
        the_plan = asyncio.run(_make_plan(validated, state, _plan_options(**selectors)))
    finally:
        state.close()
    click.echo(render(the_plan, fmt, color=fmt == "text" and sys.stdout.isatty(), price_alert=price_alert,
                      full_plan=out.name if out else None), nl=fmt == "json")
    if out is not None:
        out.write_text(scrub(the_plan.to_json()) + "\n", encoding="utf-8")
        click.echo(f"plan written to {out}", err=True)
    the_plan.check_safety(force)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _drift(session: Session, fmt: str, detailed_exitcode: bool, selectors: dict[str, Any]) -> None:
    from .drift import drift_report, render_drift

    validated = session.validated()
    state = session.state(validated)
    try:
        report = asyncio.run(_closing_providers(validated, drift_report(validated, state, _plan_options(**selectors))))
    finally:
        state.close()
    click.echo(render_drift(report, fmt))
    if detailed_exitcode and report.has_drift:
        sys.exit(EXIT_CHANGES)


async def _closing_providers(validated: Validated, work: Any) -> Any:
    try:
        return await work
    finally:
        for provider in validated.providers.values():
            await provider.close()


async def _make_plan(validated: Validated, state: StateStore, options: PlanOptions) -> Plan:
    providers = list(validated.providers.values())
    try:
        return await make_plan(validated, state, options)
    finally:
        for provider in providers:
            await provider.close()


@main.command()
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@selector_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (required without a terminal).")
@click.option("--force", is_flag=True, help="Apply even when safety thresholds are crossed.")
@click.option("--lock-timeout", type=Duration(), default="0s", show_default=True, metavar="DURATION",
              help="Wait this long for a store another apply holds (30s, 5m), then report it locked.")
@click.pass_obj
@handles_errors
def apply(session: Session, planfile: Path | None, auto_approve: bool, force: bool, lock_timeout: float,
          **selectors: Any) -> None:
    """Make the changes: of PLANFILE exactly, or of a fresh plan after confirmation."""
    validated = session.validated()
    state = session.state(validated)
    try:
        code = asyncio.run(_apply(validated, state, planfile, auto_approve, force, _plan_options(**selectors),
                                  lock_timeout))
    finally:
        state.close()
    sys.exit(code)


async def _apply(validated: Validated, state: StateStore, planfile: Path | None, auto_approve: bool,
                 force: bool, options: PlanOptions, lock_timeout: float = 0.0) -> int:
    try:
        if planfile is not None:
            the_plan = Plan.from_json(planfile.read_text(encoding="utf-8"), str(planfile))
            await check_fresh(the_plan, validated, state)
            click.echo(f"applying plan {the_plan.plan_id} from {planfile}", err=True)
        else:
            the_plan = await make_plan(validated, state, options)
            click.echo(render(the_plan, "text", color=sys.stdout.isatty()))
        the_plan.check_safety(force)
        if not the_plan.has_changes:
            click.echo("Nothing to apply.")
            return EXIT_OK
        if planfile is None and not auto_approve:
            if not sys.stdin.isatty():
                raise PlanError("apply without a plan file asks for confirmation; there is no terminal, "
                                "so pass --auto-approve (or apply a reviewed plan file)")
            if not click.confirm("Apply these changes?", default=False):
                click.echo("Nothing applied.")
                return EXIT_OK
        with _Progress(the_plan) as progress:
            results = await apply_plan(the_plan, validated.providers, state, default_owner(), progress,
                                       lock_timeout)
    finally:
        for provider in validated.providers.values():
            await provider.close()
    return _report(results)


class _Progress:
    """Apply progress: a bar on a terminal, one line per event otherwise (CI logs)."""

    def __init__(self, plan: Plan):
        self.total = sum(len(s.actions) for s in plan.changed_stores)
        self.bar = None
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                console=err, transient=True)
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


def _report(results: list[StoreResult]) -> int:
    failed = [r for r in results if not r.ok]
    for result in results:
        line = f"{result.backend}/{result.store}: {result.status}, {result.requests} request{'s' * (result.requests != 1)}"
        counts = _answer_counts(result.responses)
        if counts:
            line += " (" + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items()) + ")"
        click.echo(line + (f" - {result.message}" if result.message else ""))
    applied = sum(1 for r in results if r.status == "applied")
    click.echo(f"Apply finished: {applied} applied, {len(failed)} not applied.")
    if any(r.status == "unknown" for r in results):
        click.echo("Stores with an unknown outcome are marked; the next plan takes the full path for them.")
    if any(r.status == "stale" for r in results):
        click.echo("Stores that changed since the plan was made were left alone; make a new plan for them.")
    if any(r.status == "locked" for r in results):
        click.echo("Locked stores are being applied by someone else; plan again when they are done "
                   "(--lock-timeout waits for them).")
    return EXIT_ERROR if failed else EXIT_OK


@main.command()
@click.argument("planfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--price-alert", type=click.FloatRange(0), default=None, metavar="SHARE",
              help="In markdown, call out prices moving by more than SHARE (default 0.2).")
@handles_errors
def show(planfile: Path, fmt: str, price_alert: float | None) -> None:
    """Render a saved plan file."""
    the_plan = Plan.from_json(planfile.read_text(encoding="utf-8"), str(planfile))
    click.echo(render(the_plan, fmt, color=fmt == "text" and sys.stdout.isatty(), price_alert=price_alert,
                      full_plan=planfile.name), nl=fmt == "json")


@main.command()
@click.argument("provider")
@click.option("--port", default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the emulator's data in this folder (default: in memory).")
@handles_errors
def emulate(provider: str, port: int, host: str, data_dir: Path | None) -> None:
    """Serve PROVIDER's backend emulator over HTTP."""
    import uvicorn

    cls = provider_class(provider)
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    app = cls.emulator_app(data_dir)
    click.echo(f"{provider} emulator on http://{host}:{port} (inspection API under /_emulator/)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@main.group()
def webhooks() -> None:
    """Receive backend webhooks and record what they report in the state store."""


@webhooks.command("serve")
@click.option("--port", default=8090, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.pass_obj
@handles_errors
def webhooks_serve(session: Session, port: int, host: str) -> None:
    """Serve each backend's webhook receiver at /webhooks/<backend>."""
    import uvicorn

    from .webhooks import receivers, webhooks_app

    validated = session.validated()
    apps = receivers(validated, lambda: session.state(validated))
    if not apps:
        _fail("no configured backend receives webhooks")
    for name in apps:
        click.echo(f"{name}: http://{host}:{port}/webhooks/{name}", err=True)
    uvicorn.run(webhooks_app(apps), host=host, port=port, log_level="warning")


@main.command("import")
@click.argument("backend")
@click.option("--store", "store_id", required=True, metavar="ID", help="The catalog store to import.")
@click.pass_obj
@handles_errors
def import_command(session: Session, backend: str, store_id: str) -> None:
    """Write BACKEND's live stock of store ID (and products its menu lacks) into the catalog."""
    from .importer import import_store

    report = asyncio.run(import_store(session.validated(), backend, store_id))
    click.echo(f"{backend}/{store_id}: {report.stock_entries} stock entries written to {report.stock_file}")
    if report.added_products:
        click.echo(f"{len(report.added_products)} products added to {report.menu_file}: "
                   + ", ".join(report.added_products))
    click.echo("review the change (git diff), then plan")


@main.group()
def state() -> None:
    """Inspect and manage the state store."""


@state.command("list")
@click.pass_obj
@handles_errors
def state_list(session: Session) -> None:
    """One line per (backend, store) with its serial and whether its outcome is unknown."""
    store = _open_state_only(session)
    try:
        for row in store.all():
            flag = f"  UNKNOWN: {row.unknown}" if row.unknown else ""
            click.echo(f"{row.backend}\t{row.store}\t{row.remote_id}\tserial {row.serial}\t"
                       f"{len(row.resources)} resources\t{row.updated_at}{flag}")
    finally:
        store.close()


@state.command("show")
@click.argument("backend")
@click.argument("store_id")
@click.pass_obj
@handles_errors
def state_show(session: Session, backend: str, store_id: str) -> None:
    """The recorded snapshot of one store, as JSON."""
    store = _open_state_only(session)
    try:
        row = store.get(backend, store_id)
    finally:
        store.close()
    if row is None:
        raise ReconcilerError(f"no state recorded for {backend}/{store_id}")
    click.echo(json.dumps(row.__dict__, indent=1, ensure_ascii=False))


@state.command("locks")
@click.pass_obj
@handles_errors
def state_locks(session: Session) -> None:
    """Current leases, with owner and expiry."""
    store = _open_state_only(session)
    try:
        for lock in store.locks():
            click.echo(f"{lock.backend}\t{lock.store}\t{lock.owner}\tsince {lock.acquired_at}\t"
                       f"{'expired' if lock.expired else 'expires'} {lock.expires_at}")
    finally:
        store.close()


@state.command("unlock")
@click.argument("backend")
@click.argument("store_id")
@click.pass_obj
@handles_errors
def state_unlock(session: Session, backend: str, store_id: str) -> None:
    """Remove a store's lease deliberately (after making sure no apply is running)."""
    store = _open_state_only(session)
    try:
        removed = store.release(backend, store_id)
    finally:
        store.close()
    click.echo(f"lock of {backend}/{store_id} removed" if removed else f"{backend}/{store_id} was not locked")


def _open_state_only(session: Session) -> StateStore:
    project = load_project(session.directory)
    return open_state(project.state_url, project.root)


@main.command()
@click.argument("kind", type=click.Choice(["catalog", "project", "plan"]), default="catalog")
@handles_errors
def schema(kind: str) -> None:
    """Print the JSON Schema of catalog files, reconciler.yaml, or the JSON plan."""
    from .schema import schema_for

    click.echo(json.dumps(schema_for(kind), indent=2, ensure_ascii=False))


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file is not canonical.")
@click.pass_obj
@handles_errors
def fmt(session: Session, files: tuple[Path, ...], check: bool) -> None:
    """Rewrite catalog files canonically, keeping comments (default: the project's catalog)."""
    from .fmt import format_files

    if files:
        paths = list(files)
    else:
        project = load_project(session.directory)
        paths = [f.path for f in project.files if not f.path.name.endswith(".j2")]
    result = format_files(paths, check)
    for path in result.skipped:
        click.echo(f"left {path} alone: templates are not formatted", err=True)
    for path in result.changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {path}")
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if result.problems:
        raise ReconcilerError(f"{len(result.problems)} file(s) cannot be read as YAML and were not formatted")
    if check and result.changed:
        raise ReconcilerError(f"{len(result.changed)} file(s) are not formatted; run `reconciler fmt`")


if __name__ == "__main__":  # pragma: no cover
    main()
