"""`qualify export`: a run's outcomes as CSV, an Excel workbook, JSON Lines or JSON."""

from __future__ import annotations

import sys

import click

from qualify import export
from qualify.cli.base import (
    cli,
    open_app,
)
from qualify.errors import InputError
from qualify.plural import plural


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
@click.option(
    "--columns",
    metavar="A,B,C",
    help="CSV/XLSX: these columns, in this order (input columns by their own names).",
)
@click.option(
    "--flat-reasons/--multiline-reasons",
    "flat",
    default=True,
    show_default=True,
    help="CSV/XLSX: every cell on one line, or line breaks kept (reasons one per line).",
)
def export_command(
    run_id: int,
    fmt: str,
    output: str | None,
    verdict: tuple[str, ...],
    columns: str | None,
    flat: bool,
) -> None:
    """Export one row per domain, with the input row it came from.

    CSV and XLSX start with the columns of the input row under their own names
    (a CRM's Record ID comes back as Record ID), then domain, state, verdict,
    score, tier, confidence, company_name, country, employees, industry,
    technologies, reason_1-3, error_code, error_message, attempts, finished_at;
    every cell on one line. JSONL and JSON keep every field as structured data.

    \b
    Example:
      qualify export 3 --verdict qualified -o qualified.csv
      qualify export 3 --columns "Record ID,verdict,score,tier" -o crm.csv
      qualify export 3 --format xlsx -o results.xlsx
      qualify export 3 --format jsonl | jq .domain
    """
    picked = _column_list(columns)
    binary = export.is_binary(fmt)
    if binary and output is None and sys.stdout.isatty():
        raise click.UsageError("--format xlsx writes a workbook: give a file with -o FILE")
    with open_app(create=False, read_only=True) as app:
        try:
            app.export_layout(run_id, picked)  # a wrong column is refused before any output
        except export.UnknownColumn as exc:
            raise InputError(f"--{exc}") from None
        if output is None:
            out = sys.stdout.buffer if binary else sys.stdout
            app.export(run_id, fmt, out, verdict=verdict, columns=picked, flat=flat)
            return
        with export.atomic_output(output, binary=binary) as out:
            count = app.export(run_id, fmt, out, verdict=verdict, columns=picked, flat=flat)
    click.echo(f"Wrote {plural(count, 'row')} to {output}", err=True)


def _column_list(columns: str | None) -> list[str] | None:
    if columns is None:
        return None
    names = [name.strip() for name in columns.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("name at least one column", param_hint="--columns")
    return names
