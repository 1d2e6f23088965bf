"""`qualify run`: create a run, and optionally work it here with a progress bar."""

from __future__ import annotations

import click
from rich.console import Console

from qualify.api import PreparedRun, Qualify, RunCreated, prepare_run
from qualify.cli import documents
from qualify.cli.base import (
    DURATION,
    EXIT_INTERRUPTED,
    cli,
    command_line,
    concurrency_option,
    fetch_options,
    fetch_settings,
    json_option,
    open_app,
    settings,
)
from qualify.cli.live import RunProgress
from qualify.store import Run
from qualify.worker import WorkerOptions


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
@click.option(
    "--max-page-age",
    type=DURATION,
    default="30d",
    show_default=True,
    help="Use a kept copy of a page fetched this recently instead of fetching it; 0: never.",
)
@click.option("--wait", is_flag=True, help="Also work the run here, with a progress bar.")
@concurrency_option("Jobs at once with --wait.")
@fetch_options
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    icp_json: str,
    domains_file: str,
    name: str | None,
    qualifier: str | None,
    max_attempts: int,
    backoff: float,
    max_page_age: float,
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
    # Fetch settings are checked before anything is written, too.
    resolved = fetch_settings(fetch_via, allow_private_networks) if wait else settings()
    with open_app(with_settings=resolved) as app:
        created = app.create_run(
            prepared,
            name=name,
            max_attempts=max_attempts,
            backoff=backoff,
            max_page_age=max_page_age,
        )
        if as_json and not wait:
            click.echo(documents.dumps(documents.created_json(created)))
        elif not as_json:
            report_created(created, prepared)
        if wait:
            options = WorkerOptions(concurrency=concurrency)
            finished = work_with_progress(app, created.run_id, options, quiet=as_json)
            if as_json:
                document = {**documents.created_json(created), "status": finished.status}
                click.echo(documents.dumps(document))
            if finished.active:
                ctx.exit(EXIT_INTERRUPTED)


def report_created(created: RunCreated, prepared: PreparedRun) -> None:
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


def work_with_progress(
    app: Qualify,
    run_id: int,
    options: WorkerOptions,
    *,
    quiet: bool,
    resume: str | None = None,
    hints: bool = True,
) -> Run:
    """Work the run in this process with a live progress bar until it is finished, or until
    Ctrl-C (the worker hands its in-flight jobs back; ``resume`` says how to go on)."""
    bar = RunProgress(run_id, app.runs.get(run_id).total, Console(stderr=True), disable=quiet)
    with bar.shown():
        final = app.work_run(run_id, options, on_progress=bar.update)
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
            summary += f" Export: {command_line('export', str(run_id))}"
        click.echo(summary, err=True)
    return final


def _resume_command() -> str:
    params = click.get_current_context().params
    args = ["worker", "--burst"]
    if params.get("fetch_via"):
        args += ["--fetch-via", params["fetch_via"]]
    if params.get("allow_private_networks"):
        args.append("--allow-private-networks")
    return command_line(*args)
