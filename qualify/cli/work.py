"""`qualify worker`: work queued jobs until stopped."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from qualify.cli.base import (
    DURATION,
    EXIT_FAILED_JOBS,
    cli,
    concurrency_option,
    fetch_options,
    fetch_settings,
    lease_option,
    open_app,
    outage_options,
    outage_settings,
)


@cli.command()
@concurrency_option("Jobs worked at once by this process.")
@click.option("--burst", is_flag=True, help="Exit 0 once no job is queued, running or waiting.")
@lease_option
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
@fetch_options
@outage_options
@click.pass_context
def worker(
    ctx: click.Context,
    /,
    concurrency: int,
    burst: bool,
    lease: float,
    grace: float,
    job_timeout: float,
    verbose: int,
    quiet: bool,
    outage_window: int,
    outage_threshold: int,
    probe_every: float,
    **fetch: Any,
) -> None:
    """Work queued jobs until stopped (Ctrl-C or SIGTERM hands in-flight jobs back).

    Run as many workers as you like, on as many machines as share the store. With
    --burst it exits 4 if a run it worked on ended with failed jobs. When the
    network fails (DNS, connections everywhere) it pauses, probes, and resumes.

    \b
    Example:
      qualify worker --concurrency 16
      qualify worker --burst -v
    """
    from qualify.cli.run import incomplete_line
    from qualify.worker import WorkerOptions

    _configure_logging(verbose, quiet)
    options = WorkerOptions(
        concurrency=concurrency,
        lease=lease,
        burst=burst,
        grace=grace,
        job_timeout=job_timeout,
        **outage_settings(outage_window, outage_threshold, probe_every),
    )
    with open_app(with_settings=fetch_settings(**fetch)) as app:
        stats = app.worker(options).run()
        incomplete = app.incomplete_runs(sorted(stats.runs)) if burst else []
    for run in incomplete:
        click.echo(incomplete_line(run), err=True)
    if incomplete:
        ctx.exit(EXIT_FAILED_JOBS)


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("qualify").setLevel(level)
