"""Read-only views of what is happening now: leases about to expire, recent error codes.

For the live dashboard, which may refresh every second against a million jobs: each query
reads one of the small partial indexes (``jobs_running``, ``jobs_failed``, ``jobs_waiting``)
and stops after a bounded number of rows, so its cost does not grow with the jobs table.
Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from qualify.store.database import Database


@dataclass(frozen=True)
class LeaseInfo:
    """A running job and how long its lease has left (negative: already expired)."""

    job_id: int
    run_id: int
    domain: str
    owner: str | None
    expires_in: float


@dataclass(frozen=True)
class ErrorCount:
    """How many of the sampled jobs carry ``code``, and in which runs."""

    code: str
    count: int
    run_ids: tuple[int, ...]


class Activity:
    def __init__(self, database: Database) -> None:
        self.database = database

    def leases_expiring(self, within: float, *, limit: int = 200) -> list[LeaseInfo]:
        """Running jobs whose lease ends within ``within`` seconds (or has ended), soonest
        first: the range scan of ``jobs_running`` stops at ``limit`` rows."""
        rows = self.database.fetchall(
            "SELECT id, run_id, domain, lease_owner, lease_expires_at - {now} FROM jobs"
            " WHERE state = 'running' AND lease_expires_at < {now} + ?"
            " ORDER BY lease_expires_at LIMIT ?",
            (within, limit),
        )
        return [LeaseInfo(*row) for row in rows]

    def recent_failures(self, sample: int = 200, run_id: int | None = None) -> list[ErrorCount]:
        """Error codes of the ``sample`` most recently failed jobs (of all runs; with
        ``run_id``, those of them in that run), most common first."""
        rows = self.database.fetchall(
            "SELECT run_id, error_code, COUNT(*) FROM (SELECT run_id, error_code FROM jobs"
            " WHERE state = 'failed' ORDER BY finished_at DESC LIMIT ?) AS recent"
            " GROUP BY run_id, error_code",
            (sample,),
        )
        return _by_code(rows, run_id)

    def retrying(self, sample: int = 200, run_id: int | None = None) -> list[ErrorCount]:
        """Error codes of the jobs waiting for a retry (the ``sample`` due soonest)."""
        rows = self.database.fetchall(
            "SELECT run_id, error_code, COUNT(*) FROM (SELECT run_id, error_code FROM jobs"
            " WHERE state = 'waiting' ORDER BY next_attempt_at LIMIT ?) AS due"
            " GROUP BY run_id, error_code",
            (sample,),
        )
        return _by_code(rows, run_id)


def _by_code(rows: list[tuple], only_run: int | None) -> list[ErrorCount]:
    counts: dict[str, int] = defaultdict(int)
    runs: dict[str, set[int]] = defaultdict(set)
    for run_id, code, count in rows:
        if only_run is not None and run_id != only_run:
            continue
        key = code or "unknown_error"
        counts[key] += count
        runs[key].add(run_id)
    return sorted(
        (ErrorCount(code, counts[code], tuple(sorted(runs[code]))) for code in counts),
        key=lambda e: (-e.count, e.code),
    )
