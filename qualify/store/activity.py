"""Read-only views of what is happening now: leases about to expire, recent error codes.

For the live dashboard, which may refresh every second against a million jobs: each query
reads one of the small partial indexes (``jobs_running``, ``jobs_failed``, ``jobs_waiting``)
and stops after a bounded number of rows, so its cost does not grow with the jobs table.
Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from qualify.store.database import Database, Row
from qualify.store.values import ErrorCount, LeaseInfo


class Activity:
    def __init__(self, database: Database) -> None:
        self.database = database

    def leases_expiring(self, within: float, *, limit: int = 200) -> list[LeaseInfo]:
        """Running jobs whose lease ends within ``within`` seconds (or has ended), soonest
        first: the range scan of ``jobs_running`` stops at ``limit`` rows."""
        rows = self.database.rows("leases_expiring", within=within, limit=limit)
        return [LeaseInfo.from_row(row) for row in rows]

    def recent_failures(self, sample: int = 200, run_id: int | None = None) -> list[ErrorCount]:
        """Error codes of the ``sample`` most recently failed jobs (of all runs; with
        ``run_id``, those of them in that run), most common first."""
        return _by_code(self.database.rows("recent_failures", sample=sample), run_id)

    def retrying(self, sample: int = 200, run_id: int | None = None) -> list[ErrorCount]:
        """Error codes of the jobs waiting for a retry (the ``sample`` due soonest)."""
        return _by_code(self.database.rows("retrying", sample=sample), run_id)


def _by_code(rows: Iterable[Row], only_run: int | None) -> list[ErrorCount]:
    counts: dict[str, int] = defaultdict(int)
    runs: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        if only_run is not None and row["run_id"] != only_run:
            continue
        key = row["error_code"] or "unknown_error"
        counts[key] += row["count"]
        runs[key].add(row["run_id"])
    return sorted(
        (ErrorCount(code, counts[code], tuple(sorted(runs[code]))) for code in counts),
        key=lambda e: (-e.count, e.code),
    )
