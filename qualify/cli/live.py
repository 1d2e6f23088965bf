"""Live terminal displays (CLI layer, rich): the ``status --watch`` dashboard and the
progress bar of ``run --wait`` / ``demo``. The data comes from the library; this only draws."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from qualify.cli.layout import Column, Fitted, listing
from qualify.cli.tables import (
    WORKER_STATE_STYLES,
    count_text,
    name_column,
    paused_hints,
    run_status_text,
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
        parts.extend(paused_hints(snapshot.workers, now))
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


def _titled(title: str, table: RenderableType) -> Group:
    # A heading line rather than the table's own title, which wraps to the table's width.
    return Group(Text(title, style="bold"), table)


#: The dashboard's progress bar gives way down to this width before columns go.
BAR_MIN_WIDTH = 10
BAR_MAX_WIDTH = 24


def _runs_table(lines: list[RunLine], now: float) -> Fitted:
    """One line per run: at 80 columns id, name, status, bar and percentage, rate and ETA
    and the failed count; wider, every count and the last change."""
    columns = [
        Column("ID", justify="right"),
        name_column(),
        Column("STATUS"),
        Column("PROGRESS", flex=True, min_width=BAR_MIN_WIDTH, max_width=BAR_MAX_WIDTH),
        Column("%", justify="right"),
        Column("FINISHED", justify="right", drop=2),
        Column("DONE", justify="right", drop=3),
        Column("FAILED", justify="right", drop=7),
        Column("UNKNOWN", justify="right", drop=5),
        Column("QUALIFIED", justify="right", drop=4),
        Column("RATE (1m)", justify="right", drop=6),
        Column("ETA", justify="right", drop=8),
        Column("LAST CHANGE", justify="right", drop=1),
    ]
    rows = []
    for line in lines:
        run = line.run
        share = run.finished / run.total if run.total else 1.0
        rows.append(
            [
                str(run.id),
                run.name,
                run_status_text(run),
                ProgressBar(total=max(run.total, 1), completed=run.finished, width=None),
                f"{share:.0%}",
                f"{run.finished:,}/{run.total:,}",
                f"{run.completed:,}",
                count_text(run.failed, "red"),
                count_text(run.unknown, "yellow"),
                count_text(run.qualified, "green"),
                rate(line.rate) if run.active else "-",
                _eta_text(line),
                ago(now - run.updated_at) + " ago",
            ]
        )
    return Fitted(columns, rows)


def _eta_text(line: RunLine) -> str:
    if not line.run.active:
        return "done"
    if line.run.stuck:
        return "never"
    return "-" if line.eta is None else span(line.eta)


def _leases_table(expiring: list[ExpiringLease]) -> Fitted:
    columns = [
        Column("JOB", justify="right", drop=1),
        Column("RUN", justify="right"),
        Column("DOMAIN", flex=True, min_width=16),
        Column("HELD BY", flex=True, min_width=12, drop=2),
        Column("HOLDER"),
        Column("EXPIRES", flex=True, min_width=12),
    ]
    rows = []
    for item in expiring:
        lease = item.lease
        state = item.owner_state or "not seen"
        expires = (
            f"in {span(lease.expires_in)}"
            if lease.expires_in >= 0
            else f"{span(-lease.expires_in)} ago (to be reclaimed)"
        )
        rows.append(
            [
                str(lease.job_id),
                str(lease.run_id),
                lease.domain,
                lease.owner or "-",
                Text(state.upper(), style=WORKER_STATE_STYLES.get(state, "yellow")),
                Text(expires, style="red" if lease.expires_in < 0 else "yellow"),
            ]
        )
    return Fitted(columns, rows)


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
    """A progress bar with counts, percentage, rate and ETA for one run worked in this
    process, on one line at any width: the bar gives way first (down to 10 cells), then
    the qualified and failed counts.

    ``update`` may be called from any thread. While it is shown, warnings the worker logs
    (such as what Ctrl-C does) are printed above the bar instead of tearing through it.
    """

    BAR_MAX = 40
    BAR_MIN = 10

    def __init__(self, run_id: int, total: int, console: Console, *, disable: bool) -> None:
        self.console = console
        self.meter = RateMeter()
        self.head = f"run {run_id}"
        self.bar = BarColumn(bar_width=self.BAR_MAX)
        self.progress = Progress(
            TextColumn(f"[bold]{self.head}"),
            self.bar,
            TextColumn("{task.fields[tail]}"),
            console=console,
            disable=disable,
        )
        self.task = self.progress.add_task("run", total=total, tail="")
        self._draw(0, total, "…", "-", Text("starting"))

    def update(self, run: Run) -> None:
        speed = self.meter.sample(time.monotonic(), run.finished)
        remaining = eta(run.total - run.finished, speed)
        detail = Text(f"{run.qualified:,} qualified")
        if run.failed:
            detail.append(", ").append(f"{run.failed:,} failed", style="red")
        left = "-" if remaining is None else span(remaining)
        self._draw(run.finished, run.total, rate(speed), left, detail)

    def _draw(self, finished: int, total: int, speed: str, left: str, detail: Text) -> None:
        share = finished / total if total else 1.0
        tail = Text(f"{finished:,}/{total:,} {share:4.0%} {speed} ETA {left}")
        # Cells the line has besides the bar: the head, the tail, and a space between each.
        width = self.console.width - 1
        room = width - len(self.head) - len(tail) - len(detail) - 3
        if room >= self.BAR_MIN:
            tail.append(" ").append_text(detail)
        else:
            room += len(detail) + 1  # the counts go before the bar gets too short
        self.bar.bar_width = max(self.BAR_MIN, min(self.BAR_MAX, room))
        self.progress.update(self.task, completed=finished, total=total, tail=tail)

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
