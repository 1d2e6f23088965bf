"""Every change of a job's state happens here, and nowhere else.

Each method is one transaction that moves jobs along DESIGN.md's state machine and keeps the
run's counters and status in step. Worker-side changes are *fenced*: they only apply while the
caller still holds the lease, identified by ``(lease_owner, claims)`` (a claim number that only
grows) so that a worker whose lease was taken away (even if the same worker later claimed the
job again) changes nothing.
The statements themselves are named queries (``qualify/store/sql``).
"""

from __future__ import annotations

import json
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from qualify.crashpoints import crash_point
from qualify.errors import BackendUnavailable, StoreUnavailable
from qualify.queue import MESSAGE_DIGITS, MESSAGE_PREFIX, QUEUE_NAME, JobQueue, decode_all
from qualify.store.database import Database, Row, json_array, json_ids
from qualify.store.faults import outage_cause
from qualify.store.values import (
    ClaimedJob,
    Outcome,
    ReclaimReport,
    Recorded,
    RetryReport,
    Round,
    Unpushed,
)

if TYPE_CHECKING:
    from qualify.qualifiers import QualifierResult

_BATCH = 200  # outcomes per statement: each JSON parameter stays small
#: Counter shards a run's counts spread over (run_counters): a worker picks one at random,
#: so workers seldom share one and never all queue on a single row.
SHARDS = 64
_MAX_ERROR_CHARS = 500


