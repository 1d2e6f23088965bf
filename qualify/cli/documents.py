"""The JSON documents the CLI prints with ``--json``: one per command, built from the
library's values. Their fields are a contract (DESIGN.md, "CLI contract")."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from qualify.api import Recovery, RunCreated, StatusReport
from qualify.store import Run, WorkerInfo
from qualify.timefmt import iso


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
        "unknown": run.unknown,
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


def status_json(report: StatusReport) -> dict[str, Any]:
    return {
        "runs": [run_json(run) for run in report.runs],
        "workers": [worker_json(worker) for worker in report.workers],
    }


def created_json(created: RunCreated) -> dict[str, Any]:
    return {
        "run_id": created.run_id,
        "queued": created.queued,
        "duplicates": created.duplicates,
        "invalid": [line.as_dict() for line in created.invalid],
        "invalid_count": created.invalid_count,
        "format": created.format,
        "column": created.domain_column,
        "fallback_columns": list(created.fallback_columns),
    }


def recovery_json(actions: Iterable[Recovery], *, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "runs": [
            {
                "run_id": a.run_id,
                "name": a.name,
                "action": a.action,
                "requeued": a.requeued,
                "failed": a.failed,
                "queued": a.waiting_for_worker,
                "jobs": a.job_states,
            }
            for a in actions
        ],
    }
