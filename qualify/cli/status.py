"""`qualify status` and `qualify show`: what runs and workers are doing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qualify.cli.base import EXIT_STUCK, cli, json_option, open_app, settings, stuck_after_option
from qualify.errors import NotFoundError
from qualify.timefmt import ago

if TYPE_CHECKING:
    from qualify.api import StatusReport


@cli.command()
@click.argument("run_id", type=int, required=False)
@stuck_after_option
@click.option("--watch", "live", is_flag=True, help="Refresh every second until Ctrl-C.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 3 if a run is stuck or a worker is paused (for cron/monitoring).",
)
@json_option
@click.pass_context
def status(
    ctx: click.Context,
    run_id: int | None,
    stuck_after: float,
    live: bool,
    check: bool,
    as_json: bool,
) -> None:
    """Show runs (or one run) and workers; flag stuck runs and paused workers.

    \b
    Example:
      qualify status
      qualify status 3 --json
      qualify status --check --stuck-after 10m || alert "qualify is stuck"
    """
    if live and (check or as_json):
        raise click.UsageError(
            "--watch draws a live dashboard; it takes neither --json nor --check"
        )
    # Imported here, not at start-up: `qualify --help` needs none of it.
    from rich.console import Console

    from qualify.api import Qualify
    from qualify.cli import documents, tables

    try:
        app = Qualify.open(settings=settings(), create=False, read_only=True)
    except NotFoundError:
        if run_id is not None:
            raise
        empty: dict[str, object] = {"runs": [], "workers": [], "write_lock": None}
        click.echo(documents.dumps(empty) if as_json else "No runs yet.")
        return
    with app:
        if live:
            from qualify.cli.live import watch
            from qualify.dashboard import Dashboard

            dashboard = Dashboard(app, run_id=run_id, stuck_after=stuck_after)
            watch(dashboard.refresh, app.database.display_url)
            return
        if run_id is not None and not (as_json or check):
            Console().print(tables.run_summary(app.run_summary(run_id, stuck_after=stuck_after),
                                               stuck_after))  # fmt: skip
            return
        report = app.status(run_id, stuck_after=stuck_after)
        lineage = app.lineage(report.runs[0]) if run_id is not None else None
    if as_json:
        document = (
            documents.run_json(report.runs[0], lineage)
            if run_id is not None
            else documents.status_json(report)
        )
        click.echo(documents.dumps(document))
    elif check:
        _print_check(report)
    else:
        Console().print(tables.status_view(report, stuck_after))
    if check and (report.stuck or report.paused):
        ctx.exit(EXIT_STUCK)


def _print_check(report: StatusReport) -> None:
    from qualify.cli.tables import pause_text

    for run in report.stuck:
        click.echo(
            f"STUCK run {run.id} ({run.name}): {run.status}, "
            f"{run.completed + run.failed:,}/{run.total:,} finished, no change for "
            f"{ago(report.now - run.updated_at)}"
        )
    for worker in report.paused:
        click.echo(
            f"PAUSED worker {worker.hostname}:{worker.pid}: {pause_text(worker, report.now)}"
        )
    if not report.stuck and not report.paused:
        click.echo(f"OK: no stuck runs among {len(report.runs)}")


@cli.command()
@click.argument("run_id", type=int)
@click.argument("domain", required=False)
@stuck_after_option
def show(run_id: int, domain: str | None, stuck_after: float) -> None:
    """Show a run's summary, or one domain's full result with reasons and evidence.

    \b
    Example:
      qualify show 3
      qualify show 3 acme.com
    """
    from rich.console import Console

    from qualify.cli import tables

    with open_app(create=False, read_only=True) as app:
        out = Console()
        if domain is None:
            summary = app.run_summary(run_id, stuck_after=stuck_after)
            out.print(tables.run_summary(summary, stuck_after))
        else:
            record = app.runs.job(run_id, _normalise_arg(domain))
            out.print(
                tables.job_detail(
                    record, run_id, app.runs.inputs(run_id), app.runs.history(record.job_id)
                )
            )


def _normalise_arg(domain: str) -> str:
    from qualify.domains import InvalidDomain, normalise

    try:
        return normalise(domain, public_suffix=False)
    except InvalidDomain:
        return domain.strip().lower()
