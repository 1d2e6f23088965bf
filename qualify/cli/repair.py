"""`qualify recover`, `retry` and `cancel`: acting on runs."""

from __future__ import annotations

import click

from qualify.cli import documents
from qualify.cli.base import (
    DURATION,
    cli,
    json_option,
    open_app,
)


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
@json_option
def recover(older_than: float, mark_failed: bool, dry_run: bool, as_json: bool) -> None:
    """Resume (or with --fail, give up on) stuck runs. Live leases are never touched.

    \b
    Example:
      qualify recover --older-than 5m --dry-run
      qualify recover --older-than 1h --fail
    """
    with open_app(create=False) as app:
        actions = app.recover(older_than, fail=mark_failed, dry_run=dry_run)
    if as_json:
        click.echo(documents.dumps(documents.recovery_json(actions, dry_run=dry_run)))
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
    with open_app(create=False) as app:
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
    with open_app(create=False) as app:
        count = app.cancel(run_id)
    click.echo(f"Run {run_id} cancelled: {count:,} unfinished jobs cancelled")
