"""The names of job states and run statuses (see the state machine in DESIGN.md)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # a transient failure; due again at next_attempt_at
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_JOB_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class RunStatus(StrEnum):
    PENDING = "PENDING"  # no job claimed yet
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"  # every job final
    FAILED = "FAILED"  # given up by `qualify recover --fail`
    CANCELLED = "CANCELLED"
    # The llm qualifier's token budget is spent; a larger one (`qualify run-set`) resumes it.
    BUDGET = "BUDGET"


ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.PROCESSING)
