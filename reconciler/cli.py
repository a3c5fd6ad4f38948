"""The `reconciler` command line. Thin: it loads, calls the engine, renders, and maps
outcomes to the fixed exit codes: 0 ok or no changes, 1 error (usage errors too), 2
changes present with --detailed-exitcode, 3 refused by safety, and 130 after Ctrl-C.

Only click is imported at start-up; each command imports the engine it uses, so
`--version` and `--help` answer at once.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .errors import ReconcilerError, ValidationFailed
from .redaction import RedactingStream, scrub

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
FORMATS = ("text", "markdown", "json")
SHORT_OPTIONS = "Cvh"  # the one-letter options: -C DIR, -v/-vv, -h


class ReconcilerGroup(click.Group):
    """The root command: Terraform's spellings, and exit codes a pipeline can trust.

    Click exits 2 for a usage error, which `--detailed-exitcode` reserves for "changes
    present"; here every usage error exits 1 with its message. Terraform writes long
    options with one dash (`-out`, `-detailed-exitcode`): the ones we share are accepted,
    and any other one-dash word is refused with a suggestion, never read as `-d -e ...`.
    """

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        try:
            args = self._long_spellings(args)
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_ERROR)
        except click.Abort:
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)

    def _long_options(self) -> set[str]:
        names: set[str] = set()

        def walk(command: click.Command) -> None:
            for param in command.params:
                names.update(o[2:] for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
            for sub in getattr(command, "commands", {}).values():
                walk(sub)

        walk(self)
        return names

    def _long_spellings(self, args: list[str]) -> list[str]:
        known = self._long_options()
        out: list[str] = []
        for index, arg in enumerate(args):
            if arg == "--":
                return out + args[index:]
            match = re.fullmatch(r"-([A-Za-z][A-Za-z0-9-]+)(=.*)?", arg)
            if match and match.group(1) in known:
                arg = "-" + arg
            elif match and arg[1] not in SHORT_OPTIONS:
                close = difflib.get_close_matches(match.group(1), sorted(known), n=1)
                hint = f"; did you mean --{close[0]}?" if close else "; long options take two dashes"
                raise click.UsageError(f"no such option: {arg}{hint}")
            out.append(arg)
        return out


class Session:
    """What every command of one invocation shares: the project and how to print."""

    def __init__(self, directory: Path, no_color: bool = False):
        self.directory = directory
        self.no_color = no_color
        self.json = False  # errors as JSON lines (apply --json)

    @property
    def color(self) -> bool:
        return not self.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()

    def err_console(self) -> Any:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True, no_color=not self.color)

    def validated(self, project: Any = None, options: Any = None) -> Any:
        """The project (loaded here unless given), validated; its warnings printed.
        `options`: the plan options; a shard's loads only the stores it plans."""
        from .project import load_project
        from .provider import ProviderContext
        from .validation import validate_project

        project = project or load_project(self.directory, keep_store=options and options.selector.store_filter())
        context = ProviderContext(project_dir=project.root, work_dir=project.work_dir)
        validated = validate_project(project, context)
        for warning in validated.warnings:
            click.echo(str(warning), err=True)
        return validated

    def state(self, validated: Any) -> Any:
        from .state import open_state

        return open_state(validated.project.state_url, validated.project.root)

    def state_only(self) -> Any:
        """The state store, for commands that need no catalog."""
        from .project import load_project
        from .state import open_state

        project = load_project(self.directory)
        return open_state(project.state_url, project.root)


