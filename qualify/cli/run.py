"""`qualify run`: create a run, and optionally work it here with a progress bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from qualify.cli.base import (
    DURATION,
    EXIT_FAILED_JOBS,
    EXIT_INTERRUPTED,
    FETCH_OPTIONS,
    cli,
    command_line,
    concurrency_option,
    fetch_options,
    fetch_settings,
    json_option,
    lease_option,
    open_app,
    outage_options,
    outage_settings,
    settings,
)
from qualify.errors import InputError
from qualify.plural import plural

#: qualify.inputs.INPUT_FORMATS, here so that `qualify --help` need not load the readers.
INPUT_FORMATS = ("text", "csv", "tsv", "xlsx")

if TYPE_CHECKING:
    # Imported where they are used: `qualify --help` must start fast.
    from qualify.api import PreparedRun, Qualify, RunCreated
    from qualify.store import Run
    from qualify.worker import WorkerOptions


@cli.command()
@click.argument("icp_json", metavar="ICP_JSON")
@click.argument("domains_file", metavar="DOMAINS_FILE")
@click.option(
    "--input-format",
    type=click.Choice(INPUT_FORMATS),
    help="What DOMAINS_FILE is [default: from its extension, else its content].",
)
@click.option("--column", metavar="NAME", help="The column holding the websites (CSV, TSV, XLSX).")
@click.option("--sheet", metavar="NAME", help="The workbook's sheet to read [default: the first].")
@click.option(
    "--carry",
    metavar="all|none|A,B",
    default="all",
    show_default=True,
    help="Input columns each job keeps, for the export.",
)
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
@lease_option
@fetch_options
@outage_options
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    /,
    icp_json: str,
    domains_file: str,
    input_format: str | None,
    column: str | None,
    sheet: str | None,
    carry: str,
    name: str | None,
    qualifier: str | None,
    max_attempts: int,
    backoff: float,
    max_page_age: float,
    wait: bool,
    concurrency: int,
    lease: float,
    outage_window: int,
    outage_threshold: int,
    probe_every: float,
    as_json: bool,
    **fetch: Any,
) -> None:
    """Queue a run: one job per unique domain of DOMAINS_FILE ('-' for stdin).

    DOMAINS_FILE is a list (one domain or URL per line), a CSV or TSV file or an
    .xlsx workbook, such as a CRM's export: the column holding the websites is found
    by its name or content (or give --column). Each job keeps its input row, so
    `qualify export` joins back on the CRM's own ids. Everything is checked before
    anything is written: the run and all its jobs appear together or not at all.
    Workers (`qualify worker`) do the work. With --wait it exits 4 if the run ends
    with failed jobs.

    \b
    Example:
      qualify run icp.json leads.csv --wait
      qualify run icp.json export.xlsx --sheet Companies --column Website
      cat domains.txt | qualify run icp.json - --qualifier mymodule:score
    """
    from qualify.api import prepare_run
    from qualify.cli import documents
    from qualify.inputs import ColumnError
    from qualify.worker import WorkerOptions

    try:
        prepared = prepare_run(
            icp_json,
            domains_file,
            qualifier,
            input_format=input_format,
            column=column,
            sheet=sheet,
            carry=_carried_columns(carry),
        )
    except ColumnError as exc:
        raise InputError(f"{exc}; choose with --column NAME") from None
    # Fetch and worker settings are checked before anything is written, too.
    resolved = fetch_settings(**fetch) if wait else settings()
    options = WorkerOptions(
        concurrency=concurrency,
        lease=lease,
        **outage_settings(outage_window, outage_threshold, probe_every),
    )
    with open_app(with_settings=resolved) as app:
        if (warning := app.queue.warning()) is not None:
            click.echo(f"Warning: {warning}", err=True)
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
            finished = work_with_progress(app, created.run_id, options, quiet=as_json)
            if as_json:
                document = {**documents.created_json(created), "status": finished.status}
                click.echo(documents.dumps(document))
            if finished.active:
                ctx.exit(EXIT_INTERRUPTED)
            if app.incomplete_runs([created.run_id]):
                click.echo(incomplete_line(finished), err=True)
                ctx.exit(EXIT_FAILED_JOBS)


def _carried_columns(carry: str) -> list[str] | None:
    if carry.strip().lower() == "all":
        return None
    if carry.strip().lower() == "none":
        return []
    names = [name.strip() for name in carry.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("expected all, none or column names", param_hint="--carry")
    return names


def report_created(created: RunCreated, prepared: PreparedRun) -> None:
    from qualify.inputs.columns import MAX_CELL_CHARS

    source = prepared.domains.source
    unit = created.unit
    for line in created.invalid[:20]:
        where = f"{source}:{line.line}" if unit == "line" else f"{source} {unit} {line.line}"
        click.echo(f"skipped {where}: {line.text!r}: {line.reason}", err=True)
    if created.invalid_count > 20:
        more = plural(created.invalid_count - 20, f"more invalid {unit}")
        click.echo(f"… and {more}", err=True)
    skipped = []
    if created.duplicates:
        skipped.append(plural(created.duplicates, "duplicate"))
    if created.invalid_count:
        skipped.append(plural(created.invalid_count, f"invalid {unit}"))
    summary = f"{created.queued:,} queued"
    if created.domain_column is not None:
        summary += f" from column {created.domain_column!r}"
        if created.fallback_columns:
            others = " or ".join(repr(c) for c in created.fallback_columns)
            summary += f" (else {others})"
    if skipped:
        summary += ", " + " and ".join(skipped) + " skipped"
    click.echo(f"Run {created.run_id} ({created.name}): {summary}")
    if created.cut_cells:
        click.echo(
            f"note: {plural(created.cut_cells, 'input cell')} cut to"
            f" {MAX_CELL_CHARS:,} characters for the export",
            err=True,
        )


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
    from rich.console import Console

    from qualify.cli.live import RunProgress

    bar = RunProgress(run_id, app.runs.get(run_id).total, Console(stderr=True), disable=quiet)
    with bar.shown():
        final = app.work_run(run_id, options, on_progress=bar.update)
    if final.active:
        left = final.total - final.finished
        # Plain lines, never wrapped: the commands in them are meant to be pasted.
        click.echo(
            f"Interrupted: run {run_id} keeps its {plural(final.finished, 'finished job')};"
            f" the other {left:,} {'stays' if left == 1 else 'stay'} queued.",
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


def incomplete_line(run: Run) -> str:
    """One line for a run that is over without a result for every job (exit 4)."""
    show = command_line("show", str(run.id))
    if run.failed:
        return f"Run {run.id} finished with {run.failed:,} failed of {run.total:,}; {show}"
    return (
        f"Run {run.id} is {run.status} with {run.total - run.completed:,} of {run.total:,}"
        f" jobs without a result; {show}"
    )


def _resume_command() -> str:
    params = click.get_current_context().params
    args = ["worker", "--burst"]
    for name in FETCH_OPTIONS:
        value = params.get(name)
        if value is True:
            args.append("--" + name.replace("_", "-"))
        elif value:
            args += ["--" + name.replace("_", "-"), str(value)]
    return command_line(*args)
