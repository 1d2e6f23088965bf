"""The rich tables and panels the CLI prints, built from the library's data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from qualify.api import RunSummary, StatusReport
from qualify.cli.layout import Column, Fitted, listing
from qualify.export import error_text
from qualify.store import EarlierOutcome, JobRecord, Run, RunInputs, WorkerInfo
from qualify.timefmt import ago, iso

STATUS_STYLES = {
    "PENDING": "yellow",
    "PROCESSING": "cyan",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "dim",
}
VERDICT_STYLES = {"qualified": "green", "review": "yellow", "unqualified": "red", "unknown": "dim"}


def progress_text(run: Run) -> str:
    return f"{run.progress:6.1%}  {run.completed + run.failed:,}/{run.total:,}"


def percent_text(run: Run) -> str:
    return f"{run.progress:.1%}"


def status_markers(run: Run) -> list[tuple[str, str]]:
    """Words shown after a run's status, with their styles (``STUCK``); one line each."""
    markers = []
    if run.stuck:
        markers.append(("STUCK", "bold red"))
    return markers


def run_status_text(run: Run) -> Text:
    status = Text(run.status, style=STATUS_STYLES.get(run.status, ""))
    for word, style in status_markers(run):
        status.append(f" {word}", style=style)
    return status


def count_text(count: int, style: str = "") -> Text:
    return Text(f"{count:,}", style=style if count else "")


#: A run's name gives way (wrapping, never cut) down to this width before columns go.
NAME_MIN_WIDTH = 16
NAME_MAX_WIDTH = 60


def name_column() -> Column:
    return Column("NAME", flex=True, min_width=NAME_MIN_WIDTH, max_width=NAME_MAX_WIDTH)


def runs_table(runs: list[Run], now: float) -> Fitted:
    """The runs of `qualify status`: at 80 columns the id, name, status, percentage and
    the counts people act on; wider, also the finished/total count, age and last change."""
    columns = [
        Column("ID", justify="right"),
        name_column(),
        Column("FROM", justify="right", drop=1),
        Column("STATUS"),
        Column("PROGRESS", justify="right"),
        Column("FINISHED", justify="right", drop=3),
        Column("DONE", justify="right", drop=4),
        Column("FAILED", justify="right", drop=7),
        Column("UNKNOWN", justify="right", drop=6),
        Column("QUALIFIED", justify="right", drop=5),
        Column("AGE", justify="right", drop=1),
        Column("CHANGED", justify="right", drop=2),
    ]
    rows = [
        [
            str(run.id),
            run.name,
            "" if run.source_run_id is None else f"↻{run.source_run_id}",
            run_status_text(run),
            percent_text(run),
            f"{run.completed + run.failed:,}/{run.total:,}",
            f"{run.completed:,}",
            count_text(run.failed, "red"),
            count_text(run.unknown, "yellow"),
            count_text(run.qualified, "green"),
            ago(now - run.created_at),
            ago(now - run.updated_at) + " ago",
        ]
        for run in runs
    ]
    return Fitted(columns, rows, title="Runs")


WORKER_STATE_STYLES = {
    "alive": "green",
    "paused": "bold yellow",
    "dead": "bold red",
    "stopped": "dim",
}


def workers_table(workers: list[WorkerInfo], now: float) -> Fitted:
    columns = [
        Column("HOST", flex=True, min_width=24, max_width=60),
        Column("PID", justify="right"),
        Column("STATE"),
        Column("CONCURRENCY", justify="right", drop=1),
        Column("IN FLIGHT", justify="right", drop=3),
        Column("PROCESSED", justify="right", drop=2),
        Column("HEARTBEAT", justify="right"),
    ]
    rows = [
        [
            worker.hostname,
            str(worker.pid),
            Text(worker.state.upper(), style=WORKER_STATE_STYLES.get(worker.state, "")),
            str(worker.concurrency),
            str(worker.in_flight),
            f"{worker.processed:,}",
            ago(now - worker.heartbeat_at) + " ago",
        ]
        for worker in workers
    ]
    return Fitted(columns, rows, title="Workers")


def pause_text(worker: WorkerInfo, now: float) -> str:
    """``network (19 of the last 20 lookups failed) for 2m; next probe in 20s``."""
    text = worker.paused_reason or ""
    if worker.paused_at is not None:
        text += f" for {ago(now - worker.paused_at)}"
    if worker.next_probe_at is not None:
        wait = worker.next_probe_at - now
        text += f"; next probe in {ago(wait)}" if wait > 0 else "; probing"
    return text


def paused_hints(workers: list[WorkerInfo], now: float) -> list[Text]:
    """One line per paused worker: why, and that it resumes by itself."""
    hints = []
    for worker in workers:
        if worker.state != "paused":
            continue
        text = Text(f"Worker {worker.hostname}:{worker.pid} PAUSED: ", style="bold yellow")
        text.append(pause_text(worker, now))
        text.append(
            ". It takes no jobs and records nothing until the probe answers, then resumes by"
            " itself."
        )
        hints.append(text)
    return hints