def _fail(message: str, code: int = EXIT_ERROR, problems: list[str] = ()) -> None:
    session = click.get_current_context().find_object(Session)
    if session is not None and session.json:
        click.echo(json.dumps({"type": "error", "message": message, "problems": list(problems), "exit_code": code},
                              ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationFailed as exc:
            _fail(str(exc), exc.exit_code, [str(p) for p in exc.problems])
        except ReconcilerError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; nothing more was sent", EXIT_INTERRUPTED)

    return wrapper


def _set_directory(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(Session).directory = value


def _set_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Session).no_color = True


def project_options(command: Callable) -> Callable:
    """`-C DIR` and `--no-color` after the subcommand too (`reconciler plan -C catalog`)."""
    command = click.option("-C", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
                           expose_value=False, callback=_set_directory, is_eager=True,
                           help="Project directory (default: the current one).")(command)
    return click.option("--no-color", is_flag=True, expose_value=False, callback=_set_no_color,
                        help="Plain output (also when NO_COLOR is set).")(command)


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
    return project_options(command)


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


def _plan_options(backends, exclude_backends, stores, exclude_stores, full, refresh, shard=None) -> Any:
    from .planner import PlanOptions, Selector

    return PlanOptions(full=full, refresh=refresh, selector=Selector(
        tuple(backends), tuple(exclude_backends), tuple(stores), tuple(exclude_stores), shard))


def _run(work: Callable[[], Any]) -> Any:
    """Run a coroutine factory and hand its result out through a box: asyncio.run would
    otherwise build the repr of a finished task holding a whole plan."""
    import asyncio

    box: list[Any] = []

    async def boxed() -> None:
        box.append(await work())

    asyncio.run(boxed())
    return box[0]


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "directory", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="Project directory (default: the current one; also accepted after the command).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--no-color", is_flag=True, help="Plain output (also when NO_COLOR is set).")
@click.version_option(__version__, prog_name="reconciler")
@click.pass_context
def main(ctx: click.Context, directory: Path, verbose: int, no_color: bool) -> None:
    """Reconcile YAML retail catalogs into point-of-sale and marketplace backends."""
    import gc
    import logging

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
    ctx.obj = Session(directory, no_color)


@main.command()
@project_options
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
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--force", is_flag=True, help="Do not refuse the plan on safety thresholds.")
@click.option("--price-alert", type=click.FloatRange(0), default=None, metavar="SHARE",
              help="In markdown, call out prices moving by more than SHARE (default 0.2).")
@click.option("--refresh-only", is_flag=True,
              help="Report what changed in the backends since the last apply (drift); propose no writes.")
@click.option("--no-cache", is_flag=True,
              help="Plan every store, not only those whose inputs changed since an earlier plan.")
@click.pass_obj
@handles_errors
def plan(session: Session, out: Path | None, fmt: str, as_json: bool, detailed_exitcode: bool, force: bool,
         price_alert: float | None, refresh_only: bool, no_cache: bool, **selectors: Any) -> None:
    """Show what apply would change, and how many requests it would take."""
    from .planner import make_plan
    from .render import render

    fmt = "json" if as_json else fmt
    if refresh_only:
        if out is not None or not selectors["refresh"] or selectors["full"]:
            raise click.UsageError("--refresh-only reads the backends and writes no plan: "
                                   "it does not combine with --out, --no-refresh or --full")
        report = _drift(session, selectors)
        from .drift import render_drift

        click.echo(render_drift(report, fmt))
        if detailed_exitcode and report.has_drift:
            sys.exit(EXIT_CHANGES)
        return
    options = _plan_options(**selectors)
    reuse = None
    # A shard of a CI matrix plans on a fresh checkout and loads only its own stores: the
    # plan cache, whose index is of whole files, is left to whole-catalog plans.
    if no_cache or options.selector.shard is not None:
        validated = session.validated(options=options)
    else:
        from .plan_cache import load_with_cache
        from .state import open_state

        reuse = load_with_cache(session.directory, options, lambda p: open_state(p.state_url, p.root))
        if reuse.plans:
            click.echo(f"{len(reuse.project.skipped)} of {len(reuse.project.texts)} catalog files unchanged since "
                       f"an earlier plan: {len(reuse.plans)} store bindings taken from the plan cache "
                       "(--no-cache plans them all)", err=True)
        validated = session.validated(reuse.project)
    state = session.state(validated)

    async def work() -> Any:
        try:
            return await make_plan(validated, state, options, reused=reuse.plans if reuse else None)
        finally:
            for provider in validated.providers.values():
                await provider.close()

    try:
        the_plan = _run(work)
    finally:
        state.close()
    if reuse is not None:
        from .plan_cache import remember

        remember(reuse, the_plan.stores, options)
    click.echo(render(the_plan, fmt, color=fmt == "text" and session.color, price_alert=price_alert,
                      full_plan=out.name if out else None, force=force), nl=fmt == "json")
    if out is not None:
        if the_plan.safety_violations() and not force:
            click.echo(f"{out} not written: safety refuses this plan, so apply would only refuse the file "
                       "(--force writes it)", err=True)
        else:
            out.write_text(scrub(the_plan.to_json()) + "\n", encoding="utf-8")
            click.echo(f"plan written to {out}", err=True)
    the_plan.check_safety(force)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _drift(session: Session, selectors: dict[str, Any]) -> Any:
    from .drift import drift_report

    validated = session.validated()
    state = session.state(validated)

    async def work() -> Any:
        try:
            return await drift_report(validated, state, _plan_options(**selectors))
        finally:
            for provider in validated.providers.values():
                await provider.close()

    try:
        return _run(work)
    finally:
        state.close()


@main.command()
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@selector_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (required without a terminal).")
@click.option("--force", is_flag=True, help="Apply even when safety thresholds are crossed.")
@click.option("--lock-timeout", type=Duration(), default="0s", show_default=True, metavar="DURATION",
              help="Wait this long for a store another apply holds (30s, 5m), then report it locked.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Stores applied at once per backend, overriding the backends' concurrency.")
@click.option("--json", "as_json", is_flag=True,
              help="Events as JSON, one object a line on stdout (plan, action, result, summary, error).")
@click.option("--refresh-only", is_flag=True,
              help="Record what the backends hold into the state (after review); send nothing to them.")
@click.pass_obj
@handles_errors
def apply(session: Session, planfile: Path | None, auto_approve: bool, force: bool, lock_timeout: float,
          parallelism: int | None, as_json: bool, refresh_only: bool, **selectors: Any) -> None:
    """Make the changes: of PLANFILE exactly, or of a fresh plan after confirmation."""
    from .cli_apply import ApplyRequest, Events, run_apply

    session.json = as_json
    events = Events(as_json, session.err_console())
    if refresh_only:
        if planfile is not None or selectors["full"] or not selectors["refresh"]:
            raise click.UsageError("--refresh-only records what the backends hold: "
                                   "it takes no plan file and does not combine with --full or --no-refresh")
        sys.exit(_apply_refresh_only(session, events, auto_approve, selectors))
    options = _plan_options(**selectors)
    validated = session.validated(options=_planfile_options(planfile) if planfile is not None else options)
    state = session.state(validated)
    try:
        code = run_apply(validated, state, ApplyRequest(
            planfile, options, auto_approve, force, lock_timeout, parallelism, as_json,
            session.color), events)
    finally:
        state.close()
    sys.exit(code)


def _planfile_options(planfile: Path) -> Any:
    """The options a plan file was made with, enough to load what it needs (a shard's
    stores); whatever is wrong with the file is said when it is read for the apply."""
    from .planner import PlanOptions, Selector

    try:
        selector = json.loads(planfile.read_text(encoding="utf-8"))["options"]["selector"]
        return PlanOptions(selector=Selector.from_description(selector))
    except Exception:  # unreadable, not JSON, another shape: the apply refuses it properly
        return None


def _apply_refresh_only(session: Session, events: Any, auto_approve: bool, selectors: dict[str, Any]) -> int:
    from .cli_apply import lease_for_refresh, report_refresh
    from .drift import render_drift
    from .refresh import refresh_state
    from .state import default_owner

    report = _drift(session, selectors)
    if not events.as_json:
        click.echo(render_drift(report, "text"))
    if not report.has_drift:
        events.emit("summary", recorded=0, not_recorded=0, exit_code=EXIT_OK)
        if not events.as_json:
            click.echo("Nothing to record.")
        return EXIT_OK
    if not auto_approve:
        if not sys.stdin.isatty():
            raise ReconcilerError("apply --refresh-only asks for confirmation; there is no terminal, "
                                  "so pass --auto-approve")
        if not click.confirm("Record what the backends hold into the state?", default=False):
            events.say("Refresh cancelled.")
            return EXIT_ERROR
    validated = session.validated()
    state = session.state(validated)
    try:
        records = refresh_state(state, report, default_owner(), lease_for_refresh())
    finally:
        state.close()
    return report_refresh(records, events)


@main.command()
@click.argument("planfiles", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--price-alert", type=click.FloatRange(0), default=None, metavar="SHARE",
              help="In markdown, call out prices moving by more than SHARE (default 0.2).")
@project_options
@click.pass_obj
@handles_errors
def show(session: Session, planfiles: tuple[Path, ...], fmt: str, price_alert: float | None) -> None:
    """Render saved plan files: one, or the shards of a CI matrix as one plan."""
    from .plan import Plan
    from .render import render

    plans = [Plan.from_json(path.read_text(encoding="utf-8"), str(path)) for path in planfiles]
    the_plan = plans[0] if len(plans) == 1 else Plan.merged(plans)
    click.echo(render(the_plan, fmt, color=fmt == "text" and session.color, price_alert=price_alert,
                      full_plan=[path.name for path in planfiles]), nl=fmt == "json")


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

    from .registry import provider_class

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
@project_options
@click.pass_obj
@handles_errors
def webhooks_serve(session: Session, port: int, host: str) -> None:
    """Serve each backend's webhook receiver at /webhooks/<backend>."""
    import uvicorn

    from .webhooks import receivers, webhooks_app

    validated = session.validated()
    apps = receivers(validated, lambda: session.state(validated))
    if not apps:
        raise ReconcilerError("no configured backend receives webhooks")
    for name in apps:
        click.echo(f"{name}: http://{host}:{port}/webhooks/{name}", err=True)
    uvicorn.run(webhooks_app(apps), host=host, port=port, log_level="warning")


@main.command("import")
@click.argument("backend")
@click.option("--store", "store_id", required=True, metavar="ID", help="The catalog store to import.")
@project_options
@click.pass_obj
@handles_errors
def import_command(session: Session, backend: str, store_id: str) -> None:
    """Write BACKEND's live stock of store ID (and products its menu lacks) into the catalog."""
    from .importer import import_store

    validated = session.validated()
    report = _run(lambda: import_store(validated, backend, store_id))
    click.echo(f"{backend}/{store_id}: {report.stock_entries} stock entries written to {report.stock_file}")
    if report.added_products:
        click.echo(f"{len(report.added_products)} products added to {report.menu_file}: "
                   + ", ".join(report.added_products))
    click.echo("review the change (git diff), then plan")


@main.group()
def state() -> None:
    """Inspect and manage the state store."""


@state.command("list")
@project_options
@click.pass_obj
@handles_errors
def state_list(session: Session) -> None:
    """One line per (backend, store) with its serial and whether its outcome is unknown."""
    store = session.state_only()
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
@project_options
@click.pass_obj
@handles_errors
def state_show(session: Session, backend: str, store_id: str) -> None:
    """The recorded snapshot of one store, as JSON."""
    store = session.state_only()
    try:
        row = store.get(backend, store_id)
    finally:
        store.close()
    if row is None:
        raise ReconcilerError(f"no state recorded for {backend}/{store_id}")
    click.echo(json.dumps(row.__dict__, indent=1, ensure_ascii=False))


@state.command("locks")
@project_options
@click.pass_obj
@handles_errors
def state_locks(session: Session) -> None:
    """Current leases, with owner and expiry."""
    store = session.state_only()
    try:
        for lock in store.locks():
            click.echo(f"{lock.backend}\t{lock.store}\t{lock.owner}\tsince {lock.acquired_at}\t"
                       f"{'expired' if lock.expired else 'expires'} {lock.expires_at}")
    finally:
        store.close()


@state.command("unlock")
@click.argument("backend")
@click.argument("store_id")
@project_options
@click.pass_obj
@handles_errors
def state_unlock(session: Session, backend: str, store_id: str) -> None:
    """Remove a store's lease deliberately (after making sure no apply is running)."""
    store = session.state_only()
    try:
        removed = store.release(backend, store_id)
    finally:
        store.close()
    click.echo(f"lock of {backend}/{store_id} removed" if removed else f"{backend}/{store_id} was not locked")


@state.command("rm")
@click.argument("backend")
@click.argument("store_id")
@project_options
@click.pass_obj
@handles_errors
def state_rm(session: Session, backend: str, store_id: str) -> None:
    """Forget what was recorded for a store binding; its next plan is a first contact.

    Nothing is sent: the backend keeps what it holds. Use it for a binding that moved to
    another tool, or a store closed in the backend by hand."""
    store = session.state_only()
    try:
        if not store.forget(backend, store_id):
            raise ReconcilerError(f"no state recorded for {backend}/{store_id}")
    finally:
        store.close()
    click.echo(f"{backend}/{store_id} forgotten; the backend was not touched, and its next plan is a first contact")


@state.command("mv")
@click.argument("backend")
@click.argument("store_id")
@click.argument("new_store_id")
@project_options
@click.pass_obj
@handles_errors
def state_mv(session: Session, backend: str, store_id: str, new_store_id: str) -> None:
    """Give a store binding's state a new catalog id, after renaming the store in the
    catalog (otherwise the plan removes everything from the old id and creates the new)."""
    store = session.state_only()
    try:
        store.rename(backend, store_id, new_store_id)
    finally:
        store.close()
    click.echo(f"{backend}/{store_id} is now {backend}/{new_store_id}; nothing was sent")


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
@project_options
@click.pass_obj
@handles_errors
def fmt(session: Session, files: tuple[Path, ...], check: bool) -> None:
    """Rewrite catalog files canonically, keeping comments (default: the project's catalog)."""
    from .fmt import format_files
    from .project import load_project

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
