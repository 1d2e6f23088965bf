"""`qualify run` and `qualify demo`: create a run, and work it here with a progress bar."""

from __future__ import annotations

import shlex
import sys
import threading
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console

from qualify import console, live
from qualify import demo as demo_sites
from qualify.api import PreparedRun, Qualify, RunCreated, prepare_run
from qualify.cli.base import (
    DURATION,
    EXIT_INTERRUPTED,
    cli,
    concurrency_option,
    fetch_options,
    fetch_settings,
    json_option,
    open_app,
)
from qualify.settings import Settings
from qualify.store.database import redact
from qualify.worker import Worker, WorkerOptions


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
@concurrency_option("Jobs at once with --wait.")
@fetch_options
@json_option
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
    # The fetch options matter only to the qualifier working the run here.
    settings = fetch_settings(fetch_via, allow_private_networks) if wait else None
    with open_app(settings=settings) as app:
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
        settings = Settings(db=str(inputs.db), fetch=demo_sites.fetch_settings(gateway))
        with Qualify.open(settings=settings) as app:
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
