"""`qualify worker`: work queued jobs until stopped."""

from __future__ import annotations

import logging
import sys

import click

from qualify.cli.base import (
    DURATION,
    Duration,
    cli,
    concurrency_option,
    fetch_options,
    fetch_settings,
    open_app,
)


@cli.command()
@concurrency_option("Jobs worked at once by this process.")
@click.option("--burst", is_flag=True, help="Exit 0 once no job is queued, running or waiting.")
@click.option(
    "--lease",
    type=Duration(minimum=0.3),
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
@fetch_options
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
    from qualify.worker import WorkerOptions

    _configure_logging(verbose, quiet)
    options = WorkerOptions(
        concurrency=concurrency, lease=lease, burst=burst, grace=grace, job_timeout=job_timeout
    )
    with open_app(with_settings=fetch_settings(fetch_via, allow_private_networks)) as app:
        app.worker(options).run()


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("qualify").setLevel(level)
