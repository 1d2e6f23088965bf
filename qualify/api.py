"""The library's front door: open a store and queue, then create, inspect and repair runs.

    from qualify.api import Qualify

    with Qualify.open("qualify.db") as q:
        created = q.create_run("icp.json", "domains.txt", qualifier="mymodule:score")
        print(q.runs.get(created.run_id))

The CLI is a thin layer over this class; everything it does can be done from Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from qualify import qualifiers
from qualify.domains import DomainList, InvalidLine
from qualify.errors import InputError, InvalidStateError
from qualify.inputs import load_domains, load_icp, source_name
from qualify.queue import JobQueue, open_queue
from qualify.settings import Settings
from qualify.store import Database, Jobs, Run, Runs, RunStatus, Workers, open_database
from qualify.store.migrations import migrate

FAILED_BY_RECOVER = "run marked failed by `qualify recover --fail`"


@dataclass(frozen=True)
class RunCreated:
    run_id: int
    name: str
    queued: int
    duplicates: int
    invalid: list[InvalidLine]
    invalid_count: int


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` did (or, with ``dry_run``, would do) to one stuck run."""

    run_id: int
    name: str
    action: str  # "resume" or "fail"
    dry_run: bool
    requeued: int = 0
    failed: int = 0
    waiting_for_worker: int = 0
    job_states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedRun:
    """A run's inputs, loaded and checked, before anything is written."""

    icp: dict[str, Any]
    domains: DomainList
    qualifier: str
    default_name: str


def prepare_run(icp_path: str, domains_path: str, qualifier: str | None = None) -> PreparedRun:
    """Load and check a run's inputs: the qualifier, the ICP, then the whole domain list."""
    qualifier_name = qualifier or qualifiers.DEFAULT_QUALIFIER
    if qualifier_name is None:
        raise InputError("--qualifier: required (MODULE:CALLABLE)")
    qualifiers.resolve(qualifier_name)  # an unknown qualifier is named before any file is read
    icp = load_icp(icp_path)
    try:
        qualifiers.check(qualifier_name, icp)
    except InputError as exc:
        raise InputError(f"{source_name(icp_path)}: {exc}") from None
    domains = load_domains(domains_path)
    return PreparedRun(icp, domains, qualifier_name, _default_name(icp, domains_path))


class Qualify:
    def __init__(
        self, database: Database, queue: JobQueue, settings: Settings | None = None
    ) -> None:
        self.database = database
        self.queue = queue
        # What workers of this app build their qualifiers from (fetch settings above all).
        self.settings = settings or Settings()
        self.jobs = Jobs(database, queue)
        self.runs = Runs(database, self.jobs)
        self.workers = Workers(database)

    @classmethod
    def open(
        cls,
        db: str | None = None,
        queue: str | None = None,
        *,
        settings: Settings | None = None,
        create: bool = True,
    ) -> Qualify:
        """Open the store and queue, applying any migrations the database lacks.

        Without ``settings`` they are resolved here (arguments, else the environment:
        ``QUALIFY_DB``/``QUALIFY_QUEUE``, else ``./qualify.db``); with them, ``db`` and
        ``queue`` still override theirs when given. With ``create=False`` a SQLite file
        that does not exist is an error, not a new database."""
        if settings is None:
            settings = Settings.resolve(db, queue)
        elif db or queue:
            settings = replace(settings, db=db or settings.db, queue=queue or settings.queue)
        database = open_database(settings.db, create=create)
        try:
            # A queue server that cannot be reached fails here, before any migration runs.
            job_queue = open_queue(settings.queue, database)
            migrate(database)
        except BaseException:
            database.close()
            raise
        return cls(database, job_queue, settings)

    def close(self) -> None:
        self.queue.close()
        self.database.close()

    def __enter__(self) -> Qualify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        prepared: PreparedRun,
        *,
        name: str | None = None,
        max_attempts: int = 5,
        backoff: float = 10.0,
    ) -> RunCreated:
        """Write a prepared run and all its jobs, queued, in one transaction."""
        if max_attempts < 1:
            raise InputError("--max-attempts: must be at least 1")
        domains = prepared.domains
        name = name or prepared.default_name
        run_id = self.runs.create(
            name=name,
            qualifier=prepared.qualifier,
            icp=prepared.icp,
            domains=domains.domains,
            max_attempts=max_attempts,
            backoff=backoff,
        )
        return RunCreated(
            run_id=run_id,
            name=name,
            queued=len(domains.domains),
            duplicates=domains.duplicates,
            invalid=domains.invalid,
            invalid_count=domains.invalid_count,
        )

    def cancel(self, run_id: int) -> int:
        run = self.runs.get(run_id)
        if run.status == RunStatus.CANCELLED:
            return 0
        if not run.active:
            raise InvalidStateError(f"run {run_id} is already {run.status}; nothing to cancel")
        return self.jobs.cancel_run(run_id)

    def retry(self, run_id: int) -> int:
        run = self.runs.get(run_id)
        if run.status == RunStatus.CANCELLED:
            raise InvalidStateError(f"run {run_id} is CANCELLED; its jobs will not be retried")
        return self.jobs.retry_failed(run_id)

    # -- stuck runs -----------------------------------------------------------------------

    def recover(
        self, older_than: float, *, fail: bool = False, dry_run: bool = False
    ) -> list[Recovery]:
        """Act on stuck runs: resume them (default) or mark them FAILED. Jobs with a live
        lease are never touched; partial results are kept either way."""
        return [self._recover_run(run, fail, dry_run) for run in self.runs.stuck(older_than)]

    def _recover_run(self, run: Run, fail: bool, dry_run: bool) -> Recovery:
        states = self.runs.count_jobs_by_state(run.id)
        unfinished = sum(states.get(s, 0) for s in ("queued", "waiting", "running"))
        action = "fail" if fail else "resume"
        if dry_run:
            return Recovery(
                run.id,
                run.name,
                action,
                True,
                requeued=0 if fail else states.get("waiting", 0) + states.get("running", 0),
                failed=unfinished if fail else 0,
                waiting_for_worker=0 if fail else states.get("queued", 0),
                job_states=states,
            )
        if fail:
            failed = self.jobs.fail_unfinished(run.id, FAILED_BY_RECOVER)
            return Recovery(run.id, run.name, action, False, failed=failed, job_states=states)
        reclaimed = self.jobs.reclaim_expired(run.id)
        promoted = self.jobs.promote_due(run.id, force=True)
        lost = self.jobs.requeue_lost(grace=0.0, run_id=run.id)
        return Recovery(
            run.id,
            run.name,
            action,
            False,
            requeued=reclaimed.requeued + promoted + lost,
            failed=reclaimed.failed,
            waiting_for_worker=self.runs.count_jobs_by_state(run.id).get("queued", 0),
            job_states=states,
        )


def _default_name(icp: dict[str, Any], domains_path: str) -> str:
    icp_name = icp.get("name")
    source = "stdin" if domains_path == "-" else domains_path.rsplit("/", 1)[-1]
    return f"{icp_name} / {source}" if isinstance(icp_name, str) and icp_name else source
