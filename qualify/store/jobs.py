"""Every change of a job's state happens here, and nowhere else.

Each method is one transaction that moves jobs along DESIGN.md's state machine and keeps the
run's counters and status in step. Worker-side changes are *fenced*: they only apply while the
caller still holds the lease, identified by ``(lease_owner, attempts)`` so that a worker whose
lease was taken away (even if the same worker later claimed the job again) changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qualify.faults import crash_point
from qualify.store.database import Database

if TYPE_CHECKING:
    from qualify.qualifiers import QualifierResult
    from qualify.queue import JobQueue

# Run counters and status in one statement: all right-hand sides see the row before the
# update, so the completion check adds this change's own increments.
_BUMP_RUN = """
UPDATE runs SET
    completed = completed + ?, failed = failed + ?, qualified = qualified + ?,
    updated_at = {now},
    status = CASE
        WHEN status IN ('PENDING', 'PROCESSING')
             AND completed + failed + cancelled + ? >= total THEN 'COMPLETED'
        ELSE status END,
    finished_at = CASE
        WHEN status IN ('PENDING', 'PROCESSING')
             AND completed + failed + cancelled + ? >= total THEN {now}
        ELSE finished_at END
WHERE id = ?"""

_FENCE = "id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?"
_ACTIVE_RUN = "status IN ('PENDING', 'PROCESSING')"
_BATCH = 200  # jobs per statement: well under every driver's parameter limit
LEASE_EXPIRED = "lease_expired"


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds: the lease is valid while ``(owner, attempts)`` still match."""

    id: int
    run_id: int
    domain: str
    attempts: int
    owner: str
    #: Its last worker died while running it: it may be the poison that killed it.
    suspect: bool = False

    @property
    def fence(self) -> tuple[int, str, int]:
        return (self.id, self.owner, self.attempts)


@dataclass(frozen=True)
class Outcome:
    """What became of a job this worker ran: a result, a retry later, or a failure."""

    job: ClaimedJob
    result: QualifierResult | None = None
    retry_in: float | None = None
    error_code: str | None = None
    error: str | None = None

    @classmethod
    def done(cls, job: ClaimedJob, result: QualifierResult) -> Outcome:
        return cls(job, result=result)

    @classmethod
    def retry(cls, job: ClaimedJob, delay: float, code: str, message: str) -> Outcome:
        return cls(job, retry_in=delay, error_code=code, error=message)

    @classmethod
    def failed(cls, job: ClaimedJob, code: str, message: str) -> Outcome:
        return cls(job, error_code=code, error=message)

    @property
    def kind(self) -> str:
        if self.result is not None:
            return "done"
        return "failed" if self.retry_in is None else "retry"


@dataclass(frozen=True)
class Cycle:
    """What one worker round trip did: messages taken, jobs claimed, outcomes recorded."""

    taken: int
    claimed: list[ClaimedJob]
    recorded: set[int]


@dataclass(frozen=True)
class ReclaimReport:
    requeued: int
    failed: int


