"""Immutable values the store returns, each built by name from a row (``from_row``), so the
order of a SELECT's columns can never swap two fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from qualify.store.states import ACTIVE_RUN_STATUSES

if TYPE_CHECKING:
    from qualify.qualifiers import QualifierResult

Row = Mapping[str, Any]
T = TypeVar("T")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _by_name(cls: type[T], row: Row, **converted: Any) -> T:
    """``cls`` from the row's columns of the same names as its fields; ``converted`` gives
    the fields whose column needs decoding first. A missing column is a KeyError, at once."""
    values = {name: row[name] for name in _field_names(cls) if name not in converted}
    return cls(**values, **converted)


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    status: str
    total: int
    completed: int
    failed: int
    qualified: int
    #: Results whose verdict is ``unknown`` (the site could not be judged).
    unknown: int
    cancelled: int
    qualifier: str
    max_attempts: int
    backoff: float
    created_at: float
    updated_at: float
    finished_at: float | None
    #: The run a rescore re-scores (None for a run made from a domain list).
    source_run_id: int | None
    #: How old a kept page may be for this run to use it (None: any age; 0: always fetch).
    max_page_age: float | None
    stuck: bool = False

    @classmethod
    def from_row(cls, row: Row) -> Run:
        return _by_name(cls, row, stuck=bool(row["stuck"]))

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
    #: How old a kept page may be for this run to use it (None: any age; 0: always fetch).
    max_page_age: float | None = None
    source_run_id: int | None = None

    @classmethod
    def from_row(cls, row: Row) -> RunPlan:
        return cls(
            id=row["id"],
            qualifier=row["qualifier"],
            icp=json.loads(row["icp"]),
            max_attempts=row["max_attempts"],
            backoff=row["backoff"],
            max_page_age=row["max_page_age"],
            source_run_id=row["source_run_id"],
        )


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
    #: The cells this job carries from its input row, aligned with the run's
    #: ``RunInputs.columns``; None when it carries nothing (its line was its domain).
    input: list[str] | None = None
    #: The worker that recorded its outcome (None: none yet, or a lease that expired).
    recorded_by: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> JobRecord:
        return _by_name(
            cls,
            row,
            reasons=json.loads(row["reasons"]) if row["reasons"] else [],
            evidence=json.loads(row["evidence"]) if row["evidence"] else {},
            extra=json.loads(row["extra"]) if row["extra"] else {},
            input=json.loads(row["input"]) if row["input"] else None,
        )


@dataclass(frozen=True)
class OutcomeChange:
    """A domain whose outcome differs between two runs: the first run's verdict (or job
    state), score and reasons, and the second run's record (``None`` if it lacks the domain)."""

    domain: str
    before: str
    score_before: float | None
    reasons_before: list[Any]
    after: str | None
    record: JobRecord | None

    @classmethod
    def from_row(cls, row: Row) -> OutcomeChange:
        record = JobRecord.from_row(row) if row["job_id"] is not None else None
        return cls(
            domain=row["domain"],
            before=row["outcome_a"],
            score_before=row["score_a"],
            reasons_before=json.loads(row["reasons_a"]) if row["reasons_a"] else [],
            after=row["outcome_b"],
            record=record,
        )


@dataclass(frozen=True)
class RunInputs:
    """What a run's jobs carry from their input rows: the columns (a plain list's one is
    ``input``, its line as written), and the one the domains were read from."""

    format: str = "text"
    columns: tuple[str, ...] = ("input",)
    domain_column: str = "input"

    @classmethod
    def from_json(cls, text: str | None) -> RunInputs:
        """From the run's ``inputs`` column; a run made before it carried nothing."""
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data["format"], tuple(data["columns"]), data["domain_column"])

    def to_json(self) -> str:
        document = {"format": self.format, "columns": list(self.columns),
                    "domain_column": self.domain_column}  # fmt: skip
        return json.dumps(document, ensure_ascii=False)

    def cells(self, record: JobRecord) -> dict[str, str]:
        """The job's input row by column name (a job that carries nothing: its domain)."""
        if record.input is None:
            return {column: record.domain if column == self.domain_column else ""
                    for column in self.columns}  # fmt: skip
        return dict(zip(self.columns, record.input, strict=False))


