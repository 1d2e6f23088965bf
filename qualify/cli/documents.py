"""The JSON documents the CLI prints with ``--json``: one per command, built from the
library's values. Their fields are a contract (DESIGN.md, "CLI contract")."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from qualify.api import Recovery, RescoreCreated, RunCreated, StatusReport
from qualify.store import PageStoreStats, PruneReport, Run, WorkerInfo
from qualify.timefmt import iso
from qualify.tuning.compare import RunDiff
from qualify.tuning.evaluate import Evaluation
from qualify.tuning.rescore import Lineage


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


def run_json(run: Run, lineage: Lineage | None = None) -> dict[str, Any]:
    document = {
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
        "source_run_id": run.source_run_id,
    }
    if lineage is not None:
        document["lineage"] = {
            "source_run_id": lineage.source_run_id,
            "qualifier_before": lineage.qualifier_before,
            "qualifier": lineage.qualifier_after,
            "icp_changes": lineage.icp_changes,
            "text": lineage.describe(),
        }
    return document


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
        "paused": None
        if worker.state != "paused"
        else {
            "reason": worker.paused_reason,
            "since": iso(worker.paused_at),
            "next_probe_at": iso(worker.next_probe_at),
        },
    }


def status_json(report: StatusReport) -> dict[str, Any]:
    lock = report.write_lock
    return {
        "runs": [run_json(run) for run in report.runs],
        "workers": [worker_json(worker) for worker in report.workers],
        # A process holding the SQLite store's write lock for seconds; null otherwise.
        "write_lock": None
        if lock is None
        else {"pid": lock.pid, "hostname": lock.hostname, "held_for": round(lock.held_for(), 1)},
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


def rescore_json(created: RescoreCreated) -> dict[str, Any]:
    return {
        "run_id": created.run_id,
        "name": created.name,
        "source_run_id": created.source_run_id,
        "qualifier": created.qualifier,
        "queued": created.queued,
        "from_kept_pages": created.with_pages,
        "to_fetch": created.queued - created.with_pages,
        "icp_changes": created.icp_changes,
    }


def evaluation_json(found: Evaluation) -> dict[str, Any]:
    return {
        "run_id": found.run_id,
        "labels": found.labels_source,
        "labelled": found.labelled,
        "unlabelled_rows": found.unlabelled_rows,
        "missing": found.missing,
        "not_judged": [{"domain": d, "state": state} for d, state in found.not_judged],
        "judged": found.judged,
        "agreed": found.agreed,
        "agreement": found.agreement,
        "confusion": found.confusion,
        "qualified": {
            "true_positives": found.true_positives,
            "false_positives": found.false_positives,
            "false_negatives": found.false_negatives,
            "precision": found.precision,
            "recall": found.recall,
        },
        "disagreements": [
            {
                "domain": d.domain,
                "label": d.label,
                "verdict": d.verdict,
                "score": d.score,
                "direction": d.direction,
                "reasons": d.reasons,
            }
            for d in found.disagreements
        ],
        "criteria": [
            {
                "criterion": p.criterion,
                "direction": p.direction,
                "count": p.count,
                "outcomes": p.outcomes,
                "domains": p.domains,
            }
            for p in found.pushes
        ],
    }


def diff_json(found: RunDiff) -> dict[str, Any]:
    return {
        "run_a": found.run_a,
        "run_b": found.run_b,
        "changed": found.changed,
        "unchanged": found.unchanged,
        "groups": [
            {
                "before": before,
                "after": after,
                "count": len(changes),
                "domains": [
                    {
                        "domain": c.domain,
                        "score_before": c.score_before,
                        "score_after": c.score_after,
                        "reasons_changed": [
                            {"criterion": r.criterion, "before": r.before, "after": r.after}
                            for r in c.reasons
                        ],
                    }
                    for c in changes
                ],
            }
            for (before, after), changes in found.groups.items()
        ],
    }


def page_store_json(stats: PageStoreStats) -> dict[str, Any]:
    return {
        "pages": stats.pages,
        "sites": stats.sites,
        "documents": stats.contents,
        "stored_bytes": stats.stored_bytes,
        "raw_bytes": stats.raw_bytes,
        "oldest": iso(stats.oldest),
    }


def prune_json(report: PruneReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "older_than_seconds": report.older_than,
        "pages": report.pages,
        "sites": report.sites,
        "documents": report.contents,
        "freed_bytes": report.freed_bytes,
        "remaining": page_store_json(report.remaining),
    }