class Jobs:
    """Job state transitions over one database and the queue that delivers job ids."""

    def __init__(self, database: Database, queue: JobQueue) -> None:
        self.database = database
        self.queue = queue

    # -- creating -------------------------------------------------------------------------

    def insert(self, run_id: int, domains: Sequence[str]) -> None:
        """Insert a run's jobs, queued, and enqueue them. Call inside the run's transaction."""
        db = self.database
        now = db.now()
        db.insert_rows(
            "jobs",
            ("run_id", "domain", "state", "updated_at"),
            ((run_id, domain, "queued", now) for domain in domains),
        )
        if self.queue.transactional:
            crash_point("run.before_enqueue")
            self.queue.push_run(db, run_id)
        else:
            db.after_commit(lambda: self._push_after_commit(run_id))

    def _push_after_commit(self, run_id: int) -> None:
        # Between the commit and this push a crash loses messages, not jobs: the reconciler
        # finds queued jobs the queue does not hold and enqueues them again.
        crash_point("run.after_commit")
        self.queue.push_run(self.database, run_id)

    # -- the worker's path ----------------------------------------------------------------

    def claim_next(self, limit: int, owner: str, lease: float) -> tuple[int, list[ClaimedJob]]:
        """Take up to ``limit`` messages off the queue and claim their jobs.

        Returns how many messages were taken and the jobs actually claimed; a duplicate or
        stale message (job no longer queued) claims nothing and is simply dropped.
        """
        cycle = self.cycle([], limit, owner, lease)
        return cycle.taken, cycle.claimed

    def cycle(self, outcomes: Sequence[Outcome], limit: int, owner: str, lease: float) -> Cycle:
        """A worker's round trip: record the jobs that finished and claim up to ``limit``
        new ones, in one transaction, so a busy worker commits once per round, not per job."""
        queue, db = self.queue, self.database
        limit = limit if limit > 0 and not queue.is_empty() else 0
        if not outcomes and not limit:
            return Cycle(0, [], set())
        job_ids: list[int] = []
        if limit and not queue.transactional:
            job_ids = queue.pop(limit)
            # A crash here loses messages, not jobs: the reconciler enqueues them again.
            crash_point("worker.after_pop")
        with db.write():
            recorded = self._record(outcomes) if outcomes else set()
            if limit and queue.transactional:
                job_ids = queue.pop(limit)  # pop and claim commit together
            return Cycle(len(job_ids), self._claim(job_ids, owner, lease), recorded)

    def claim(self, job_ids: Sequence[int], owner: str, lease: float) -> list[ClaimedJob]:
        """Claim specific jobs (atomic: only those still queued are taken)."""
        with self.database.write():
            return self._claim(job_ids, owner, lease)

    def _claim(self, job_ids: Sequence[int], owner: str, lease: float) -> list[ClaimedJob]:
        if not job_ids:
            return []
        db = self.database
        rows = db.fetchall(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = {now} + ?,"
            " attempts = attempts + 1, started_at = {now}, updated_at = {now}"
            f" WHERE id IN ({db.placeholders(len(job_ids))}) AND state = 'queued'"
            " RETURNING id, run_id, domain, attempts, error_code",
            (owner, lease, *job_ids),
        )
        claimed = [ClaimedJob(r[0], r[1], r[2], r[3], owner, r[4] == LEASE_EXPIRED) for r in rows]
        run_ids = sorted({job.run_id for job in claimed})
        if run_ids:
            db.execute(
                "UPDATE runs SET updated_at = {now}, status = CASE WHEN status = 'PENDING'"
                " THEN 'PROCESSING' ELSE status END"
                f" WHERE id IN ({db.placeholders(len(run_ids))})",
                run_ids,
            )
        return sorted(claimed, key=lambda job: job.id)

    def renew(self, owner: str, job_ids: Sequence[int], lease: float) -> set[int]:
        """Extend the leases this worker still holds; return the ids it still holds."""
        if not job_ids:
            return set()
        db = self.database
        with db.write():
            rows = db.fetchall(
                "UPDATE jobs SET lease_expires_at = {now} + ?"
                f" WHERE id IN ({db.placeholders(len(job_ids))})"
                " AND state = 'running' AND lease_owner = ? RETURNING id",
                (lease, *job_ids, owner),
            )
        return {row[0] for row in rows}

    def complete(self, job: ClaimedJob, result: QualifierResult) -> bool:
        """Record the result and finish the job, only if ``job``'s lease still holds."""
        return bool(self.record([Outcome.done(job, result)]))

    def retry_later(self, job: ClaimedJob, delay: float, code: str, message: str) -> bool:
        """A transient failure: wait ``delay`` seconds, then queue again (fenced)."""
        return bool(self.record([Outcome.retry(job, delay, code, message)]))

    def fail(self, job: ClaimedJob, code: str, message: str) -> bool:
        """A permanent failure, or attempts exhausted: the job ends failed (fenced)."""
        return bool(self.record([Outcome.failed(job, code, message)]))

    def record(self, outcomes: Sequence[Outcome]) -> set[int]:
        """Record finished jobs in one transaction; each change applies only while that
        job's lease still holds. Returns the ids that were recorded."""
        with self.database.write():
            return self._record(outcomes)

    def _record(self, outcomes: Sequence[Outcome]) -> set[int]:
        recorded: set[int] = set()
        done = [o for o in outcomes if o.result is not None]
        for start in range(0, len(done), _BATCH):
            recorded |= self._record_done(done[start : start + _BATCH])
        for outcome in outcomes:
            if outcome.result is None and self._record_error(outcome):
                recorded.add(outcome.job.id)
        self._count_outcomes([o for o in outcomes if o.job.id in recorded])
        return recorded

    def _record_done(self, done: Sequence[Outcome]) -> set[int]:
        db = self.database
        fences = [value for o in done for value in o.job.fence]
        rows = db.fetchall(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,"
            " error_code = NULL, error = NULL, finished_at = {now}, updated_at = {now}"
            " WHERE state = 'running' AND (id, lease_owner, attempts) IN"
            f" (VALUES {', '.join(['(?, ?, ?)'] * len(done))}) RETURNING id",
            fences,
        )
        recorded = {row[0] for row in rows}
        now = db.now()
        db.insert_rows(
            "results",
            ("job_id", "run_id", "verdict", "score", "reasons", "evidence", "extra",
             "worker_id", "created_at"),
            (
                (o.job.id, o.job.run_id, o.result.verdict, o.result.score,
                 _json(o.result.reasons), _json(o.result.evidence), _json(o.result.extra),
                 o.job.owner, now)
                for o in done
                if o.job.id in recorded and o.result is not None
            ),
        )  # fmt: skip
        return recorded

    def _record_error(self, outcome: Outcome) -> bool:
        if outcome.retry_in is not None:
            sql = (
                "UPDATE jobs SET state = 'waiting', lease_owner = NULL, lease_expires_at = NULL,"
                " next_attempt_at = {now} + ?, error_code = ?, error = ?, updated_at = {now}"
                f" WHERE {_FENCE}"
            )
            params: tuple = (outcome.retry_in, outcome.error_code, outcome.error)
        else:
            sql = (
                "UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_expires_at = NULL,"
                " error_code = ?, error = ?, finished_at = {now}, updated_at = {now}"
                f" WHERE {_FENCE}"
            )
            params = (outcome.error_code, outcome.error)
        return self.database.execute(sql, (*params, *outcome.job.fence)).rowcount == 1

    def _count_outcomes(self, recorded: Sequence[Outcome]) -> None:
        """One counter update per run for the whole batch."""
        per_run: dict[int, list[int]] = {}
        for outcome in recorded:
            counts = per_run.setdefault(outcome.job.run_id, [0, 0, 0])
            if outcome.result is not None:
                counts[0] += 1
                counts[1] += int(outcome.result.qualified)
            elif outcome.retry_in is None:
                counts[2] += 1
        for run_id, (completed, qualified, failed) in sorted(per_run.items()):
            self._bump_run(run_id, completed=completed, failed=failed, qualified=qualified)

    def release(self, jobs: Sequence[ClaimedJob]) -> int:
        """Hand jobs back at once (a worker shutting down): queued again, attempt not counted."""
        db = self.database
        released: list[int] = []
        with db.write():
            for job in jobs:
                row = db.fetchone(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL,"
                    " lease_expires_at = NULL, attempts = attempts - 1, updated_at = {now}"
                    f" WHERE {_FENCE} RETURNING id",
                    job.fence,
                )
                if row:
                    released.append(row[0])
            self._requeue(released)
            released_set = set(released)
            self._touch_runs({job.run_id for job in jobs if job.id in released_set})
        return len(released)

    # -- maintenance, run by every worker -------------------------------------------------

    def has_expired_leases(self) -> bool:
        return bool(
            self.database.scalar(
                "SELECT 1 FROM jobs WHERE state = 'running' AND lease_expires_at < {now} LIMIT 1"
            )
        )

    def reclaim_expired(self, run_id: int | None = None) -> ReclaimReport:
        """Jobs whose lease expired (their worker died or hung) go back to the queue, or fail
        when they have used up their attempts: a poison pill must not loop forever."""
        db = self.database
        scope, params = _run_scope(run_id)
        expired = f"state = 'running' AND lease_expires_at < {{now}}{scope}"
        max_attempts = "(SELECT max_attempts FROM runs WHERE runs.id = jobs.run_id)"
        with db.write():
            failed = db.fetchall(
                "UPDATE jobs SET state = 'failed', error_code = 'lease_expired',"
                " error = 'worker ' || COALESCE(lease_owner, 'unknown') || ' stopped renewing its"
                " lease (died or hung) on attempt ' || attempts || ' of ' || "
                f"{max_attempts}, lease_owner = NULL, lease_expires_at = NULL,"
                " finished_at = {now}, updated_at = {now}"
                f" WHERE {expired} AND attempts >= {max_attempts} RETURNING run_id",
                params,
            )
            for failed_run, count in Counter(row[0] for row in failed).items():
                self._bump_run(failed_run, failed=count)
            requeued = db.fetchall(
                "UPDATE jobs SET state = 'queued', error_code = 'lease_expired',"
                " error = 'worker ' || COALESCE(lease_owner, 'unknown') || ' stopped renewing its"
                " lease (died or hung) on attempt ' || attempts,"
                " lease_owner = NULL, lease_expires_at = NULL, updated_at = {now}"
                f" WHERE {expired} RETURNING id, run_id",
                params,
            )
            self._requeue([row[0] for row in requeued])
            self._touch_runs({row[1] for row in requeued})
        return ReclaimReport(requeued=len(requeued), failed=len(failed))

    def has_due_retries(self) -> bool:
        return bool(
            self.database.scalar(
                "SELECT 1 FROM jobs WHERE state = 'waiting' AND next_attempt_at <= {now} LIMIT 1"
            )
        )

    def promote_due(self, run_id: int | None = None, *, force: bool = False) -> int:
        """Waiting jobs whose retry time has come (or all, with ``force``) are queued again."""
        db = self.database
        scope, params = _run_scope(run_id)
        due = "" if force else " AND next_attempt_at <= {now}"
        with db.write():
            rows = db.fetchall(
                "UPDATE jobs SET state = 'queued', next_attempt_at = NULL, updated_at = {now}"
                f" WHERE state = 'waiting'{due}{scope} RETURNING id, run_id",
                params,
            )
            self._requeue([row[0] for row in rows])
            self._touch_runs({row[1] for row in rows})
        return len(rows)

    def queued_count(self) -> int:
        """How many jobs are queued, from the active runs' counters and the small sets of
        running and waiting jobs: no scan of the jobs table (queued jobs are not indexed, so
        that inserting a million of them stays cheap)."""
        db = self.database
        unfinished = db.scalar(
            "SELECT COALESCE(SUM(total - completed - failed - cancelled), 0) FROM runs"
            f" WHERE {_ACTIVE_RUN}"
        )
        for state in ("running", "waiting"):  # one query each: each has its partial index
            unfinished -= db.scalar(
                f"SELECT COUNT(*) FROM jobs WHERE state = '{state}'"
                f" AND run_id IN (SELECT id FROM runs WHERE {_ACTIVE_RUN})"
            )
        return int(unfinished)

    def has_orphans(self) -> bool:
        """Cheap check: does the store hold queued jobs while the queue is empty?"""
        return self.queue.is_empty() and self.queued_count() > 0

    def may_have_lost_messages(self) -> bool:
        """Cheap check: does the queue hold fewer messages than there are queued jobs?"""
        return self.queue.size() < self.queued_count()

    def requeue_lost(self, grace: float, run_id: int | None = None) -> int:
        """The reconciler: enqueue again queued jobs that the queue does not hold.

        The queue is read before the store, and jobs that changed in the last ``grace``
        seconds are left alone, so a message in flight between the two is not mistaken for a
        lost one; a mistake would only cost a duplicate message, which claims nothing.
        """
        db = self.database
        held = self.queue.held_job_ids()
        scope, params = _run_scope(run_id)
        queued = db.fetchall(
            f"SELECT id FROM jobs WHERE state = 'queued' AND updated_at < {{now}} - ?{scope}"
            f" AND run_id IN (SELECT id FROM runs WHERE {_ACTIVE_RUN})",
            (grace, *params),
        )
        lost = [row[0] for row in queued if row[0] not in held]
        if not lost:
            return 0
        requeued: list[int] = []
        with db.write():
            for start in range(0, len(lost), 500):
                chunk = lost[start : start + 500]
                rows = db.fetchall(
                    "UPDATE jobs SET updated_at = {now}"
                    f" WHERE id IN ({db.placeholders(len(chunk))}) AND state = 'queued'"
                    " RETURNING id",
                    chunk,
                )
                requeued.extend(row[0] for row in rows)
            self._requeue(requeued)
        return len(requeued)

    def has_unfinished(self) -> bool:
        """Is any job, of any run, still queued, running or waiting?"""
        # Queued jobs exist only in active runs; running and waiting ones have small partial
        # indexes (and may outlive a run given up by `recover --fail`).
        db = self.database
        return bool(
            db.scalar(f"SELECT 1 FROM runs WHERE {_ACTIVE_RUN} LIMIT 1")
            or db.scalar("SELECT 1 FROM jobs WHERE state = 'running' LIMIT 1")
            or db.scalar("SELECT 1 FROM jobs WHERE state = 'waiting' LIMIT 1")
        )

    # -- operator actions on a run --------------------------------------------------------

    def cancel_run(self, run_id: int) -> int:
        """End every unfinished job of a run as cancelled; in-flight results will be fenced out."""
        db = self.database
        with db.write():
            count = db.execute(
                "UPDATE jobs SET state = 'cancelled', lease_owner = NULL,"
                " lease_expires_at = NULL, finished_at = {now}, updated_at = {now}"
                " WHERE run_id = ? AND state IN ('queued', 'running', 'waiting')",
                (run_id,),
            ).rowcount
            db.execute(
                "UPDATE runs SET status = 'CANCELLED', cancelled = cancelled + ?,"
                " updated_at = {now}, finished_at = {now}"
                " WHERE id = ? AND status IN ('PENDING', 'PROCESSING')",
                (count, run_id),
            )
        return count

    def retry_failed(self, run_id: int) -> int:
        """Failed jobs of a run back to queued with fresh attempts; the run is active again."""
        db = self.database
        with db.write():
            rows = db.fetchall(
                "UPDATE jobs SET state = 'queued', attempts = 0, finished_at = NULL,"
                " updated_at = {now} WHERE run_id = ? AND state = 'failed' RETURNING id",
                (run_id,),
            )
            if rows:
                db.execute(
                    "UPDATE runs SET failed = failed - ?, status = 'PROCESSING',"
                    " finished_at = NULL, updated_at = {now} WHERE id = ?",
                    (len(rows), run_id),
                )
                self._requeue([row[0] for row in rows])
        return len(rows)

    def fail_unfinished(self, run_id: int, message: str) -> int:
        """Give up on a run: its unfinished jobs fail, except any whose lease is still live."""
        db = self.database
        with db.write():
            count = db.execute(
                "UPDATE jobs SET state = 'failed', error_code = 'run_failed', error = ?,"
                " lease_owner = NULL, lease_expires_at = NULL, finished_at = {now},"
                " updated_at = {now} WHERE run_id = ? AND (state IN ('queued', 'waiting')"
                " OR (state = 'running' AND lease_expires_at < {now}))",
                (message, run_id),
            ).rowcount
            db.execute(
                "UPDATE runs SET status = 'FAILED', failed = failed + ?, updated_at = {now},"
                " finished_at = {now} WHERE id = ?",
                (count, run_id),
            )
        return count

    # -- helpers --------------------------------------------------------------------------

    def _requeue(self, job_ids: Sequence[int]) -> None:
        if not job_ids:
            return
        if self.queue.transactional:
            self.queue.push(job_ids)
        else:
            ids = list(job_ids)
            self.database.after_commit(lambda: self.queue.push(ids))

    def _bump_run(
        self, run_id: int, *, completed: int = 0, failed: int = 0, qualified: int = 0
    ) -> None:
        finished = completed + failed
        self.database.execute(_BUMP_RUN, (completed, failed, qualified, finished, finished, run_id))

    def _touch_runs(self, run_ids: Iterable[int]) -> None:
        ids = sorted(set(run_ids))
        if ids:
            self.database.execute(
                "UPDATE runs SET updated_at = {now}"
                f" WHERE id IN ({self.database.placeholders(len(ids))})",
                ids,
            )


def _run_scope(run_id: int | None) -> tuple[str, tuple]:
    return ("", ()) if run_id is None else (" AND run_id = ?", (run_id,))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
