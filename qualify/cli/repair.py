"""`qualify recover`, `retry` and `cancel`: acting on runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from qualify.cli.base import (
    DURATION,
    STUCK_AFTER,
    cli,
    json_option,
    open_app,
)
from qualify.plural import plural
from qualify.qualifiers import VERDICTS

if TYPE_CHECKING:
    from qualify.api import Recovery


@cli.command()
@click.option(
    "--older-than",
    type=DURATION,
    default=STUCK_AFTER,
    show_default=True,
    help="Act on runs with no movement and no live lease for this long (as status shows).",
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
    from qualify.cli import documents

    with open_app(create=False) as app:
        actions = app.recover(older_than, fail=mark_failed, dry_run=dry_run)
    if as_json:
        click.echo(documents.dumps(documents.recovery_json(actions, dry_run=dry_run)))
        return
    if not actions:
        click.echo("No stuck runs.")
        return
    for a in actions:
        click.echo(recovery_line(a))


def recovery_line(a: Recovery) -> str:
    """What recover did to one run, or (dry run) would do: the same words either way."""
    if a.action == "fail":
        verb = "Would mark FAILED" if a.dry_run else "Marked FAILED"
        return (
            f"{verb}: run {a.run_id} ({a.name}), {plural(a.failed, 'unfinished job')}"
            " failed; results kept"
        )
    verb = "Would resume" if a.dry_run else "Resumed"
    line = f"{verb}: run {a.run_id} ({a.name}), {plural(a.requeued, 'job')} re-queued"
    if a.failed:
        line += f", {a.failed:,} failed after too many attempts"
    if a.waiting_for_worker:
        needs = "needs" if a.waiting_for_worker == 1 else "need"
        line += f"; {plural(a.waiting_for_worker, 'queued job')} {needs} a worker: qualify worker"
    return line


@cli.command()
@click.argument("run_id", type=int)
@click.option(
    "--code",
    "codes",
    multiple=True,
    metavar="CODE",
    help="Jobs that ended with this error code, failed or as a result (repeatable).",
)
@click.option(
    "--verdict",
    "verdicts",
    multiple=True,
    type=click.Choice(VERDICTS),
    help="Jobs whose result has this verdict (repeatable).",
)
def retry(run_id: int, codes: tuple[str, ...], verdicts: tuple[str, ...]) -> None:
    """Put a run's failed jobs back in the queue with fresh attempts; with --code or
    --verdict, the finished jobs that match (results that may be wrong). How they had
    ended is kept as history; the new outcome becomes current.

    \b
    Example:
      qualify retry 3 && qualify worker --burst
      qualify retry 3 --code dns_nxdomain --verdict unknown
    """
    if any(not code.strip() for code in codes):
        raise click.BadParameter(
            "expected an error code such as dns_nxdomain", param_hint="'--code'"
        )
    with open_app(create=False) as app:
        report = app.retry(run_id, codes=codes, verdicts=verdicts)
    if not codes and not verdicts:
        click.echo(f"Run {run_id}: {plural(report.requeued, 'failed job')} queued again")
        return
    click.echo(
        f"Run {run_id}: {plural(report.requeued, 'job')} queued again ({report.done:,} with a"
        f" result, {report.failed:,} failed); their earlier outcomes are kept as history"
    )


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
    click.echo(f"Run {run_id} cancelled: {plural(count, 'unfinished job')} cancelled")


@cli.command("run-set")
@click.argument("run_id", type=int)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=0),
    help="A new token budget; a run stopped at BUDGET that it covers goes on.",
)
@click.option("--no-budget", is_flag=True, help="Remove the run's token budget.")
@click.option("--price-in", type=click.FloatRange(min=0), help="Price per 1M prompt tokens.")
@click.option("--price-out", type=click.FloatRange(min=0), help="Price per 1M completion tokens.")
def run_set(
    run_id: int,
    max_tokens: int | None,
    no_budget: bool,
    price_in: float | None,
    price_out: float | None,
) -> None:
    """Change an llm run's token budget or prices (for its estimated cost).

    \b
    Example:
      qualify run-set 3 --max-tokens 2000000
      qualify run-set 3 --price-in 0.15 --price-out 0.60
    """
    from qualify.errors import InputError

    if max_tokens is None and not no_budget and price_in is None and price_out is None:
        raise InputError("run-set: give --max-tokens, --no-budget, --price-in or --price-out")
    if no_budget and max_tokens is not None:
        raise InputError("run-set: --max-tokens and --no-budget exclude each other")
    with open_app(create=False) as app:
        account = app.set_run_budget(
            run_id,
            max_tokens=max_tokens,
            no_budget=no_budget,
            price_in=price_in,
            price_out=price_out,
        )
        status = app.runs.get(run_id).status
    budget = "no budget" if account.max_tokens is None else f"budget {account.max_tokens:,}"
    click.echo(f"Run {run_id} {status}: {account.tokens:,} tokens used, {budget}")
