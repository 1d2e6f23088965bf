"""`qualify export`: a run's outcomes as CSV, JSON Lines or JSON."""

from __future__ import annotations

import sys

import click

from qualify import export
from qualify.cli.base import (
    cli,
    open_app,
)


@cli.command(name="export")
@click.argument("run_id", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(export.FORMATS), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write here (atomically) instead of stdout.",
)
@click.option(
    "--verdict",
    type=click.Choice(export.VERDICT_FILTERS),
    multiple=True,
    help="Only rows with this verdict ('failed': jobs that failed); repeat for several.",
)
def export_command(run_id: int, fmt: str, output: str | None, verdict: tuple[str, ...]) -> None:
    """Export one row per domain: verdict, score, tier, reasons, error, attempts, evidence.

    CSV opens in any spreadsheet or CRM import: one row per domain, the reasons one per
    line inside their cell, the evidence as JSON. JSONL and JSON keep every field as is.

    \b
    Example:
      qualify export 3 --verdict qualified -o qualified.csv
      qualify export 3 --verdict qualified --verdict review -o to-check.csv
      qualify export 3 --format jsonl | jq .domain
    """
    with open_app(create=False) as app:
        if output is None:
            app.export(run_id, fmt, sys.stdout, verdict=verdict)
            return
        with export.atomic_output(output) as out:
            count = app.export(run_id, fmt, out, verdict=verdict)
    click.echo(f"Wrote {count:,} rows to {output}", err=True)