#: The error code of a job whose worker stopped renewing its lease.
LEASE_EXPIRED = "lease_expired"
#: A suspect's qualifier killed the child process it ran in (qualify.worker.apart).
QUALIFIER_CRASHED = "qualifier_crashed"
#: A job that last ended so may be a poison pill: it runs apart (a process of its own).
SUSPECT_CODES = frozenset({LEASE_EXPIRED, QUALIFIER_CRASHED})


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds: the lease is valid while ``(owner, claim)`` still match."""

    id: int
    run_id: int
    domain: str
    attempts: int
    owner: str
    #: Its last worker died while running it: it may be the poison that killed it.
    suspect: bool = False
    #: The job's claim number (``jobs.claims``): it only grows, so it fences this claim
    #: even after a release, which gives the attempt back, and a new claim by this owner.
    claim: int = 0

    @classmethod
    def from_row(cls, row: Row, owner: str) -> ClaimedJob:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            domain=row["domain"],
            attempts=row["attempts"],
            owner=owner,
            suspect=row["error_code"] in SUSPECT_CODES,
            claim=row["claims"],
        )

    @property
    def fence(self) -> tuple[int, str, int]:
        return (self.id, self.owner, self.claim)


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
class Round:
    """What one worker round trip did: messages taken, jobs claimed, outcomes recorded."""

    taken: int
    claimed: list[ClaimedJob]
    recorded: set[int]


@dataclass(frozen=True)
class Recorded:
    """What became of outcomes recorded one at a time, after the store refused a round.

    ``recorded``: the ids recorded (each as it was, or its result refused and the job
    failed instead); ``unrecorded``: ids the store could not take at all (it is down):
    their leases expire and they run again."""

    recorded: set[int]
    outcomes: dict[int, Outcome]
    unrecorded: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class ReclaimReport:
    requeued: int
    failed: int


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    concurrency: int
    lease: float
    version: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    in_flight: int
    processed: int
    failed: int
    #: Why it is paused for an outage (``network (19 of the last 20 lookups failed)``).
    paused_reason: str | None
    paused_at: float | None
    next_probe_at: float | None
    alive: bool

    @classmethod
    def from_row(cls, row: Row) -> WorkerInfo:
        return _by_name(cls, row, alive=bool(row["alive"]))

    @property
    def state(self) -> str:
        """stopped, dead, paused (alive, but not taking jobs for an outage) or alive."""
        if self.stopped_at is not None:
            return "stopped"
        if not self.alive:
            return "dead"
        return "paused" if self.paused_reason else "alive"


@dataclass(frozen=True)
class RetryReport:
    """What ``retry`` put back in the queue: how many jobs, by how they had ended."""

    requeued: int
    done: int
    failed: int


@dataclass(frozen=True)
class EarlierOutcome:
    """How a job had ended before ``retry`` ran it again (kept in result_history)."""

    state: str
    verdict: str | None
    score: float | None
    error_code: str | None
    error: str | None
    attempts: int
    finished_at: float | None
    replaced_at: float

    @classmethod
    def from_row(cls, row: Row) -> EarlierOutcome:
        return _by_name(cls, row)


@dataclass(frozen=True)
class LeaseInfo:
    """A running job and how long its lease has left (negative: already expired)."""

    job_id: int
    run_id: int
    domain: str
    owner: str | None
    expires_in: float

    @classmethod
    def from_row(cls, row: Row) -> LeaseInfo:
        return _by_name(cls, row)


@dataclass(frozen=True)
class ErrorCount:
    """How many of the sampled jobs carry ``code``, and in which runs."""

    code: str
    count: int
    run_ids: tuple[int, ...]


@dataclass(frozen=True)
class Unpushed:
    """Messages the queue refused after their jobs' change had committed: the jobs are
    queued in the store, and a worker's reconciler enqueues them again."""

    jobs: int
    reason: str
