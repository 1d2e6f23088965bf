"""What the CLI shows: JSON documents and rich tables built from the library's data."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from qualify.export import error_text, reason_text
from qualify.store import JobRecord, Run, WorkerInfo
from qualify.timefmt import ago, iso

STATUS_STYLES = {
    "PENDING": "yellow",
    "PROCESSING": "cyan",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "dim",
}
VERDICT_STYLES = {"qualified": "green", "review": "yellow", "unqualified": "red", "unknown": "dim"}


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "total": run.total,
        "completed": run.completed,
        "failed": run.failed,
        "qualified": run.qualified,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "stuck": run.stuck,
    }


def worker_json(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "id": worker.id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "state": worker.state,
        "concurrency": worker.concurrency,
        "in_flight": worker.in_flight,
        "processed": worker.processed,
        "failed": worker.failed,
        "lease_seconds": worker.lease,
        "started_at": iso(worker.started_at),
        "heartbeat_at": iso(worker.heartbeat_at),
        "version": worker.version,
    }


def progress_text(run: Run) -> str:
    return f"{run.progress:6.1%}  {run.completed + run.failed:,}/{run.total:,}"


def runs_table(runs: list[Run], now: float) -> Table:
    table = Table(title="Runs", title_justify="left", expand=False)
    for column, justify in (
        ("ID", "right"),
        ("NAME", "left"),
        ("STATUS", "left"),
        ("PROGRESS", "right"),
        ("DONE", "right"),
        ("FAILED", "right"),
        ("QUALIFIED", "right"),
        ("AGE", "right"),
        ("LAST CHANGE", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for run in runs:
        status = Text(run.status, style=STATUS_STYLES.get(run.status, ""))
        if run.stuck:
            status.append(" STUCK", style="bold red")
        table.add_row(
            str(run.id),
            run.name,
            status,
            progress_text(run),
            f"{run.completed:,}",
            f"{run.failed:,}",
            f"{run.qualified:,}",
            ago(now - run.created_at),
            ago(now - run.updated_at) + " ago",
        )
    return table


def workers_table(workers: list[WorkerInfo], now: float) -> Table:
    table = Table(title="Workers", title_justify="left", expand=False)
    for column in ("HOST", "PID", "STATE", "CONCURRENCY", "IN FLIGHT", "PROCESSED", "HEARTBEAT"):
        table.add_column(column)
    styles = {"alive": "green", "dead": "bold red", "stopped": "dim"}
    for worker in workers:
        table.add_row(
            worker.hostname,
            str(worker.pid),
            Text(worker.state.upper(), style=styles[worker.state]),
            str(worker.concurrency),
            str(worker.in_flight),
            f"{worker.processed:,}",
            ago(now - worker.heartbeat_at) + " ago",
        )
    return table


def status_view(runs: list[Run], workers: list[WorkerInfo], now: float) -> Group:
    parts: list[Any] = []
    parts.append(runs_table(runs, now) if runs else Text("No runs yet.", style="dim"))
    if workers:
        parts.append(workers_table(workers, now))
    else:
        parts.append(
            Text("No workers seen in the last hour; start one: qualify worker", style="yellow")
        )
    return Group(*parts)


def run_summary(run: Run, states: dict[str, int], live_leases: int, now: float) -> Group:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    status = Text(run.status, style=STATUS_STYLES.get(run.status, ""))
    if run.stuck:
        status.append(" STUCK: nothing moved and no lease is live", style="bold red")
    rows = [
        ("Run", f"{run.id}  {run.name}"),
        ("Status", status),
        ("Qualifier", run.qualifier),
        ("Progress", progress_text(run)),
        ("Completed", f"{run.completed:,} ({run.qualified:,} qualified)"),
        ("Failed", f"{run.failed:,}"),
        ("Jobs", ", ".join(f"{count:,} {state}" for state, count in sorted(states.items()))),
        ("Live leases", str(live_leases)),
        ("Attempts", f"up to {run.max_attempts}, backoff from {run.backoff:g}s"),
        ("Created", f"{iso(run.created_at)} ({ago(now - run.created_at)} ago)"),
        ("Last change", f"{iso(run.updated_at)} ({ago(now - run.updated_at)} ago)"),
    ]
    if run.cancelled:
        rows.insert(6, ("Cancelled", f"{run.cancelled:,}"))
    if run.finished_at:
        rows.append(("Finished", iso(run.finished_at)))
    for label, value in rows:
        table.add_row(label, value)
    return Group(table)


def job_detail(record: JobRecord) -> Group:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    verdict = Text(record.verdict or "-", style=VERDICT_STYLES.get(record.verdict or "", ""))
    table.add_row("Domain", record.domain)
    table.add_row("State", record.state)
    table.add_row("Verdict", verdict)
    table.add_row("Score", "-" if record.score is None else f"{record.score:g}")
    for key in ("tier", "confidence"):
        if key in record.extra:
            table.add_row(key.capitalize(), str(record.extra[key]))
    table.add_row("Attempts", str(record.attempts))
    error = error_text(record)
    if error:
        table.add_row("Error", Text(error, style="red"))
    if record.finished_at:
        table.add_row("Finished", iso(record.finished_at) or "")
    parts: list[Any] = [table]
    if record.reasons:
        reasons = Table(title="Reasons", title_justify="left")
        reasons.add_column("REASON")
        reasons.add_column("SOURCE", overflow="fold")
        for reason in record.reasons:
            source = reason.get("source_url", "") if isinstance(reason, dict) else ""
            reasons.add_row(reason_text(reason), source or "")
        parts.append(reasons)
    if record.evidence:
        parts.append(Text("Evidence", style="bold"))
        parts.append(Text(dumps(record.evidence)))
    return Group(*parts)


def stderr_console() -> Console:
    return Console(stderr=True)
