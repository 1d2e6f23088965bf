"""The ICP tuning loop: `qualify rescore`, `qualify eval`, `qualify diff`, and `qualify prune`
for the page store they read from."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from qualify.cli.base import (
    DURATION,
    EXIT_FAILED_JOBS,
    EXIT_INTERRUPTED,
    cli,
    command_line,
    concurrency_option,
    fetch_options,
    fetch_settings,
    json_option,
    open_app,
    outage_options,
    outage_settings,
    settings,
)

if TYPE_CHECKING:
    from qualify.api import RescoreCreated

# The store, rich and the tuning modules are imported by the command that runs: `qualify
# --help` stays fast.


@cli.command()
@click.argument("run_id", type=int)
@click.option(
    "--icp",
    "icp_json",
    required=True,
    metavar="ICP_JSON",
    help="The ICP to judge the run's domains against.",
)
@click.option(
    "--qualifier",
    metavar="web|MODULE:CALLABLE",
    help="What judges each domain [default: the source run's].",
)
@click.option("--name", help="A name for the new run [default: rescore of RUN_ID: ICP name].")
@click.option("--wait", is_flag=True, help="Also work the new run here, with a progress bar.")
@concurrency_option("Jobs at once with --wait.")
@fetch_options
@outage_options
@json_option
@click.pass_context
def rescore(
    ctx: click.Context,
    /,
    run_id: int,
    icp_json: str,
    qualifier: str | None,
    name: str | None,
    wait: bool,
    concurrency: int,
    outage_window: int,
    outage_threshold: int,
    probe_every: float,
    as_json: bool,
    **fetch: Any,
) -> None:
    """Judge every domain of RUN_ID again with another ICP, from the pages kept when they
    were fetched: no network for those.

    A new run, linked to RUN_ID, goes through the same queue and workers as any run
    (exactly one result per domain, resumable after a crash). Domains whose pages were
    never fetched are fetched in the same run.

    \b
    Example:
      qualify rescore 3 --icp icp-v2.json --wait
      qualify rescore 3 --icp icp-v2.json --name "bigger companies" && qualify worker --burst
    """
    from qualify.cli import documents
    from qualify.cli.run import incomplete_line, work_with_progress
    from qualify.worker import WorkerOptions

    resolved = fetch_settings(**fetch) if wait else settings()
    options = WorkerOptions(
        concurrency=concurrency, **outage_settings(outage_window, outage_threshold, probe_every)
    )
    with open_app(create=False, with_settings=resolved) as app:
        created = app.rescore(run_id, icp_json, qualifier=qualifier, name=name)
        if as_json and not wait:
            click.echo(documents.dumps(documents.rescore_json(created)))
        elif not as_json:
            _report(created)
        if wait:
            finished = work_with_progress(app, created.run_id, options, quiet=as_json)
            if as_json:
                document = {**documents.rescore_json(created), "status": finished.status}
                click.echo(documents.dumps(document))
            if finished.active:
                ctx.exit(EXIT_INTERRUPTED)
            if app.incomplete_runs([created.run_id]):
                click.echo(incomplete_line(finished), err=True)
                ctx.exit(EXIT_FAILED_JOBS)
            if not as_json:
                click.echo(
                    f"Compare: {command_line('diff', str(run_id), str(created.run_id))}", err=True
                )


def _report(created: RescoreCreated) -> None:
    fetch = created.queued - created.with_pages
    click.echo(
        f"Run {created.run_id} ({created.name}): rescore of run {created.source_run_id},"
        f" {created.queued:,} queued; {created.with_pages:,} from kept pages,"
        f" {fetch:,} to fetch"
    )
    changes = "; ".join(created.icp_changes) if created.icp_changes else "none"
    click.echo(f"ICP changes: {changes}")


@cli.command(name="eval")
@click.argument("run_id", type=int)
@click.argument("labels_csv", metavar="LABELS")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Disagreements listed (--json has them all).",
)
@json_option
def eval_command(run_id: int, labels_csv: str, limit: int, as_json: bool) -> None:
    """Measure RUN_ID against your own labels: agreement, confusion matrix, precision and
    recall of 'qualified', every disagreement and why, and which ICP criteria pushed them.

    LABELS is a CSV with a header row, a 'domain' column and a 'label' column (a verdict,
    or yes/no for qualified/not qualified, in any case); other columns are ignored, so a
    run's export with a label column added works. Rows with an empty label are skipped.

    \b
    Example:
      qualify eval 3 labels.csv
      qualify eval 5 labels.csv --json | jq .agreement
    """
    from rich.console import Console

    from qualify.cli import documents, views

    with open_app(create=False, read_only=True) as app:
        evaluation = app.evaluate(run_id, labels_csv)
    if as_json:
        click.echo(documents.dumps(documents.evaluation_json(evaluation)))
    else:
        Console().print(views.evaluation(evaluation, limit))


@cli.command()
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
    help="csv: export's columns for RUN_B's rows, plus the change.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write here (atomically) instead of stdout.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Domains listed per change in text (json and csv have them all).",
)
@json_option
def diff(run_a: int, run_b: int, fmt: str, output: str | None, limit: int, as_json: bool) -> None:
    """Show the domains whose verdict changed from RUN_A to RUN_B (a run and its rescore),
    grouped by change, with scores before and after and the reasons that changed.

    \b
    Example:
      qualify diff 3 5
      qualify diff 3 5 --format csv -o changed.csv
    """
    from rich.console import Console

    from qualify import export
    from qualify.cli import documents, views

    fmt = "json" if as_json else fmt
    with open_app(create=False, read_only=True) as app:
        if fmt == "csv":
            if output is None:
                app.export_diff(run_a, run_b, sys.stdout)
                return
            with export.atomic_output(output) as out:
                count = app.export_diff(run_a, run_b, out)
            click.echo(f"Wrote {count:,} rows to {output}", err=True)
            return
        result = app.diff(run_a, run_b)
    if fmt == "json":
        text = documents.dumps(documents.diff_json(result))
        if output is None:
            click.echo(text)
            return
        with export.atomic_output(output) as out:
            out.write(text + "\n")
        click.echo(f"Wrote {result.changed:,} changes to {output}", err=True)
        return
    if output is not None:
        raise click.UsageError("--output takes --format json or csv")
    Console().print(views.run_diff(result, limit))


@cli.command()
@click.option(
    "--older-than",
    type=DURATION,
    required=True,
    help="Remove kept pages fetched longer ago than this (e.g. 90d).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def prune(older_than: float, dry_run: bool, as_json: bool) -> None:
    """Remove old pages from the page store. Results, runs and jobs are never touched; a
    rescore of an old run fetches the pages it no longer finds.

    \b
    Example:
      qualify prune --older-than 90d --dry-run
      qualify prune --older-than 90d
    """
    from qualify.cli import documents, views

    with open_app(create=False) as app:
        report = app.prune_pages(older_than, dry_run=dry_run)
    if as_json:
        click.echo(documents.dumps(documents.prune_json(report)))
    else:
        click.echo(views.prune_text(report))
