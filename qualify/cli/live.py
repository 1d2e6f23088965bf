"""Live terminal displays (CLI layer, rich): the ``status --watch`` dashboard and the
progress bar of ``run --wait`` / ``demo``. The data comes from the library; this only draws."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from qualify.cli.tables import (
    STATUS_STYLES,
    add_run_columns,
    listing,
    stuck_hints,
    workers_table,
)
from qualify.dashboard import ExpiringLease, RateMeter, RunLine, Snapshot, eta
from qualify.store import ErrorCount, Run
from qualify.timefmt import ago, iso, rate, span

REFRESH_SECONDS = 1.0
FOOTER = "Refreshed every second from the store alone. Ctrl-C quits."

# -- the dashboard --------------------------------------------------------------------------


def dashboard_view(snapshot: Snapshot, source: str) -> RenderableType:
    now = snapshot.now
    parts: list[RenderableType] = [
        Text.assemble(("qualify status --watch", "bold"), f"  {source}  {iso(now)}")
    ]
    parts.append(
        _titled("Runs", _runs_table(snapshot.runs, now))
        if snapshot.runs
        else Text("No active runs.\n")
    )
    runs = [line.run for line in snapshot.runs]
    parts.extend(stuck_hints(runs, snapshot.workers, now, snapshot.stuck_after))
    if snapshot.workers:
        parts.append(workers_table(snapshot.workers, now))
    else:
        parts.append(Text("No workers seen in the last hour; start one: qualify worker", "yellow"))
    if snapshot.expiring:
        parts.append(_titled("Leases close to expiry", _leases_table(snapshot.expiring)))
    if snapshot.failures:
        title = f"Error codes of the last {snapshot.failures_sampled} failed jobs"
        parts.append(_titled(title, _errors_table(snapshot.failures)))
    if snapshot.retrying:
        parts.append(_titled("Waiting to be retried", _errors_table(snapshot.retrying)))
    parts.append(Text(FOOTER, style="dim"))
    return Group(*parts)


def _titled(title: str, table: Table) -> Group:
    # A heading line rather than the table's own title, which wraps to the table's width.
    return Group(Text(title, style="bold"), table)


def _runs_table(lines: list[RunLine], now: float) -> Table:
    table = listing()
    add_run_columns(
        table,
        ("ID", "right"),
        ("NAME", "left"),
        ("STATUS", "left"),
        ("PROGRESS", "left"),
        ("FINISHED", "right"),
        ("DONE", "right"),
        ("FAILED", "right"),
        ("QUALIFIED", "right"),
        ("RATE (1m)", "right"),
        ("ETA", "right"),
        ("LAST CHANGE", "right"),
    )
    for line in lines:
        run = line.run
        table.add_row(
            str(run.id),
            Text(run.name, no_wrap=True, overflow="ellipsis"),
            run_status_text(run),
            ProgressBar(total=max(run.total, 1), completed=run.finished, width=24),
            f"{run.finished:,}/{run.total:,}",
            f"{run.completed:,}",
            Text(f"{run.failed:,}", style="red" if run.failed else ""),
            Text(f"{run.qualified:,}", style="green" if run.qualified else ""),
            rate(line.rate) if run.active else "-",
            _eta_text(line),
            ago(now - run.updated_at) + " ago",
        )
    return table


def run_status_text(run: Run) -> Text:
    status = Text(run.status, style=STATUS_STYLES.get(run.status, ""))
    if run.stuck:
        status.append(" STUCK", style="bold red")
    return status


def _eta_text(line: RunLine) -> str:
    if not line.run.active:
        return "done"
    if line.run.stuck:
        return "never"
    return "-" if line.eta is None else span(line.eta)


def _leases_table(expiring: list[ExpiringLease]) -> Table:
    table = listing()
    for column in ("JOB", "RUN", "DOMAIN", "HELD BY", "HOLDER", "EXPIRES"):
        table.add_column(column)
    styles = {"alive": "green", "dead": "bold red", "stopped": "dim"}
    for item in expiring:
        lease = item.lease
        state = item.owner_state or "not seen"
        expires = (
            f"in {span(lease.expires_in)}"
            if lease.expires_in >= 0
            else f"{span(-lease.expires_in)} ago (to be reclaimed)"
        )
        table.add_row(
            str(lease.job_id),
            str(lease.run_id),
            lease.domain,
            lease.owner or "-",
            Text(state.upper(), style=styles.get(state, "yellow")),
            Text(expires, style="red" if lease.expires_in < 0 else "yellow"),
        )
    return table


def _errors_table(errors: list[ErrorCount]) -> Table:
    table = listing()
    table.add_column("CODE")
    table.add_column("JOBS", justify="right")
    table.add_column("RUNS")
    for error in errors[:8]:
        table.add_row(error.code, f"{error.count:,}", ", ".join(map(str, error.run_ids)))
    return table


def watch(refresh: Callable[[], Snapshot], source: str, *, console: Console | None = None) -> None:
    """Redraw the dashboard about once a second until Ctrl-C. Not on a terminal (piped to a
    file or a log), each refresh is printed after the previous one instead."""
    console = console or Console()
    try:
        if not console.is_terminal:
            while True:
                console.print(dashboard_view(refresh(), source))
                time.sleep(REFRESH_SECONDS)
        with Live(dashboard_view(refresh(), source), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(REFRESH_SECONDS)
                live.update(dashboard_view(refresh(), source), refresh=True)
    except KeyboardInterrupt:
        pass


# -- the progress bar of a run worked in this process -------------------------------------


class RunProgress:
    """A progress bar with counts, rate and ETA for one run worked in this process.

    ``update`` may be called from any thread. While it is shown, warnings the worker logs
    (such as what Ctrl-C does) are printed above the bar instead of tearing through it.
    """

    def __init__(self, run_id: int, total: int, console: Console, *, disable: bool) -> None:
        self.console = console
        self.meter = RateMeter()
        self.progress = Progress(
            TextColumn(f"[bold]run {run_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[detail]}"),
            console=console,
            disable=disable,
        )
        self.task = self.progress.add_task("run", total=total, rate="…", eta="-", detail="starting")

    def update(self, run: Run) -> None:
        speed = self.meter.sample(time.monotonic(), run.finished)
        remaining = eta(run.total - run.finished, speed)
        detail = f"{run.qualified:,} qualified"
        if run.failed:
            detail += f", [red]{run.failed:,} failed[/]"
        self.progress.update(
            self.task,
            completed=run.finished,
            rate=rate(speed),
            eta="-" if remaining is None else span(remaining),
            detail=detail,
        )

    @contextmanager
    def shown(self) -> Iterator[RunProgress]:
        handler = _ConsoleHandler(self.console)
        logger = logging.getLogger("qualify")
        logger.addHandler(handler)
        try:
            with self.progress:
                yield self
        finally:
            logger.removeHandler(handler)


class _ConsoleHandler(logging.Handler):
    """Prints the worker's warnings through the console that draws the bar."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(Text(record.getMessage(), style="yellow"))
        except Exception:  # a log line must never break the run
            self.handleError(record)
