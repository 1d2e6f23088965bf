"""The store: the truth about runs, jobs, results and workers.

    store = Store.open("qualify.db")          # or postgresql://…, with queue="redis://…"
    store.runs.get(1); store.jobs.claim_next(4, "me", 30.0); store.close()

:class:`Store` opens the database and the queue that delivers its job ids, brings the schema
up to date, and holds one object per table group: ``jobs`` (every job state change),
``runs``, ``workers``, ``activity`` (read-only views for the live dashboard), ``results``
(a run's results a page at a time) and ``pages`` (the page store: copies of fetched pages,
shared by every run).
"""

from __future__ import annotations

from qualify.queue import JobQueue, open_queue
from qualify.store.activity import Activity
from qualify.store.database import Database, open_database
from qualify.store.jobs import Jobs
from qualify.store.llm import LlmAccounts
from qualify.store.migrations import check_current, check_readable, migrate
from qualify.store.pages import Pages, PageStoreStats, PruneReport
from qualify.store.results import (
    OUTCOMES,
    SORTS,
    Provenance,
    ResultFilter,
    ResultPage,
    ResultRow,
    Results,
)
from qualify.store.runs import Runs
from qualify.store.states import ACTIVE_RUN_STATUSES, FINAL_JOB_STATES, JobState, RunStatus
from qualify.store.values import (
    ClaimedJob,
    EarlierOutcome,
    ErrorCount,
    JobRecord,
    LeaseInfo,
    Outcome,
    OutcomeChange,
    ReclaimReport,
    Recorded,
    RetryReport,
    Round,
    Run,
    RunInputs,
    RunPlan,
    Unpushed,
    WorkerInfo,
)
from qualify.store.workers import Workers


class Store:
    def __init__(self, database: Database, queue: JobQueue) -> None:
        self.database = database
        self.queue = queue
        self.jobs = Jobs(database, queue)
        self.runs = Runs(database, self.jobs)
        self.workers = Workers(database)
        self.activity = Activity(database)
        self.results = Results(database)
        self.llm = LlmAccounts(database, queue)
        self.pages = Pages(database)

    @classmethod
    def open(
        cls, db: str, queue: str | None = None, *, create: bool = True, read_only: bool = False
    ) -> Store:
        """Open the store at ``db`` (a path or URL) and its queue (``queue``: a Redis URL,
        or None for the store's own database), applying the migrations it lacks. With
        ``create=False`` a SQLite file that does not exist is an error, not a new store.

        With ``read_only`` nothing is created, migrated or changed: a store that is not at
        this code's version is refused. Whatever the mode, a SQLite file holding another
        program's tables, or a store written by a newer qualify, is refused untouched."""
        database = open_database(db, create=create and not read_only)
        try:
            check_readable(database, foreign_ok=database.dialect != "sqlite")
            if read_only:
                check_current(database)
            else:
                database.prepare_for_writes()
            # A queue server that cannot be reached fails here, before any migration runs.
            job_queue = open_queue(queue, database.db, database.display_url)
            if not read_only:
                migrate(database)
        except BaseException:
            database.close()
            raise
        return cls(database, job_queue)

    def close(self) -> None:
        self.queue.close()
        self.database.close_all()


__all__ = [
    "ACTIVE_RUN_STATUSES",
    "FINAL_JOB_STATES",
    "OUTCOMES",
    "SORTS",
    "Activity",
    "ClaimedJob",
    "Database",
    "EarlierOutcome",
    "ErrorCount",
    "JobRecord",
    "JobState",
    "Jobs",
    "LeaseInfo",
    "Outcome",
    "OutcomeChange",
    "PageStoreStats",
    "Pages",
    "Provenance",
    "PruneReport",
    "ReclaimReport",
    "Recorded",
    "ResultFilter",
    "ResultPage",
    "ResultRow",
    "Results",
    "RetryReport",
    "Round",
    "Run",
    "RunInputs",
    "RunPlan",
    "RunStatus",
    "Runs",
    "Store",
    "Unpushed",
    "WorkerInfo",
    "Workers",
    "open_database",
]
