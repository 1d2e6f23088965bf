"""The library's front door: open a store and queue, then create, inspect and repair runs.

    from qualify.api import Qualify, prepare_run

    with Qualify.open("qualify.db") as q:
        created = q.create_run(prepare_run("icp.json", "domains.txt", "mymodule:score"))
        final = q.work_run(created.run_id)          # or run `qualify worker` processes
        print(final.status, q.runs.count_verdicts(created.run_id))

The CLI is a thin layer over this class; everything it does can be done from Python.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

from qualify import export, qualifiers
from qualify.errors import InputError, InvalidStateError, NotFoundError
from qualify.export import Layout
from qualify.llmledger import RunAccount
from qualify.pagecache import DEFAULT_MAX_PAGE_AGE
from qualify.settings import Settings
from qualify.store import PruneReport, RetryReport, Run, RunInputs, RunStatus, Store, WorkerInfo
from qualify.store.writelock import LockHolder

if TYPE_CHECKING:
    # Imported where used: `qualify --help` and `status` must start fast.
    from qualify.domains import DomainList, InvalidLine
    from qualify.tuning.compare import RunDiff
    from qualify.tuning.evaluate import Evaluation
    from qualify.tuning.rescore import Lineage
    from qualify.worker import Worker, WorkerOptions

FAILED_BY_RECOVER = "run marked failed by `qualify recover --fail`"


@dataclass(frozen=True)
class RunCreated:
    run_id: int
    name: str
    queued: int
    duplicates: int
    invalid: list[InvalidLine]
    invalid_count: int
    #: What the domains were read from: a plain list ("text"), "csv", "tsv" or "xlsx"...
    format: str = "text"
    #: ...which column of the table held them, and what the invalid entries' numbers count.
    domain_column: str | None = None
    #: Columns read where ``domain_column`` is empty (they agree with it elsewhere).
    fallback_columns: tuple[str, ...] = ()
    unit: str = "line"
    #: Input cells cut to the size a job carries.
    cut_cells: int = 0


@dataclass(frozen=True)
class RescoreCreated:
    run_id: int
    name: str
    source_run_id: int
    qualifier: str
    queued: int
    #: Domains with kept pages (scored without fetching); the others are fetched.
    with_pages: int
    icp_changes: list[str]


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


def prepare_run(
    icp_path: str,
    domains_path: str,
    qualifier: str | None = None,
    *,
    input_format: str | None = None,
    column: str | None = None,
    sheet: str | None = None,
    carry: Sequence[str] | None = None,
) -> PreparedRun:
    """Load and check a run's inputs: the qualifier, the ICP, then the whole domain list
    (a plain list, CSV, TSV or XLSX: see :func:`qualify.inputs.load_domains` for the
    other arguments)."""
    # Reading inputs needs the normaliser and the readers; `status` and `show` need neither.
    from qualify.inputs import load_domains, load_icp, source_name

    qualifier_name = qualifier or qualifiers.DEFAULT_QUALIFIER
    if qualifier_name is None:
        raise InputError("qualifier: required (MODULE:CALLABLE)")
    qualifiers.resolve(qualifier_name)  # an unknown qualifier is named before any file is read
    icp = load_icp(icp_path)
    try:
        qualifiers.check(qualifier_name, icp)
    except InputError as exc:
        raise InputError(f"{source_name(icp_path)}: {exc}") from None
    domains = load_domains(
        domains_path, input_format=input_format, column=column, sheet=sheet, carry=carry
    )
    return PreparedRun(icp, domains, qualifier_name, _default_name(icp, domains_path))


@dataclass(frozen=True)
class LlmRunOptions:
    """A run of the llm qualifier: its model (stored on the run; the key never is), its
    token budget (None: none) and the prices per 1M tokens its cost is estimated at."""

    model: str
    max_tokens: int | None = None
    price_in: float | None = None
    price_out: float | None = None

    def account(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "price_in": self.price_in,
            "price_out": self.price_out,
        }


def check_llm(settings: Settings, model: str | None = None) -> str:
    """Before an llm run is written: the model to use (``model``, else the configured
    one), checked against the endpoint (it answers, takes the key, serves the model).
    Raises :class:`InputError` with one line naming the culprit."""
    from qualify.errors import OurSideError
    from qualify.qualifiers.llm.client import LlmClient

    chosen = model or settings.llm.model
    if not chosen:
        raise InputError(
            "model: required by the llm qualifier; give --model or set QUALIFY_LLM_MODEL"
        )
    client = LlmClient(settings.llm)
    try:
        client.check(chosen)
    except OurSideError as exc:
        raise InputError(str(exc)) from None
    finally:
        client.close()
    return chosen


@dataclass(frozen=True)
class StatusReport:
    """What ``qualify status`` shows: runs and workers, read at ``now`` (the store's clock)."""

    now: float
    runs: list[Run]
    workers: list[WorkerInfo]
    #: A process holding the store's write lock for seconds (SQLite): it stops every writer.
    write_lock: LockHolder | None = None

    @property
    def stuck(self) -> list[Run]:
        return [run for run in self.runs if run.stuck]

    @property
    def paused(self) -> list[WorkerInfo]:
        """Live workers paused for an outage."""
        return [worker for worker in self.workers if worker.state == "paused"]


@dataclass(frozen=True)
class RunSummary:
    """One run in full, as ``qualify show RUN`` and ``status RUN`` show it."""

    run: Run
    now: float
    states: dict[str, int]
    live_leases: int
    verdicts: dict[str, int]
    #: The most common error codes of its failed jobs (None when no job failed).
    failures: list[tuple[str, int]] | None
    #: The run it re-scores and what changed (None for a run made from a domain list).
    lineage: Lineage | None = None
    #: The most common codes behind its ``unknown`` verdicts (None when there is none).
    unknown_codes: list[tuple[str, int]] | None = None
    #: The llm qualifier's account: tokens, cache hits, budget, cost (None: no model used).
    llm: RunAccount | None = None


class Qualify:
    """A store and its queue, with the operations on runs built over them."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        # The store's parts, at hand: ``app.runs.get(3)``.
        self.database = store.database
        self.queue = store.queue
        self.jobs = store.jobs
        self.runs = store.runs
        self.workers = store.workers
        self.activity = store.activity
        self.results = store.results
        self.pages = store.pages

    @classmethod
    def open(
        cls,
        db: str | None = None,
        queue: str | None = None,
        *,
        settings: Settings | None = None,
        create: bool = True,
        read_only: bool = False,
    ) -> Qualify:
        """Open the store and queue, applying any migrations the database lacks.

        Without ``settings`` they are resolved here (arguments, else the environment:
        ``QUALIFY_DB``/``QUALIFY_QUEUE``, else ``./qualify.db``); with them, ``db`` and
        ``queue`` still override theirs when given. With ``create=False`` a SQLite file
        that does not exist is an error, not a new database. With ``read_only`` nothing
        is created, migrated or changed (see :meth:`Store.open`)."""
        if settings is None:
            settings = Settings.resolve(db, queue)
        elif db or queue:
            settings = replace(settings, db=db or settings.db, queue=queue or settings.queue)
        store = Store.open(settings.db, settings.queue, create=create, read_only=read_only)
        return cls(store, settings)

    def close(self) -> None:
        self.store.close()

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
        max_page_age: float | None = DEFAULT_MAX_PAGE_AGE,
        llm: LlmRunOptions | None = None,
    ) -> RunCreated:
        """Write a prepared run and all its jobs, queued, in one transaction. Its qualifier
        may use kept pages up to ``max_page_age`` seconds old (None: any; 0: none). ``llm``:
        the llm qualifier's model, budget and prices for the run (see :func:`check_llm`)."""
        if max_attempts < 1:
            raise InputError("max_attempts: must be at least 1")
        if max_page_age is not None and max_page_age < 0:
            raise InputError("max_page_age: must not be negative")
        domains = prepared.domains
        name = name or prepared.default_name
        inputs = RunInputs(domains.format, tuple(domains.columns), domains.domain_column)
        try:
            run_id = self.runs.create(
                name=name,
                qualifier=prepared.qualifier,
                icp=prepared.icp,
                domains=domains.domains,
                max_attempts=max_attempts,
                backoff=backoff,
                max_page_age=max_page_age,
                inputs=inputs,
                input_rows=domains.rows,
                llm_account=None if llm is None else llm.account(),
            )
        finally:
            domains.close()
        return RunCreated(
            run_id=run_id,
            name=name,
            queued=len(domains.domains),
            duplicates=domains.duplicates,
            invalid=domains.invalid,
            invalid_count=domains.invalid_count,
            format=domains.format,
            domain_column=None if domains.format == "text" else domains.domain_column,
            fallback_columns=tuple(domains.fallback_columns),
            unit=domains.unit,
            cut_cells=domains.cut_cells,
        )

    def set_run_budget(
        self,
        run_id: int,
        *,
        max_tokens: int | None = None,
        no_budget: bool = False,
        price_in: float | None = None,
        price_out: float | None = None,
    ) -> RunAccount:
        """A run's token budget or prices (``qualify run-set``). A run stopped at its budget
        (BUDGET) that the new one covers goes on; one it does not cover is refused."""
        if max_tokens is not None and max_tokens < 0:
            raise InputError("max-tokens: must not be negative")
        for name, price in (("price-in", price_in), ("price-out", price_out)):
            if price is not None and price < 0:
                raise InputError(f"{name}: must not be negative")
        self.runs.get(run_id)  # names a run that does not exist
        return self.store.llm.set_budget(
            run_id,
            max_tokens=max_tokens,
            clear_budget=no_budget,
            price_in=price_in,
            price_out=price_out,
        )

    def llm_account(self, run_id: int) -> RunAccount | None:
        """The llm account of a run (tokens, cache hits, budget, cost), None if it has none."""
        return self.store.llm.accounts([run_id]).get(run_id)

    def llm_accounts(self, run_ids: Sequence[int]) -> dict[int, RunAccount]:
        return self.store.llm.accounts(run_ids) if run_ids else {}

    def rescore(
        self,
        source_run_id: int,
        icp_path: str,
        *,
        qualifier: str | None = None,
        name: str | None = None,
        model: str | None = None,
    ) -> RescoreCreated:
        """A new run over every domain of run ``source_run_id``, linked to it, judged with
        the ICP at ``icp_path`` (and ``qualifier``, the source's by default) from kept pages
        of any age; domains without kept pages are fetched. Everything is checked before
        the run and all its jobs are written, in one transaction."""
        source = self.runs.get(source_run_id)
        from qualify.tuning import rescore

        prepared = rescore.prepare_rescore(
            source, self.runs.plan(source_run_id), icp_path, qualifier
        )
        name = name or prepared.default_name
        account = None
        if prepared.qualifier == "llm":
            # The source's model, checked like a new run's; its budget and prices do not
            # carry over (a rescore from kept pages and cached verdicts may cost nothing).
            before = self.llm_account(source.id)
            model = check_llm(self.settings, (before.model if before else None) or model)
            account = LlmRunOptions(model).account()
        run_id = self.runs.create_rescore(
            source,
            name=name,
            qualifier=prepared.qualifier,
            icp=prepared.icp,
            max_attempts=source.max_attempts,
            backoff=source.backoff,
            llm_account=account,
        )
        return RescoreCreated(
            run_id=run_id,
            name=name,
            source_run_id=source.id,
            qualifier=prepared.qualifier,
            queued=source.total,
            with_pages=self.pages.count_sites_of_run(run_id),
            icp_changes=prepared.icp_changes,
        )

    def lineage(self, run: Run) -> Lineage | None:
        """Where ``run`` comes from, if it is a rescore."""
        if run.source_run_id is None:
            return None
        try:
            source_plan = self.runs.plan(run.source_run_id)
        except NotFoundError:
            return None
        from qualify.tuning import rescore

        return rescore.lineage_of(run, self.runs.plan(run.id), source_plan)

    def evaluate(self, run_id: int, labels_path: str) -> Evaluation:
        """Run ``run_id`` against the labels in the CSV at ``labels_path``."""
        self.runs.get(run_id)
        from qualify.tuning import evaluate as evaluation
        from qualify.tuning import labels

        read = labels.read_labels(labels_path)
        domains = list(read.by_domain)
        records = [
            record
            for start in range(0, len(domains), 1000)
            for record in self.runs.records_of_domains(run_id, domains[start : start + 1000])
        ]
        return evaluation.evaluate(run_id, read, records)

    def diff(self, run_a: int, run_b: int) -> RunDiff:
        """The domains whose outcome changed from run ``run_a`` to run ``run_b``."""
        from qualify.tuning import compare

        return compare.compare(self.runs, run_a, run_b)

    def export_diff(self, run_a: int, run_b: int, out: IO[str]) -> int:
        """:meth:`diff` as ``export``-compatible CSV rows of ``run_b``; returns how many."""
        self.runs.get(run_a)
        self.runs.get(run_b)
        from qualify.tuning import compare

        return compare.write_csv(self.runs, run_a, run_b, out)

    def prune_pages(self, older_than: float, *, dry_run: bool = False) -> PruneReport:
        """Remove kept pages fetched more than ``older_than`` seconds ago (results stay)."""
        return self.pages.prune(older_than, dry_run=dry_run)

    def cancel(self, run_id: int) -> int:
        run = self.runs.get(run_id)
        if run.status == RunStatus.CANCELLED:
            return 0
        if run.status == RunStatus.BUDGET:
            # Stopped at its token budget, its jobs queued without messages: active again
            # for the cancel only, in the same transaction, so no worker can take one.
            with self.database.write():
                self.database.rows("resume_budget_run", run_id=run_id)
                return self.jobs.cancel_run(run_id)
        if not run.active:
            raise InvalidStateError(f"run {run_id} is already {run.status}; nothing to cancel")
        return self.jobs.cancel_run(run_id)

    def retry(
        self, run_id: int, *, codes: Sequence[str] = (), verdicts: Sequence[str] = ()
    ) -> RetryReport:
        """Queue a run's finished jobs again with fresh attempts: the failed ones, or those
        with an error code in ``codes`` or a verdict in ``verdicts`` (results that may be
        wrong, such as ``dns_nxdomain`` recorded while the network was down). How they had
        ended is kept as history; the new outcome becomes current."""
        unknown = [v for v in verdicts if v not in qualifiers.VERDICTS]
        if unknown:
            raise InputError(
                f"verdict {unknown[0]!r}: expected one of {', '.join(qualifiers.VERDICTS)}"
            )
        if any(not code.strip() for code in codes):
            raise InputError("code: expected an error code such as dns_nxdomain, got ''")
        run = self.runs.get(run_id)
        if run.status == RunStatus.CANCELLED:
            raise InvalidStateError(f"run {run_id} is CANCELLED; its jobs will not be retried")
        return self.jobs.retry_finished(
            run_id, codes=[c.strip() for c in codes], verdicts=list(verdicts)
        )

    def incomplete_runs(self, run_ids: Sequence[int]) -> list[Run]:
        """Of ``run_ids``, the runs that are over without a result for every job (failed or
        cancelled jobs, or the run given up): what `run --wait` and `worker --burst` exit 4
        for."""
        found = []
        for run_id in sorted(set(run_ids)):
            run = self.runs.get(run_id)
            if not run.active and (run.failed or run.cancelled or run.status != "COMPLETED"):
                found.append(run)
        return found

    def export(
        self,
        run_id: int,
        fmt: str,
        out: IO[Any],
        *,
        verdict: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        flat: bool = True,
    ) -> int:
        """Write a run's rows (only those with ``verdict``, if given) to ``out`` in ``fmt``
        (``out`` binary for xlsx); return how many. ``columns`` picks and orders a CSV's or
        workbook's columns (:class:`qualify.export.Layout`); ``flat`` keeps every cell on
        one line. Everything is checked before the first byte is written."""
        self.runs.get(run_id)
        layout = Layout(self.runs.inputs(run_id), columns=columns, flat=flat)
        records = self.runs.records(run_id, verdict=verdict)
        return export.write(records, fmt, out, layout)

    def export_layout(self, run_id: int, columns: Sequence[str] | None = None) -> Layout:
        """The columns a CSV export of the run has (or refuses ``columns`` it lacks)."""
        self.runs.get(run_id)
        return Layout(self.runs.inputs(run_id), columns=columns)

    # -- watching -------------------------------------------------------------------------

    def status(self, run_id: int | None = None, *, stuck_after: float) -> StatusReport:
        """Recent runs (or the one run ``run_id``) with their stuck flag, and the workers."""
        now = self.database.now()
        if run_id is not None:
            runs = [self.runs.get(run_id, stuck_after=stuck_after)]
        else:
            runs = self.runs.list(stuck_after=stuck_after)
        return StatusReport(
            now=now,
            runs=runs,
            workers=self.workers.list(),
            write_lock=self.database.write_lock_holder(),
        )

    def run_summary(self, run_id: int, *, stuck_after: float) -> RunSummary:
        runs = self.runs
        run = runs.get(run_id, stuck_after=stuck_after)
        return RunSummary(
            run=run,
            now=self.database.now(),
            states=runs.job_states(run),
            live_leases=runs.live_leases(run_id),
            verdicts=runs.count_verdicts(run_id),
            failures=runs.count_failures(run_id) if run.failed else None,
            lineage=self.lineage(run),
            unknown_codes=runs.count_unknown_codes(run_id) if run.unknown else None,
            llm=self.llm_account(run_id),
        )

    # -- working --------------------------------------------------------------------------

    def worker(
        self, options: WorkerOptions | None = None, *, stop_when: Callable[[], bool] | None = None
    ) -> Worker:
        """A worker over this store, with this app's settings (for the qualifiers)."""
        from qualify.worker import Worker  # only commands that work import the worker

        return Worker(self.store, options, settings=self.settings, stop_when=stop_when)

    def work_run(
        self,
        run_id: int,
        options: WorkerOptions | None = None,
        *,
        on_progress: Callable[[Run], None] | None = None,
        progress_interval: float = 0.5,
    ) -> Run:
        """Work the jobs of the store in this process until run ``run_id`` is finished, or
        until the worker is stopped (a signal: it hands its in-flight jobs back). Calls
        ``on_progress`` with the run about every ``progress_interval`` seconds, from another
        thread, and once more at the end. Returns the run as it then is."""
        runs = self.runs
        worker = self.worker(options, stop_when=lambda: not runs.get(run_id).active)
        done = threading.Event()

        def poll() -> None:
            # Its own connection: the worker's threads keep theirs busy.
            try:
                while not done.wait(progress_interval):
                    if on_progress is not None:
                        on_progress(runs.get(run_id))
            finally:
                self.database.close()

        poller = threading.Thread(target=poll, name="progress", daemon=True)
        poller.start()
        try:
            worker.run()
        finally:
            done.set()
            poller.join()
        final = runs.get(run_id)
        if on_progress is not None:
            on_progress(final)
        return final

    # -- stuck runs -----------------------------------------------------------------------

    def recover(
        self,
        older_than: float,
        *,
        fail: bool = False,
        dry_run: bool = False,
        run_id: int | None = None,
    ) -> list[Recovery]:
        """Act on stuck runs (with ``run_id``, on that run only, if it is stuck): resume
        them (default) or mark them FAILED. Jobs with a live lease are never touched;
        partial results are kept either way."""
        stuck = self.runs.stuck(older_than)
        if run_id is not None:
            stuck = [run for run in stuck if run.id == run_id]
        return [self._recover_run(run, fail, dry_run) for run in stuck]

    def _recover_run(self, run: Run, fail: bool, dry_run: bool) -> Recovery:
        states = self.runs.count_jobs_by_state(run.id)
        action = "fail" if fail else "resume"
        if dry_run:
            return self._preview_recovery(run, action, states)
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

    def _preview_recovery(self, run: Run, action: str, states: dict[str, int]) -> Recovery:
        """What :meth:`_recover_run` would report, counted from the same rows its
        statements change, changing nothing."""
        expired, exhausted = self.runs.expired_leases(run.id)
        queued, waiting = states.get("queued", 0), states.get("waiting", 0)
        if action == "fail":
            # fail_unfinished: every queued or waiting job, and running ones whose lease expired.
            failed = queued + waiting + expired
            return Recovery(run.id, run.name, action, True, failed=failed, job_states=states)
        # reclaim_expired requeues the expired leases it does not fail; promote_due queues
        # every waiting job; requeue_lost enqueues again the queued jobs the queue lost.
        lost = len(self.jobs.lost(0.0, run.id))
        requeued = expired - exhausted
        return Recovery(
            run.id,
            run.name,
            action,
            True,
            requeued=requeued + waiting + lost,
            failed=exhausted,
            waiting_for_worker=queued + requeued + waiting,
            job_states=states,
        )


def _default_name(icp: dict[str, Any], domains_path: str) -> str:
    icp_name = icp.get("name")
    source = "stdin" if domains_path == "-" else domains_path.rsplit("/", 1)[-1]
    return f"{icp_name} / {source}" if isinstance(icp_name, str) and icp_name else source
