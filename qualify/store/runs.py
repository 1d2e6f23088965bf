"""Runs: creating them, and every read of their state (status, stuck, results, exports)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qualify.errors import NotFoundError
from qualify.store.database import Database
from qualify.store.jobs import Jobs
from qualify.store.states import ACTIVE_RUN_STATUSES, RunStatus

_RUN_COLUMNS = (
    "id, name, status, total, completed, failed, qualified, cancelled, qualifier,"
    " max_attempts, backoff, created_at, updated_at, finished_at"
)

# A run is stuck when it has unfinished jobs and nothing has moved for a while: no job
# changed state, no lease is live, and no retry is due soon (DESIGN.md, "What stuck means").
_STUCK = """
    status IN ('PENDING', 'PROCESSING')
    AND updated_at < {now} - ?
    AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id
                    AND jobs.state = 'running' AND jobs.lease_expires_at >= {now})
    AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id
                    AND jobs.state = 'waiting' AND jobs.next_attempt_at > {now} - ?)
"""


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    status: str
    total: int
    completed: int
    failed: int
    qualified: int
    cancelled: int
    qualifier: str
    max_attempts: int
    backoff: float
    created_at: float
    updated_at: float
    finished_at: float | None
    stuck: bool = False

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled

    @property
    def progress(self) -> float:
        return (self.completed + self.failed) / self.total if self.total else 1.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


@dataclass(frozen=True)
class RunPlan:
    """What a run needs to execute, loaded once per run by each worker."""

    id: int
    qualifier: str
    icp: dict[str, Any]
    max_attempts: int
    backoff: float


@dataclass(frozen=True)
class JobRecord:
    """One domain of a run with its outcome: a result, an error, or still in progress."""

    job_id: int
    domain: str
    state: str
    attempts: int
    error_code: str | None
    error: str | None
    next_attempt_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    finished_at: float | None
    verdict: str | None
    score: float | None
    reasons: list[Any]
    evidence: dict[str, Any]
    extra: dict[str, Any]


class Runs:
    def __init__(self, database: Database, jobs: Jobs) -> None:
        self.database = database
        self.jobs = jobs

    def create(
        self,
        *,
        name: str,
        qualifier: str,
        icp: dict[str, Any],
        domains: Sequence[str],
        max_attempts: int,
        backoff: float,
    ) -> int:
        """Create a run and all its jobs, queued, in one transaction: all or nothing."""
        db = self.database
        with db.write():
            run_id = db.scalar(
                "INSERT INTO runs (name, qualifier, icp, status, total, max_attempts, backoff,"
                " created_at, updated_at) VALUES (?, ?, ?, 'PENDING', ?, ?, ?, {now}, {now})"
                " RETURNING id",
                (
                    name,
                    qualifier,
                    json.dumps(icp, ensure_ascii=False),
                    len(domains),
                    max_attempts,
                    backoff,
                ),
            )
            self.jobs.insert(run_id, domains)
        return int(run_id)

    def get(self, run_id: int, *, stuck_after: float | None = None) -> Run:
        row = self.database.fetchone(
            f"SELECT {_RUN_COLUMNS}, {self._stuck_column(stuck_after)} FROM runs WHERE id = ?",
            (*self._stuck_params(stuck_after), run_id),
        )
        if row is None:
            raise NotFoundError(f"run {run_id}: no such run")
        return _run(row)

    def list(self, *, limit: int = 50, stuck_after: float | None = None) -> list[Run]:
        rows = self.database.fetchall(
            f"SELECT {_RUN_COLUMNS}, {self._stuck_column(stuck_after)} FROM runs"
            " ORDER BY id DESC LIMIT ?",
            (*self._stuck_params(stuck_after), limit),
        )
        return [_run(row) for row in rows]

    def current(self, *, stuck_after: float, finished_within: float, limit: int = 50) -> list[Run]:
        """Active runs, and runs that finished in the last ``finished_within`` seconds, newest
        first (the live dashboard's rows; the runs table is small, the jobs are not read)."""
        rows = self.database.fetchall(
            f"SELECT {_RUN_COLUMNS}, {self._stuck_column(stuck_after)} FROM runs"
            " WHERE status IN ('PENDING', 'PROCESSING') OR finished_at >= {now} - ?"
            " ORDER BY id DESC LIMIT ?",
            (*self._stuck_params(stuck_after), finished_within, limit),
        )
        return [_run(row) for row in rows]

    def stuck(self, stuck_after: float) -> list[Run]:
        rows = self.database.fetchall(
            f"SELECT {_RUN_COLUMNS}, 1 FROM runs WHERE {_STUCK} ORDER BY id",
            (stuck_after, stuck_after),
        )
        return [_run(row) for row in rows]

    def is_stuck(self, run_id: int, stuck_after: float) -> bool:
        return bool(
            self.database.scalar(
                f"SELECT 1 FROM runs WHERE id = ? AND {_STUCK}", (run_id, stuck_after, stuck_after)
            )
        )

    def plan(self, run_id: int) -> RunPlan:
        row = self.database.fetchone(
            "SELECT id, qualifier, icp, max_attempts, backoff FROM runs WHERE id = ?", (run_id,)
        )
        if row is None:
            raise NotFoundError(f"run {run_id}: no such run")
        return RunPlan(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def count_jobs_by_state(self, run_id: int) -> dict[str, int]:
        rows = self.database.fetchall(
            "SELECT state, COUNT(*) FROM jobs WHERE run_id = ? GROUP BY state", (run_id,)
        )
        return {state: count for state, count in rows}

    def count_verdicts(self, run_id: int) -> dict[str, int]:
        """Results of a run by verdict (read from the results_run_verdict index alone)."""
        rows = self.database.fetchall(
            "SELECT verdict, COUNT(*) FROM results WHERE run_id = ? GROUP BY verdict", (run_id,)
        )
        return {verdict: count for verdict, count in rows}

    def count_failures(self, run_id: int, limit: int = 5) -> list[tuple[str, int]]:
        """The run's most common error codes among its failed jobs."""
        rows = self.database.fetchall(
            "SELECT COALESCE(error_code, 'unknown_error'), COUNT(*) FROM jobs"
            " WHERE run_id = ? AND state = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
            (run_id, limit),
        )
        return [(code, count) for code, count in rows]

    def result_keys(self, run_id: int) -> set[str]:
        """The extra fields (such as ``tier``) its qualifier returned, seen on one result."""
        row = self.database.fetchone(
            "SELECT extra FROM results WHERE run_id = ? LIMIT 1", (run_id,)
        )
        return set(json.loads(row[0])) if row and row[0] else set()

    def live_leases(self, run_id: int) -> int:
        return int(
            self.database.scalar(
                "SELECT COUNT(*) FROM jobs WHERE run_id = ? AND state = 'running'"
                " AND lease_expires_at >= {now}",
                (run_id,),
            )
        )

    def job(self, run_id: int, domain: str) -> JobRecord:
        self.get(run_id)
        rows = list(self._records("j.run_id = ? AND j.domain = ?", (run_id, domain)))
        if not rows:
            raise NotFoundError(f"run {run_id}: no domain {domain!r}")
        return rows[0]

    def records(
        self, run_id: int, *, verdict: str | Sequence[str] | None = None
    ) -> Iterator[JobRecord]:
        """Every job of a run in input order, with its result; streamed, not loaded at once.

        ``verdict``: only results with this verdict (or any of these); ``"failed"`` selects
        the jobs that failed, which have no result."""
        self.get(run_id)
        wanted = [verdict] if isinstance(verdict, str) else list(verdict or ())
        if not wanted:
            return self._records("j.run_id = ?", (run_id,))
        verdicts = [v for v in wanted if v != "failed"]
        terms = ["j.state = 'failed'"] if "failed" in wanted else []
        if verdicts:
            terms.append(f"r.verdict IN ({self.database.placeholders(len(verdicts))})")
        return self._records(f"j.run_id = ? AND ({' OR '.join(terms)})", (run_id, *verdicts))

    def _records(self, where: str, params: tuple) -> Iterator[JobRecord]:
        cursor = self.database.execute(
            "SELECT j.id, j.domain, j.state, j.attempts, j.error_code, j.error,"
            " j.next_attempt_at, j.lease_owner, j.lease_expires_at, j.finished_at,"
            " r.verdict, r.score, r.reasons, r.evidence, r.extra"
            f" FROM jobs j LEFT JOIN results r ON r.job_id = j.id WHERE {where} ORDER BY j.id",
            params,
        )
        while batch := cursor.fetchmany(1000):
            for row in batch:
                yield JobRecord(
                    *row[:10],
                    verdict=row[10],
                    score=row[11],
                    reasons=json.loads(row[12]) if row[12] else [],
                    evidence=json.loads(row[13]) if row[13] else {},
                    extra=json.loads(row[14]) if row[14] else {},
                )

    def _stuck_column(self, stuck_after: float | None) -> str:
        return "0" if stuck_after is None else f"CASE WHEN {_STUCK} THEN 1 ELSE 0 END"

    def _stuck_params(self, stuck_after: float | None) -> tuple:
        return () if stuck_after is None else (stuck_after, stuck_after)


def _run(row: Sequence[Any]) -> Run:
    return Run(*row[:14], stuck=bool(row[14]))


__all__ = ["JobRecord", "Run", "RunPlan", "RunStatus", "Runs"]
