"""`qualify status` and `qualify show`: what runs and workers are doing."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from qualify import console, live
from qualify.api import Qualify
from qualify.cli.base import (
    EXIT_STUCK,
    cli,
    json_option,
    open_app,
    stuck_after_option,
)
from qualify.dashboard import Dashboard
from qualify.errors import NotFoundError
from qualify.settings import Settings
from qualify.timefmt import ago


@cli.command()
@click.argument("run_id", type=int, required=False)
@stuck_after_option
@click.option("--watch", is_flag=True, help="Refresh every second until Ctrl-C.")
@click.option("--check", is_flag=True, help="Exit 3 if a run is stuck (for cron/monitoring).")
@json_option
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
        app = Qualify.open(settings=settings, create=False)
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
@stuck_after_option
def show(run_id: int, domain: str | None, stuck_after: float) -> None:
    """Show a run's summary, or one domain's full result with reasons and evidence.

    \b
    Example:
      qualify show 3
      qualify show 3 acme.com
    """
    with open_app(create=False) as app:
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
