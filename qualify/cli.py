"""The ``qualify`` command: parse, call one library function, render. No logic lives here."""

from __future__ import annotations

import logging
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
import peewee
from click.core import ParameterSource
from rich.console import Console

from qualify import __version__, console, export, live
from qualify import demo as demo_sites
from qualify.api import PreparedRun, Qualify, RunCreated, prepare_run
from qualify.config import Settings
from qualify.dashboard import Dashboard
from qualify.durations import parse_duration
from qualify.errors import NotFoundError, QualifyError
from qualify.store.database import redact
from qualify.timefmt import ago
from qualify.worker import Worker, WorkerOptions

EXIT_STUCK = 3
EXIT_INTERRUPTED = 130


class Duration(click.ParamType):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except QualifyError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


class QualifyGroup(click.Group):
    """Every error becomes one line on stderr and the right exit code: the library's typed
    errors, click's usage errors (2) and database failures (1). Never a traceback."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            _fail(exc.format_message() + hint, exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("interrupted", EXIT_INTERRUPTED)
        except QualifyError as exc:
            _fail(str(exc), exc.exit_code)
        except peewee.DatabaseError as exc:
            _fail(f"database error: {' '.join(str(exc).split())}", 1)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.group(cls=QualifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="QUALIFY_DB",
    metavar="PATH|URL",
    help="Store: a SQLite path, sqlite:///path or postgresql://… [env QUALIFY_DB; ./qualify.db]",
)
@click.option(
    "--queue",
    envvar="QUALIFY_QUEUE",
    metavar="URL",
    help="Queue: redis://… [env QUALIFY_QUEUE; default: inside the store's database]",
)
@click.version_option(__version__, prog_name="qualify")
@click.pass_context
def cli(ctx: click.Context, db: str | None, queue: str | None) -> None:
    """Qualify company web domains against an Ideal Customer Profile, durably.

    \b
    Example:
      qualify run icp.json domains.txt && qualify worker --burst
    """
    ctx.obj = Settings.resolve(db, queue)


@contextmanager
def _app(*, create: bool = True) -> Iterator[Qualify]:
    settings: Settings = click.get_current_context().obj
    app = Qualify.open(settings.db, settings.queue, create=create)
    try:
        yield app
    finally:
        app.close()


def _json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(func)


def _stuck_after_option(func: Callable) -> Callable:
    return click.option(
        "--stuck-after",
        type=DURATION,
        default="5m",
        show_default=True,
        help="A run with no movement and no live lease for this long is STUCK.",
    )(func)


def _fetch_options(func: Callable) -> Callable:
    """Options of the web qualifier, for commands that qualify domains in this process."""
    func = click.option(
        "--allow-private-networks",
        is_flag=True,
        default=None,
        help="Let the web qualifier fetch private, loopback and link-local addresses.",
    )(func)
    return click.option(
        "--fetch-via",
        metavar="URL",
        help="Fetch through this gateway; {url} is the encoded target [env QUALIFY_FETCH_VIA].",
    )(func)


def _configure_fetching(fetch_via: str | None, allow_private_networks: bool | None) -> None:
    # Also checks the environment's settings now, not at the first domain.
    from qualify.qualifiers import web

    web.configure(fetch_via=fetch_via, allow_private_networks=allow_private_networks)


# -- run ------------------------------------------------------------------------------------


@cli.command()
@click.argument("icp_json", metavar="ICP_JSON")
@click.argument("domains_file", metavar="DOMAINS_FILE")
@click.option("--name", help="A name for the run [default: ICP name / file name].")
@click.option("--qualifier", metavar="web|MODULE:CALLABLE", help="What judges each domain.")
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Attempts per domain before it fails.",
)
@click.option(
    "--backoff",
    type=DURATION,
    default="10s",
    show_default=True,
    help="First retry delay; doubles each attempt, with jitter.",
)
@click.option("--wait", is_flag=True, help="Also work the run here, with a progress bar.")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 1024),
    default=4,
    show_default=True,
    help="Jobs at once with --wait.",
)
@_fetch_options
@_json_option
def run(
    icp_json: str,
    domains_file: str,
    name: str | None,
    qualifier: str | None,
    max_attempts: int,
    backoff: float,
    wait: bool,
    concurrency: int,
    fetch_via: str | None,
    allow_private_networks: bool | None,
    as_json: bool,
) -> None:
    """Queue a run: one job per unique domain of DOMAINS_FILE ('-' for stdin).

    Everything is checked before anything is written: the run and all its jobs
    appear together or not at all. Workers (`qualify worker`) do the work.

    \b
    Example:
      qualify run icp.json domains.txt --qualifier mymodule:score
      cat domains.txt | qualify run icp.json - --wait
    """
    prepared = prepare_run(icp_json, domains_file, qualifier)
    if wait:
        _configure_fetching(fetch_via, allow_private_networks)
    with _app() as app:
        created = app.create_run(prepared, name=name, max_attempts=max_attempts, backoff=backoff)
        if as_json and not wait:
            click.echo(console.dumps(_created_json(created)))
        elif not as_json:
            _report_created(created, prepared)
        if wait:
            finished = _work_run(app, created.run_id, concurrency, quiet=as_json)
            if as_json:
                click.echo(console.dumps({**_created_json(created), "status": finished.status}))
            if finished.active:
                sys.exit(EXIT_INTERRUPTED)


def _created_json(created: RunCreated) -> dict[str, Any]:
    return {
        "run_id": created.run_id,
        "queued": created.queued,
        "duplicates": created.duplicates,
        "invalid": [line.as_dict() for line in created.invalid],
    }


def _report_created(created: RunCreated, prepared: PreparedRun) -> None:
    source = prepared.domains.source
    for line in created.invalid[:20]:
        click.echo(f"skipped {source}:{line.line}: {line.text!r}: {line.reason}", err=True)
    if created.invalid_count > 20:
        click.echo(f"… and {created.invalid_count - 20:,} more invalid lines", err=True)
    skipped = []
    if created.duplicates:
        skipped.append(f"{created.duplicates:,} duplicate{'s' if created.duplicates != 1 else ''}")
    if created.invalid_count:
        lines = "line" if created.invalid_count == 1 else "lines"
        skipped.append(f"{created.invalid_count:,} invalid {lines}")
    summary = f"{created.queued:,} queued"
    if skipped:
        summary += ", " + " and ".join(skipped) + " skipped"
    click.echo(f"Run {created.run_id} ({created.name}): {summary}")


def _work_run(
    app: Qualify,
    run_id: int,
    concurrency: int,
    quiet: bool,
    resume: str | None = None,
    hints: bool = True,
) -> Any:
    """Work the run in this process with a live progress bar until it is finished, or until
    Ctrl-C (the worker hands its in-flight jobs back; ``resume`` says how to go on)."""
    err = Console(stderr=True)
    options = WorkerOptions(concurrency=concurrency)
    worker = Worker(app, options, stop_when=lambda: not app.runs.get(run_id).active)
    bar = live.RunProgress(run_id, app.runs.get(run_id).total, err, disable=quiet)
    done = threading.Event()

    def poll() -> None:
        # Its own connection: the worker's threads keep theirs busy.
        while not done.wait(0.5):
            bar.update(app.runs.get(run_id))
        app.database.close()

    poller = threading.Thread(target=poll, daemon=True)
    with bar.shown():
        poller.start()
        worker.run()
        done.set()
        poller.join()
        final = app.runs.get(run_id)
        bar.update(final)
    if final.active:
        left = final.total - final.finished
        # Plain lines, never wrapped: the commands in them are meant to be pasted.
        click.echo(
            f"Interrupted: run {run_id} keeps its {final.finished:,} finished jobs;"
            f" the other {left:,} stay queued.",
            err=True,
        )
        click.echo(resume or f"Resume with: {_resume_command()}", err=True)
    elif not quiet:
        summary = (
            f"Run {run_id} {final.status}: {final.completed:,} done ({final.qualified:,}"
            f" qualified), {final.failed:,} failed."
        )
        if hints:
            summary += f" Export: {_command('export', str(run_id))}"
        click.echo(summary, err=True)
    return final


def _command(*args: str) -> str:
    """A qualify command line for the database this command uses (``--db`` only when it is
    not the default one), for hints people can paste."""
    root = click.get_current_context().find_root()
    settings: Settings = root.obj
    words = ["qualify"]
    # Settings from the environment stay there; a password is never printed.
    if root.get_parameter_source("db") == ParameterSource.COMMANDLINE:
        words += ["--db", redact(settings.db)]
    if root.get_parameter_source("queue") == ParameterSource.COMMANDLINE and settings.queue:
        words += ["--queue", redact(settings.queue)]
    return shlex.join([*words, *args])


def _resume_command() -> str:
    params = click.get_current_context().params
    args = ["worker", "--burst"]
    if params.get("fetch_via"):
        args += ["--fetch-via", params["fetch_via"]]
    if params.get("allow_private_networks"):
        args.append("--allow-private-networks")
    return _command(*args)


# -- demo -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=demo_sites.DEFAULT_DIR,
    show_default=True,
    help="Where the ICP, the domain list and the database go.",
)
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=4, show_default=True)
def demo(directory: str, concurrency: int) -> None:
    """Qualify a handful of fictional companies end to end, offline: the first thing to try.

    Writes the example ICP and a domain list into DIR, serves the companies' small
    websites (bundled with qualify) from a local server on 127.0.0.1, and works the run
    through the real queue, worker and web qualifier with a progress bar. Then shows the
    results and where the database is (DIR/qualify.db; --db is not used). Nothing goes to
    the network.

    \b
    Example:
      qualify demo
      qualify demo --dir /tmp/try-qualify
    """
    inputs = demo_sites.write_inputs(Path(directory))
    prepared = prepare_run(str(inputs.icp), str(inputs.domains), "web")
    with demo_sites.DemoGateway() as gateway:
        demo_sites.configure_web(gateway)
        with Qualify.open(str(inputs.db)) as app:
            created = app.create_run(
                prepared,
                name=demo_sites.RUN_NAME,
                max_attempts=demo_sites.MAX_ATTEMPTS,
                backoff=demo_sites.BACKOFF,
            )
            click.echo(
                f"Run {created.run_id}: {created.queued} fictional companies from"
                f" {inputs.domains}, judged against {inputs.icp}"
            )
            final = _work_run(
                app,
                created.run_id,
                concurrency,
                quiet=False,
                resume="The demo's sites live only while it runs: start over with qualify demo",
                hints=False,
            )
            if final.active:
                sys.exit(EXIT_INTERRUPTED)
            Console().print(console.results_table(app.runs.records(created.run_id)))
    db = shlex.quote(str(inputs.db))
    run_id = created.run_id
    steps = [
        (f"show {run_id} {demo_sites.SITES[0].host}", "one company's reasons and evidence"),
        (f"export {run_id} -o demo.csv", "every row, for a spreadsheet"),
        ("status", "runs and workers"),
    ]
    click.echo(f"\nThe run is stored in {inputs.db}. Next:")
    width = max(len(command) for command, _ in steps)
    for command, what in steps:
        click.echo(f"  qualify --db {db} {command:<{width}}  # {what}")


# -- worker ---------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 1024),
    default=4,
    show_default=True,
    help="Jobs worked at once by this process.",
)
@click.option("--burst", is_flag=True, help="Exit 0 once no job is queued, running or waiting.")
@click.option(
    "--lease",
    type=DURATION,
    default="30s",
    show_default=True,
    help="How long a job stays ours without a heartbeat (renewed every lease/3).",
)
@click.option(
    "--grace",
    type=DURATION,
    default="10s",
    show_default=True,
    help="On SIGINT/SIGTERM, time for in-flight jobs to finish before they go back.",
)
@click.option(
    "--job-timeout",
    type=DURATION,
    default="10m",
    show_default=True,
    help="A job running longer is abandoned to another worker.",
)
@click.option("-v", "--verbose", count=True, help="One line per finished job.")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
@_fetch_options
def worker(
    concurrency: int,
    burst: bool,
    lease: float,
    grace: float,
    job_timeout: float,
    verbose: int,
    quiet: bool,
    fetch_via: str | None,
    allow_private_networks: bool | None,
) -> None:
    """Work queued jobs until stopped (Ctrl-C or SIGTERM hands in-flight jobs back).

    Run as many workers as you like, on as many machines as share the store.

    \b
    Example:
      qualify worker --concurrency 16
      qualify worker --burst -v
    """
    _configure_logging(verbose, quiet)
    _configure_fetching(fetch_via, allow_private_networks)
    options = WorkerOptions(
        concurrency=concurrency, lease=lease, burst=burst, grace=grace, job_timeout=job_timeout
    )
    with _app() as app:
        Worker(app, options).run()


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("qualify").setLevel(level)


# -- status / show --------------------------------------------------------------------------


@cli.command()
@click.argument("run_id", type=int, required=False)
@_stuck_after_option
@click.option("--watch", is_flag=True, help="Refresh every second until Ctrl-C.")
@click.option("--check", is_flag=True, help="Exit 3 if a run is stuck (for cron/monitoring).")
@_json_option
def status(run_id: int | None, stuck_after: float, watch: bool, check: bool, as_json: bool) -> None:
    """Show runs (or one run) and workers; flag stuck runs.

    \b
    Example:
      qualify status
      qualify status 3 --json
      qualify status --check --stuck-after 10m || alert "qualify is stuck"
    """
    if watch and (check or as_json):
        raise click.UsageError(
            "--watch draws a live dashboard; it takes neither --json nor --check"
        )
    settings: Settings = click.get_current_context().obj
    try:
        app = Qualify.open(settings.db, settings.queue, create=False)
    except NotFoundError:
        if run_id is not None:
            raise
        _print_status_empty(as_json)
        return
    try:
        if watch:
            _watch(app, run_id, stuck_after)
            return
        now = app.database.now()
        if run_id is not None:
            runs = [app.runs.get(run_id, stuck_after=stuck_after)]
        else:
            runs = app.runs.list(stuck_after=stuck_after)
        stuck = [run for run in runs if run.stuck]
        if as_json:
            document: Any = (
                console.run_json(runs[0])
                if run_id is not None
                else {
                    "runs": [console.run_json(run) for run in runs],
                    "workers": [console.worker_json(w) for w in app.workers.list()],
                }
            )
            click.echo(console.dumps(document))
        elif check:
            for run in stuck:
                click.echo(
                    f"STUCK run {run.id} ({run.name}): {run.status}, "
                    f"{run.completed + run.failed:,}/{run.total:,} finished, no change for "
                    f"{ago(now - run.updated_at)}"
                )
            if not stuck:
                click.echo(f"OK: no stuck runs among {len(runs)}")
        elif run_id is not None:
            Console().print(_run_summary(app, runs[0], now, stuck_after))
        else:
            Console().print(console.status_view(runs, app.workers.list(), now, stuck_after))
        if check and stuck:
            sys.exit(EXIT_STUCK)
    finally:
        app.close()


def _print_status_empty(as_json: bool) -> None:
    if as_json:
        click.echo(console.dumps({"runs": [], "workers": []}))
    else:
        click.echo("No runs yet.")


def _watch(app: Qualify, run_id: int | None, stuck_after: float) -> None:
    dashboard = Dashboard(app, run_id=run_id, stuck_after=stuck_after)
    live.watch(dashboard.refresh, app.database.display_url)


@cli.command()
@click.argument("run_id", type=int)
@click.argument("domain", required=False)
@_stuck_after_option
def show(run_id: int, domain: str | None, stuck_after: float) -> None:
    """Show a run's summary, or one domain's full result with reasons and evidence.

    \b
    Example:
      qualify show 3
      qualify show 3 acme.com
    """
    with _app(create=False) as app:
        out = Console()
        if domain is None:
            run = app.runs.get(run_id, stuck_after=stuck_after)
            out.print(_run_summary(app, run, app.database.now(), stuck_after))
        else:
            record = app.runs.job(run_id, _normalise_arg(domain))
            out.print(console.job_detail(record, run_id))


def _run_summary(app: Qualify, run: Any, now: float, stuck_after: float) -> Any:
    return console.run_summary(
        run,
        app.runs.count_jobs_by_state(run.id),
        app.runs.live_leases(run.id),
        now,
        verdicts=app.runs.count_verdicts(run.id),
        failures=app.runs.count_failures(run.id) if run.failed else None,
        stuck_after=stuck_after,
    )


def _normalise_arg(domain: str) -> str:
    from qualify.domains import InvalidDomain, normalise

    try:
        return normalise(domain)
    except InvalidDomain:
        return domain.strip().lower()


# -- recover / retry / cancel ---------------------------------------------------------------


@cli.command()
@click.option(
    "--older-than",
    type=DURATION,
    required=True,
    help="Act on runs with no movement and no live lease for this long.",
)
@click.option(
    "--fail",
    "mark_failed",
    is_flag=True,
    help="Mark stuck runs FAILED and end their unfinished jobs, instead of resuming.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@_json_option
def recover(older_than: float, mark_failed: bool, dry_run: bool, as_json: bool) -> None:
    """Resume (or with --fail, give up on) stuck runs. Live leases are never touched.

    \b
    Example:
      qualify recover --older-than 5m --dry-run
      qualify recover --older-than 1h --fail
    """
    with _app(create=False) as app:
        actions = app.recover(older_than, fail=mark_failed, dry_run=dry_run)
    if as_json:
        click.echo(
            console.dumps(
                {
                    "dry_run": dry_run,
                    "runs": [
                        {
                            "run_id": a.run_id,
                            "name": a.name,
                            "action": a.action,
                            "requeued": a.requeued,
                            "failed": a.failed,
                            "queued": a.waiting_for_worker,
                            "jobs": a.job_states,
                        }
                        for a in actions
                    ],
                }
            )
        )
        return
    if not actions:
        click.echo("No stuck runs.")
        return
    for a in actions:
        if a.action == "fail":
            verb = "Would mark FAILED" if dry_run else "Marked FAILED"
            click.echo(
                f"{verb}: run {a.run_id} ({a.name}), {a.failed:,} unfinished jobs"
                " failed; results kept"
            )
            continue
        verb = "Would resume" if dry_run else "Resumed"
        line = f"{verb}: run {a.run_id} ({a.name}), {_jobs(a.requeued)} re-queued"
        if a.failed:
            line += f", {a.failed:,} failed after too many attempts"
        if a.waiting_for_worker:
            line += f"; {_jobs(a.waiting_for_worker, 'queued ')} need a worker: qualify worker"
        click.echo(line)


def _jobs(count: int, kind: str = "") -> str:
    return f"{count:,} {kind}job{'' if count == 1 else 's'}"


@cli.command()
@click.argument("run_id", type=int)
def retry(run_id: int) -> None:
    """Put a run's failed jobs back in the queue with fresh attempts.

    \b
    Example:
      qualify retry 3 && qualify worker --burst
    """
    with _app(create=False) as app:
        count = app.retry(run_id)
    click.echo(f"Run {run_id}: {count:,} failed jobs queued again")


@cli.command()
@click.argument("run_id", type=int)
def cancel(run_id: int) -> None:
    """Cancel a run: its unfinished jobs end as cancelled; results so far are kept.

    \b
    Example:
      qualify cancel 3
    """
    with _app(create=False) as app:
        count = app.cancel(run_id)
    click.echo(f"Run {run_id} cancelled: {count:,} unfinished jobs cancelled")


# -- export ---------------------------------------------------------------------------------


@cli.command(name="export")
@click.argument("run_id", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(export.FORMATS), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write here (atomically) instead of stdout.",
)
@click.option(
    "--verdict",
    type=click.Choice(export.VERDICT_FILTERS),
    multiple=True,
    help="Only rows with this verdict ('failed': jobs that failed); repeat for several.",
)
def export_command(run_id: int, fmt: str, output: str | None, verdict: tuple[str, ...]) -> None:
    """Export one row per domain: verdict, score, tier, reasons, error, attempts, evidence.

    CSV opens in any spreadsheet or CRM import: one row per domain, the reasons one per
    line inside their cell, the evidence as JSON. JSONL and JSON keep every field as is.

    \b
    Example:
      qualify export 3 --verdict qualified -o qualified.csv
      qualify export 3 --verdict qualified --verdict review -o to-check.csv
      qualify export 3 --format jsonl | jq .domain
    """
    with _app(create=False) as app:
        records = app.runs.records(run_id, verdict=verdict)
        keys = app.runs.result_keys(run_id)
        if output is None:
            export.write(records, fmt, sys.stdout, result_keys=keys)
            return
        with export.atomic_output(output) as out:
            count = export.write(records, fmt, out, result_keys=keys)
    click.echo(f"Wrote {count:,} rows to {output}", err=True)


def main() -> None:
    cli(prog_name="qualify")