class Jobs:
    """Job state transitions over one database and the queue that delivers job ids."""

    def __init__(self, database: Database, queue: JobQueue) -> None:
        self.database = database
        self.queue = queue
        #: This process's shard of every run's counters (see ``count_finished_jobs``).
        self.shard = secrets.randbelow(SHARDS)
        self._started: set[int] = set()  # runs this process saw PROCESSING
        #: Pushes the queue refused after their change committed (see _push_committed).
        self.unpushed: list[Unpushed] = []

    # -- creating -------------------------------------------------------------------------

    def insert(self, run_id: int, domains: Sequence[str]) -> None:
        """Insert a run's jobs, queued, and enqueue them. Call inside the run's transaction."""
        db = self.database
        now = db.now()
        db.insert_many("insert_jobs", ((run_id, domain, "queued", now) for domain in domains))
        self._enqueue_run(run_id)

    def _enqueue_run(self, run_id: int) -> None:
        db = self.database
        if self.queue.transactional:
            crash_point("run.before_enqueue")
            db.execute(
                "enqueue_run_jobs",
                {"queue": QUEUE_NAME, "prefix": MESSAGE_PREFIX, "run_id": run_id},
            )
        else:
            db.after_commit(lambda: self._push_after_commit(run_id))

    def insert_from_run(self, run_id: int, source_run_id: int) -> None:
        """Insert, queued, a job for every domain of run ``source_run_id`` (a rescore), and
        enqueue them. Call inside the run's transaction."""
        db = self.database
        db.execute("insert_jobs_from_run", {"run_id": run_id, "source_run_id": source_run_id})
        self._enqueue_run(run_id)

    def _push_after_commit(self, run_id: int) -> None:
        # Between the commit and this push a crash loses messages, not jobs: the reconciler
        # finds queued jobs the queue does not hold and enqueues them again.
        crash_point("run.after_commit")
        rows = self.database.rows("queued_jobs_of_run", run_id=run_id)
        self._push_committed([row["id"] for row in rows])

    def _push_committed(self, job_ids: list[int]) -> None:
        """Push messages for jobs whose change is committed. A queue that refuses them
        (out of memory, connection lost) loses messages, not jobs: the reconciler of any
        worker enqueues them again. The refusal is noted in :attr:`unpushed`, for the
        command to say so, never raised: the change is done, and trying it again would
        double it."""
        try:
            self.queue.push(job_ids)
        except BackendUnavailable as exc:
            self.unpushed.append(Unpushed(len(job_ids), str(exc)))

    # -- the worker's path ----------------------------------------------------------------

    def claim_next(self, limit: int, owner: str, lease: float) -> tuple[int, list[ClaimedJob]]:
        """Take up to ``limit`` messages off the queue and claim their jobs.

        Returns how many messages were taken and the jobs actually claimed; a duplicate or
        stale message (job no longer queued) claims nothing and is simply dropped.
        """
        done = self.record_and_claim([], limit, owner, lease)
        return done.taken, done.claimed

    def record_and_claim(
        self, outcomes: Sequence[Outcome], limit: int, owner: str, lease: float
    ) -> Round:
        """A worker's round trip: record the jobs that finished and claim up to ``limit``
        new ones, in one transaction, so a busy worker commits once per round, not per job."""
        queue, db = self.queue, self.database
        limit = max(limit, 0)
        if limit and not outcomes and queue.transactional and queue.is_empty():
            limit = 0  # an idle worker polls with a read, never a write transaction
        if not outcomes and not limit:
            return Round(0, [], set())
        job_ids: list[int] = []
        if limit and not queue.transactional:
            job_ids = queue.pop(limit)  # one round trip, whether or not it is empty
            # A crash here loses messages, not jobs: the reconciler enqueues them again.
            crash_point("worker.after_pop")
            if not job_ids and not outcomes:
                return Round(0, [], set())
        try:
            with db.write():
                recorded = self._record(outcomes) if outcomes else set()
                if limit and queue.transactional:
                    taken, claimed = self._pop_and_claim(limit, owner, lease)
                    # Pop and claim commit together: a crash here pops nothing.
                    crash_point("worker.after_pop")
                    return Round(taken, claimed, recorded)
                return Round(len(job_ids), self._claim(job_ids, owner, lease), recorded)
        except BaseException:
            if job_ids and not queue.transactional:
                # The claim did not commit (or may not have: then the message claims
                # nothing): the messages go back, rather than wait for the reconciler.
                with suppress(Exception):
                    queue.push(job_ids)
            raise

    def claim(self, job_ids: Sequence[int], owner: str, lease: float) -> list[ClaimedJob]:
        """Claim specific jobs (atomic: only those still queued are taken)."""
        with self.database.write():
            return self._claim(job_ids, owner, lease)

    def _claim(self, job_ids: Sequence[int], owner: str, lease: float) -> list[ClaimedJob]:
        if not job_ids:
            return []
        rows = self.database.rows("claim_jobs", ids=json_ids(job_ids), owner=owner, lease=lease)
        return self._claimed(rows, owner)

    def _pop_and_claim(self, limit: int, owner: str, lease: float) -> tuple[int, list[ClaimedJob]]:
        """With the queue in this database, in the caller's transaction: take up to
        ``limit`` job ids off the queue and claim their jobs, in one statement where the
        dialect has one (``pop_and_claim_jobs``); how many ids came off, and the jobs claimed."""
        if "pop_and_claim_jobs" not in self.database.queries:
            job_ids = self.queue.pop(limit)
            return len(job_ids), self._claim(job_ids, owner, lease)
        rows = self.database.rows(
            "pop_and_claim_jobs",
            queue=QUEUE_NAME, prefix=MESSAGE_PREFIX, digits=MESSAGE_DIGITS,
            limit=limit, owner=owner, lease=lease,
        )  # fmt: skip
        tally = rows.pop()  # the last row: how many were taken, and what was not ours
        if tally["forged"]:
            decode_all(message.encode("utf-8", "replace") for message in tally["forged"])
        return int(tally["taken"]), self._claimed(rows, owner)

    def _claimed(self, rows: Sequence[Row], owner: str) -> list[ClaimedJob]:
        db = self.database
        claimed = [ClaimedJob.from_row(row, owner) for row in rows]
        starting = sorted({job.run_id for job in claimed} - self._started)
        started = [run_id for run_id in starting if db.value("mark_run_started", run_id=run_id)]
        if started:
            # Once it commits the run is PROCESSING for good (mark_run_started changes a
            # PENDING run only): later rounds need not ask again. A run another worker was
            # marking at that moment is asked about again next round.
            db.after_commit(lambda: self._started.update(started))
        return sorted(claimed, key=lambda job: job.id)

    def renew(self, owner: str, job_ids: Sequence[int], lease: float) -> set[int]:
        """Extend the leases this worker still holds; return the ids it still holds."""
        if not job_ids:
            return set()
        with self.database.write():
            rows = self.database.rows(
                "renew_leases", ids=json_ids(job_ids), owner=owner, lease=lease
            )
        return {row["id"] for row in rows}

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

    def record_each(self, outcomes: Sequence[Outcome]) -> Recorded:
        """Record outcomes one transaction each, after the store refused them together: one
        outcome the store refuses must not take the others down with it.

        A result the store refuses on its own merits fails its job instead
        (``unrecordable_result``, with the store's reason). An error that says the whole
        store is down (a full disk, a lost connection: see ``faults``) is raised, as
        :class:`~qualify.errors.StoreUnavailable`, for the caller to hold the outcomes and
        try again; what else cannot be recorded is left unrecorded (its lease expires and
        the job runs again).
        """
        recorded: set[int] = set()
        final: dict[int, Outcome] = {}
        unrecorded: set[int] = set()
        for outcome in outcomes:
            job_id = outcome.job.id
            final[job_id] = outcome
            try:
                recorded |= self.record([outcome])
                continue
            except Exception as exc:
                _raise_if_outage(exc)
                if outcome.result is None:
                    unrecorded.add(job_id)
                    continue
                refused = Outcome.failed(
                    outcome.job,
                    "unrecordable_result",
                    f"the store refused the result: {_one_line(exc)}",
                )
            final[job_id] = refused
            try:
                recorded |= self.record([refused])
            except Exception as exc:
                _raise_if_outage(exc)
                unrecorded.add(job_id)
        return Recorded(recorded=recorded, outcomes=final, unrecorded=unrecorded)

    def _record(self, outcomes: Sequence[Outcome]) -> set[int]:
        recorded: set[int] = set()
        done = [o for o in outcomes if o.result is not None]
        for start in range(0, len(done), _BATCH):
            recorded |= self._record_done(done[start : start + _BATCH])
        failed = [o for o in outcomes if o.result is None]
        for start in range(0, len(failed), _BATCH):
            recorded |= self._record_failures(failed[start : start + _BATCH])
        # A crash here must take the results with it: they and the run's counters commit
        # together, or neither does.
        crash_point("worker.before_counters")
        self._count_outcomes([o for o in outcomes if o.job.id in recorded])
        return recorded

    def _record_done(self, done: Sequence[Outcome]) -> set[int]:
        db = self.database
        recorded = {
            row["id"]
            for owner, fences in _fences(o.job for o in done).items()
            for row in db.rows("finish_jobs_done", owner=owner, fences=fences)
        }
        db.insert_many(
            "insert_results",
            (
                (o.job.id, o.job.run_id, o.result.verdict, o.result.score,
                 _json(o.result.reasons), _json(o.result.evidence), _json(o.result.extra),
                 o.job.owner)
                for o in done
                if o.job.id in recorded and o.result is not None
            ),
        )  # fmt: skip
        return recorded

    def _record_failures(self, failed: Sequence[Outcome]) -> set[int]:
        """Retries and failures: one statement for each kind (and lease owner), fenced."""
        db = self.database
        retries = _failures(o for o in failed if o.retry_in is not None)
        fails = _failures(o for o in failed if o.retry_in is None)
        return {
            row["id"] for owner, rows in retries.items()
            for row in db.rows("retry_jobs", owner=owner, outcomes=rows)
        } | {
            row["id"] for owner, rows in fails.items()
            for row in db.rows("fail_jobs", owner=owner, outcomes=rows)
        }  # fmt: skip

    def _count_outcomes(self, recorded: Sequence[Outcome]) -> None:
        """One counter update per run for the whole batch."""
        # run id -> [completed, failed, qualified, unknown]
        per_run: dict[int, list[int]] = {}
        for outcome in recorded:
            counts = per_run.get(outcome.job.run_id)
            if counts is None:
                counts = per_run[outcome.job.run_id] = [0, 0, 0, 0]
            if outcome.result is not None:
                counts[0] += 1
                counts[2] += outcome.result.qualified
                counts[3] += outcome.result.verdict == "unknown"
            elif outcome.retry_in is None:
                counts[1] += 1
        for run_id, (completed, failed, qualified, unknown) in sorted(per_run.items()):
            self._count_finished(
                run_id, completed=completed, failed=failed, qualified=qualified, unknown=unknown
            )

    def finish_done_runs(self, run_id: int | None = None) -> int:
        """Complete the active runs (or run ``run_id``) whose jobs have all ended; how many.

        Counting runs it for each run it counted, in the same transaction; maintenance runs
        it for every run, to complete a run whose last jobs two workers finished at once
        (neither saw the other's count before it committed)."""
        return self.database.count("finish_done_runs", run_id=run_id)

    def release(self, jobs: Sequence[ClaimedJob]) -> int:
        """Hand jobs back at once (a worker shutting down): queued again, attempt not counted."""
        if not jobs:
            return 0
        db = self.database
        with db.write():
            rows = [
                row
                for owner, fences in _fences(jobs).items()
                for row in db.rows("release_jobs", owner=owner, fences=fences)
            ]
            self._requeue([row["id"] for row in rows])
            self._touch_runs(row["run_id"] for row in rows)
        return len(rows)

    # -- maintenance, run by every worker -------------------------------------------------

    def has_expired_leases(self) -> bool:
        return bool(self.database.value("any_expired_lease"))

    def reclaim_expired(self, run_id: int | None = None) -> ReclaimReport:
        """Jobs whose lease expired (their worker died or hung) go back to the queue, or fail
        when they have used up their attempts: a poison pill must not loop forever."""
        db = self.database
        with db.write():
            failed = db.rows("fail_expired_exhausted", run_id=run_id)
            for failed_run, count in Counter(row["run_id"] for row in failed).items():
                self._count_finished(failed_run, failed=count)
            requeued = db.rows("requeue_expired", run_id=run_id)
            self._requeue([row["id"] for row in requeued])
            self._touch_runs(row["run_id"] for row in requeued)
        return ReclaimReport(requeued=len(requeued), failed=len(failed))

    def has_due_retries(self) -> bool:
        return bool(self.database.value("any_due_retry"))

    def promote_due(self, run_id: int | None = None, *, force: bool = False) -> int:
        """Waiting jobs whose retry time has come (or all, with ``force``) are queued again."""
        db = self.database
        with db.write():
            rows = db.rows("queue_due_retries", force=force, run_id=run_id)
            self._requeue([row["id"] for row in rows])
            self._touch_runs(row["run_id"] for row in rows)
        return len(rows)

    def queued_count(self) -> int:
        """How many jobs are queued, from the active runs' counters and the small sets of
        running and waiting jobs: no scan of the jobs table (queued jobs are not indexed, so
        that inserting a million of them stays cheap)."""
        db = self.database
        unfinished = int(db.value("count_unfinished_in_active_runs"))
        unfinished -= int(db.value("count_running_in_active_runs"))
        unfinished -= int(db.value("count_waiting_in_active_runs"))
        return unfinished

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
        lost = self.lost(grace, run_id)
        if not lost:
            return 0
        requeued: list[int] = []
        with db.write():
            for start in range(0, len(lost), 500):
                chunk = json_ids(lost[start : start + 500])
                requeued.extend(row["id"] for row in db.rows("touch_queued_jobs", ids=chunk))
            self._requeue(requeued)
        return len(requeued)

    def lost(self, grace: float, run_id: int | None = None) -> list[int]:
        """Queued jobs quiet for ``grace`` seconds that the queue does not hold (read only:
        what :meth:`requeue_lost` would enqueue again)."""
        db = self.database
        held = self.queue.held_job_ids()
        if run_id is None:
            quiet = db.rows("quiet_queued_jobs", grace=grace)
        else:
            quiet = db.rows("quiet_queued_jobs_of_run", grace=grace, run_id=run_id)
        return [row["id"] for row in quiet if row["id"] not in held]

    def has_unfinished(self) -> bool:
        """Is any job, of any run, still queued, running or waiting?"""
        # Queued jobs exist only in active runs; running and waiting ones have small partial
        # indexes (and may outlive a run given up by `recover --fail`).
        db = self.database
        return bool(
            db.value("any_active_run") or db.value("any_running_job") or db.value("any_waiting_job")
        )

    # -- operator actions on a run --------------------------------------------------------

    def cancel_run(self, run_id: int) -> int:
        """End every unfinished job of a run as cancelled; in-flight results will be fenced out."""
        db = self.database
        with db.write():
            count = db.count("cancel_run_jobs", run_id=run_id)
            db.execute("mark_run_cancelled", {"count": count, "run_id": run_id})
        return count

    def retry_finished(
        self, run_id: int, *, codes: Sequence[str] = (), verdicts: Sequence[str] = ()
    ) -> RetryReport:
        """Finished jobs of a run back to queued with fresh attempts, in one transaction:
        with neither ``codes`` nor ``verdicts``, the failed ones; else the failed ones with an
        error code in ``codes`` and the done ones whose result has a verdict in ``verdicts``
        or an error code in ``codes``. How each had ended moves to the history (a result
        is never deleted), and the run's counters lose exactly those jobs."""
        db = self.database
        with db.write():
            rows = db.rows(
                "retry_candidates",
                run_id=run_id,
                all_failed=not codes and not verdicts,
                codes=json_array(codes),
                verdicts=json_array(verdicts),
            )
            if not rows:
                return RetryReport(requeued=0, done=0, failed=0)
            ids = json_ids(row["id"] for row in rows)
            db.execute("archive_outcomes", {"ids": ids})
            db.execute("delete_results", {"ids": ids})
            requeued = [row["id"] for row in db.rows("requeue_finished_jobs", ids=ids)]
            done = sum(1 for row in rows if row["state"] == "done")
            verdicts_retried = Counter(row["verdict"] for row in rows if row["state"] == "done")
            failed = len(rows) - done
            db.execute(
                "reopen_run",
                {
                    "completed": done,
                    "failed": failed,
                    "qualified": verdicts_retried["qualified"],
                    "unknown": verdicts_retried["unknown"],
                    "run_id": run_id,
                },
            )
            self._requeue(requeued)
        return RetryReport(requeued=len(requeued), done=done, failed=failed)

    def fail_unfinished(self, run_id: int, message: str) -> int:
        """Give up on a run: its unfinished jobs fail, except any whose lease is still live."""
        db = self.database
        with db.write():
            count = db.count("fail_unfinished_jobs", message=message, run_id=run_id)
            db.execute("mark_run_failed", {"count": count, "run_id": run_id})
        return count

    # -- helpers --------------------------------------------------------------------------

    def _requeue(self, job_ids: Sequence[int]) -> None:
        if not job_ids:
            return
        if self.queue.transactional:
            self.queue.push(job_ids)
        else:
            ids = list(job_ids)
            self.database.after_commit(lambda: self._push_committed(ids))

    def _count_finished(
        self,
        run_id: int,
        *,
        completed: int = 0,
        failed: int = 0,
        qualified: int = 0,
        unknown: int = 0,
    ) -> None:
        if not (completed or failed):
            return
        self.database.execute(
            "count_finished_jobs",
            {"completed": completed, "failed": failed, "qualified": qualified,
             "unknown": unknown, "run_id": run_id, "shard": self.shard},
        )  # fmt: skip
        self.finish_done_runs(run_id)

    def _touch_runs(self, run_ids: Iterable[int]) -> None:
        for run_id in sorted(set(run_ids)):
            self.database.execute("touch_run", {"run_id": run_id, "shard": self.shard})