def status_view(report: StatusReport, stuck_after: float) -> Group:
    runs, workers, now = report.runs, report.workers, report.now
    parts: list[Any] = []
    parts.append(runs_table(runs, now) if runs else Text("No runs yet.", style="dim"))
    parts.extend(stuck_hints(runs, workers, now, stuck_after))
    if report.write_lock is not None:
        lock = report.write_lock
        parts.append(Text(
            f"The write lock is held by pid {lock.pid} on {lock.hostname} for"
            f" {ago(lock.held_for())}: every writer waits for it (a stopped or frozen"
            " process? resume it or end it)", style="bold red"))  # fmt: skip
    if workers:
        parts.append(workers_table(workers, now))
        parts.extend(paused_hints(workers, now))
    else:
        parts.append(
            Text("No workers seen in the last hour; start one: qualify worker", style="yellow")
        )
    return Group(*parts)


def stuck_hints(
    runs: list[Run], workers: list[WorkerInfo], now: float, stuck_after: float
) -> list[Text]:
    """Why each stuck run is stuck, and the one command that gets it going again."""
    hints = []
    alive = any(w.state in ("alive", "paused") for w in workers)
    for run in runs:
        if not run.stuck:
            continue
        text = Text(f"Run {run.id} is STUCK: ", style="bold red")
        text.append(
            f"nothing moved for {ago(now - run.updated_at)} and no worker holds a lease on"
            " its jobs. "
        )
        if alive:
            text.append(
                "Workers are alive but none takes its jobs:"
                f" qualify recover --older-than {ago(stuck_after)}"
            )
        else:
            text.append("No worker is alive: start one with qualify worker")
        hints.append(text)
    return hints


def run_summary(summary: RunSummary, stuck_after: float | None = None) -> Group:
    run, now, failures = summary.run, summary.now, summary.failures
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    status = run_status_text(run)
    if run.stuck:
        status.append(": nothing moved and no lease is live", style="bold red")
    rows: list[tuple[str, Any]] = [
        ("Run", f"{run.id}  {run.name}"),
        ("Status", status),
        ("Qualifier", run.qualifier),
    ]
    if summary.lineage is not None:
        rows.append(("Lineage", summary.lineage.describe()))
    rows += [
        ("Progress", progress_text(run)),
        ("Completed", f"{run.completed:,} ({run.qualified:,} qualified, {run.unknown:,} unknown)"),
    ]
    if summary.verdicts:
        rows.append(("Verdicts", _verdict_counts(summary.verdicts)))
    if summary.unknown_codes:
        rows.append(("Unknown", _code_counts(summary.unknown_codes)))
    rows.append(("Failed", f"{run.failed:,}"))
    if failures:
        rows.append(("Errors", _code_counts(failures)))
    if run.cancelled:
        rows.append(("Cancelled", f"{run.cancelled:,}"))
    rows += [
        ("Jobs", ", ".join(f"{n:,} {state}" for state, n in sorted(summary.states.items()))),
        ("Live leases", str(summary.live_leases)),
        ("Attempts", f"up to {run.max_attempts}, backoff from {run.backoff:g}s"),
        ("Kept pages", _page_age(run.max_page_age)),
        ("Created", f"{iso(run.created_at)} ({ago(now - run.created_at)} ago)"),
        ("Last change", f"{iso(run.updated_at)} ({ago(now - run.updated_at)} ago)"),
    ]
    if run.finished_at:
        rows.append(("Finished", iso(run.finished_at)))
    for label, value in rows:
        table.add_row(label, value)
    parts: list[Any] = [table]
    if run.stuck and stuck_after is not None:
        parts.append(
            Text(
                f"Nothing has moved for {ago(now - run.updated_at)}. Resume it with a worker"
                f" running (qualify worker), or: qualify recover --older-than {ago(stuck_after)}",
                style="yellow",
            )
        )
    return Group(*parts)


def _page_age(max_page_age: float | None) -> str:
    if max_page_age is None:
        return "used whatever their age"
    if max_page_age == 0:
        return "not used (every page fetched)"
    return f"used when younger than {ago(max_page_age)}"


def _code_counts(codes: list[tuple[str, int]]) -> str:
    """``3 http_5xx, 1 timeout``: most common first."""
    return ", ".join(f"{count:,} {code}" for code, count in codes)


def _verdict_counts(verdicts: dict[str, int]) -> Text:
    text = Text()
    for verdict in (*VERDICT_STYLES, *sorted(set(verdicts) - set(VERDICT_STYLES))):
        if verdicts.get(verdict):
            if text:
                text.append(", ")
            text.append(f"{verdicts[verdict]:,} {verdict}", style=VERDICT_STYLES.get(verdict, ""))
    return text


#: Input cells `show RUN DOMAIN` lists; the export has them all.
SHOWN_INPUT_CELLS = 8


