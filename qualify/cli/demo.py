"""`qualify demo`: a whole qualification of fictional companies, offline."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import click

from qualify.cli.base import EXIT_INTERRUPTED, cli
from qualify.settings import Settings

#: qualify.demo.DEFAULT_DIR, here so that `qualify --help` need not load the demo's sites.
DEFAULT_DIR = "qualify-demo"


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=DEFAULT_DIR,
    show_default=True,
    help="Where the ICP, the domain list and the database go.",
)
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=4, show_default=True)
@click.pass_context
def demo(ctx: click.Context, directory: str, concurrency: int) -> None:
    """Qualify a handful of fictional companies end to end, offline: the first thing to try.

    Writes the example ICP and a domain list into DIR, serves the companies' small
    websites (bundled with qualify) from a local server on 127.0.0.1, and works the run
    through the real queue, worker and web qualifier with a progress bar. Then shows the
    results and where the database is (DIR/qualify.db; --db is not used). Nothing goes to
    the network.

    \b
    Example:
      qualify demo
      qualify demo --dir /tmp/try-qualify
    """
    from rich.console import Console

    from qualify import demo as demo_sites
    from qualify.api import Qualify, prepare_run
    from qualify.cli.run import work_with_progress
    from qualify.cli.tables import results_table
    from qualify.worker import WorkerOptions

    inputs = demo_sites.write_inputs(Path(directory))
    prepared = prepare_run(str(inputs.icp), str(inputs.domains), "web")
    with demo_sites.DemoGateway() as gateway:
        settings = Settings(db=str(inputs.db), fetch=demo_sites.fetch_settings(gateway))
        with Qualify.open(settings=settings) as app:
            created = app.create_run(
                prepared,
                name=demo_sites.RUN_NAME,
                max_attempts=demo_sites.MAX_ATTEMPTS,
                backoff=demo_sites.BACKOFF,
            )
            click.echo(
                f"Run {created.run_id}: {created.queued} fictional companies from"
                f" {inputs.domains}, judged against {inputs.icp}"
            )
            final = work_with_progress(
                app,
                created.run_id,
                WorkerOptions(concurrency=concurrency),
                quiet=False,
                resume="The demo's sites live only while it runs: start over with qualify demo",
                hints=False,
            )
            if final.active:
                ctx.exit(EXIT_INTERRUPTED)
            records = list(app.runs.records(created.run_id))
            out = Console()
            out.print(results_table(records))
            for record in records:
                if record.state == "done" and record.attempts > 1:
                    out.print(
                        f"{record.domain} was down on the first visit: qualify waited and"
                        f" retried it, and judged it on attempt {record.attempts}.",
                        style="yellow",
                    )
    db = shlex.quote(str(inputs.db))
    run_id = created.run_id
    steps = [
        (f"show {run_id} {demo_sites.SITES[0].host}", "one company's reasons and evidence"),
        (f"export {run_id} -o demo.csv", "every row, for a spreadsheet"),
        ("status", "runs and workers"),
    ]
    click.echo(f"\nThe run is stored in {inputs.db}. Next:")
    commands = [f"qualify --db {db} {command}" for command, _ in steps]
    width = max(len(command) for command in commands)
    terminal = shutil.get_terminal_size().columns
    for command, (_, what) in zip(commands, steps, strict=True):
        # Commands are pasted: one line each, the comment beside it only if it fits too.
        if 2 + width + 4 + len(what) < terminal:
            click.echo(f"  {command:<{width}}  # {what}")
        else:
            click.echo(f"  # {what}\n  {command}")
