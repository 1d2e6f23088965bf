"""The store: the truth about runs, jobs, results and workers."""

from __future__ import annotations

from qualify.store.database import Database, open_database
from qualify.store.jobs import ClaimedJob, Jobs, ReclaimReport
from qualify.store.runs import JobRecord, Run, RunPlan, Runs
from qualify.store.states import ACTIVE_RUN_STATUSES, FINAL_JOB_STATES, JobState, RunStatus
from qualify.store.workers import WorkerInfo, Workers

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "FINAL_JOB_STATES",
    "ClaimedJob",
    "Database",
    "JobRecord",
    "JobState",
    "Jobs",
    "ReclaimReport",
    "Run",
    "RunPlan",
    "RunStatus",
    "Runs",
    "WorkerInfo",
    "Workers",
    "open_database",
]