def _fences(jobs: Iterable[ClaimedJob]) -> dict[str, str]:
    """The fencing tokens of ``jobs`` for the fenced queries: per lease owner (a worker's
    round has one), a JSON object {job id: claim number}."""
    per_owner: defaultdict[str, list[str]] = defaultdict(list)
    for job in jobs:
        per_owner[job.owner].append(f'"{int(job.id)}":{int(job.claim)}')
    return {owner: "{" + ",".join(pairs) + "}" for owner, pairs in per_owner.items()}


def _failures(outcomes: Iterable[Outcome]) -> dict[str, str]:
    """Failed outcomes for retry_jobs and fail_jobs: per lease owner, a JSON array of each
    job's fence (id, claim number), its delay, code and message."""
    per_owner: defaultdict[str, list[dict[str, object]]] = defaultdict(list)
    for outcome in outcomes:
        job = outcome.job
        per_owner[job.owner].append(
            {"id": job.id, "claim": job.claim, "delay": outcome.retry_in,
             "code": outcome.error_code, "message": outcome.error}
        )  # fmt: skip
    return {owner: _json(rows) for owner, rows in per_owner.items()}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _raise_if_outage(error: BaseException) -> None:
    cause = outage_cause(error)
    if cause is not None:
        raise StoreUnavailable(cause) from error


def _one_line(error: BaseException) -> str:
    message = " ".join(f"{type(error).__name__}: {error}".split())
    return message[:_MAX_ERROR_CHARS]