def job_detail(
    record: JobRecord,
    run_id: int | None = None,
    inputs: RunInputs | None = None,
    history: Iterable[EarlierOutcome] = (),
) -> Group:
    """One domain's outcome: the input row it came from, verdict and score, then every
    reason with what it saw, and how it had ended before `retry` ran it again."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Domain", record.domain + (f"  (run {run_id})" if run_id is not None else ""))
    if inputs is not None and record.input is not None:
        filled = [(k, v) for k, v in inputs.cells(record).items() if v]
        lines = [
            Text.assemble((f"{column}: ", "dim"), " ".join(value.split()))
            for column, value in filled[:SHOWN_INPUT_CELLS]
        ]
        if len(filled) > SHOWN_INPUT_CELLS:
            more = len(filled) - SHOWN_INPUT_CELLS
            lines.append(Text(f"… {more} more in the export", style="dim"))
        table.add_row("Input", Text("\n").join(lines))
    verdict = Text(record.verdict or "-", style=VERDICT_STYLES.get(record.verdict or "", ""))
    details = [] if record.score is None else [f"score {record.score:g}"]
    details += [
        f"{key} {record.extra[key]}" for key in ("tier", "confidence") if key in record.extra
    ]
    if details:
        verdict.append("  " + ", ".join(details))
    table.add_row("Verdict", verdict)
    attempts = f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}"
    finished = f", finished {iso(record.finished_at)}" if record.finished_at else ""
    table.add_row("State", f"{record.state} after {attempts}{finished}")
    if record.recorded_by and record.state in ("done", "failed", "waiting"):
        table.add_row("Recorded by", f"{record.recorded_by}, attempt {record.attempts}")
    error = error_text(record)
    if error:
        table.add_row("Error", Text(error, style="red"))
    if record.state == "waiting" and record.next_attempt_at:
        table.add_row("Next attempt", iso(record.next_attempt_at) or "")
    if record.state == "running" and record.lease_owner:
        table.add_row("Held by", f"{record.lease_owner} until {iso(record.lease_expires_at)}")
    for earlier in history:
        ended = earlier.verdict or earlier.state
        if earlier.error_code:
            ended += f" ({earlier.error_code})"
        table.add_row("Earlier", f"{ended}, replaced by a retry at {iso(earlier.replaced_at)}")
    parts: list[Any] = [table]
    if record.reasons:
        parts.append(Text("\nReasons", style="bold"))
        parts.append(_reasons_table(record.reasons))
    if record.evidence:
        parts.append(Text("Evidence", style="bold"))
        parts.append(JSON.from_data(record.evidence, ensure_ascii=False))
    return Group(*parts)


def _reasons_table(reasons: list[Any]) -> Table:
    table = listing()
    table.add_column("CRITERION", no_wrap=True)
    table.add_column("OUTCOME", no_wrap=True)
    table.add_column("POINTS", justify="right", no_wrap=True)
    table.add_column("WHAT IT SAW", ratio=1)
    outcome_styles = {"match": "green", "partial": "yellow", "mismatch": "red", "unknown": "dim"}
    for reason in reasons:
        if not isinstance(reason, dict):
            table.add_row("", "", "", str(reason))
            continue
        points = reason.get("points")
        seen = Text(str(reason.get("evidence") or ""))
        if reason.get("source_url"):
            seen.append(f"\n{reason['source_url']}", style="dim")
        outcome = str(reason.get("outcome") or "")
        table.add_row(
            str(reason.get("criterion") or ""),
            Text(outcome, style=outcome_styles.get(outcome, "")),
            f"{points:+g}" if isinstance(points, int | float) and points else "",
            seen,
        )
    return table


def results_table(records: Iterable[JobRecord]) -> Table:
    """One row per domain: verdict, score, tier and the reason that weighed most."""
    rows = list(records)
    table = listing()
    width = max((len(r.domain) for r in rows), default=6)
    table.add_column("DOMAIN", min_width=width, no_wrap=True)
    table.add_column("VERDICT", no_wrap=True)
    table.add_column("SCORE", justify="right", no_wrap=True)
    table.add_column("TIER", justify="center", no_wrap=True)
    table.add_column("TOP REASON", ratio=1)
    for record in rows:
        if record.state != "done":
            verdict = Text(record.state, style="red" if record.state == "failed" else "dim")
            top = error_text(record) or ""
        else:
            verdict = Text(
                record.verdict or "-", style=VERDICT_STYLES.get(record.verdict or "", "")
            )
            top = top_reason(record.reasons)
        table.add_row(
            record.domain,
            verdict,
            "-" if record.score is None else f"{record.score:g}",
            str(record.extra.get("tier", "-")),
            Text(top, overflow="ellipsis", no_wrap=True),
        )
    return table


def top_reason(reasons: list[Any]) -> str:
    """The first reason (qualifiers put the decisive one first) as a short phrase."""
    if not reasons:
        return ""
    first = reasons[0]
    if not isinstance(first, dict):
        return str(first)
    evidence = str(first.get("evidence") or "")
    if first.get("criterion") in ("hard_filters", "site", "confidence") and evidence:
        return evidence  # already says what it is: "hard filter countries: US, ..."
    return f"{first.get('criterion', '')} {first.get('outcome', '')}: {evidence}".strip(": ")
