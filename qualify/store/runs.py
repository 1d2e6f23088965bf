"""Runs: creating them, and every read of their state (status, stuck, results, exports)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from qualify.errors import NotFoundError
from qualify.pagecache import DEFAULT_MAX_PAGE_AGE
from qualify.store.database import Database, json_array
from qualify.store.jobs import Jobs
from qualify.store.values import (
    EarlierOutcome,
    JobRecord,
    OutcomeChange,
    Run,
    RunInputs,
    RunPlan,
)


class Runs:
    def __init__(self, database: Database, jobs: Jobs) -> None:
        self.database = database
        self.jobs = jobs

    def create(
        self,
        *,
        name: str,
        qualifier: str,
        icp: dict[str, Any],
        domains: Sequence[str],
        max_attempts: int,
        backoff: float,
        max_page_age: float | None = DEFAULT_MAX_PAGE_AGE,
        inputs: RunInputs | None = None,
        input_rows: Iterable[tuple[int, str]] = (),
        llm_account: Mapping[str, Any] | None = None,
    ) -> int:
        """Create a run and all its jobs, queued, in one transaction: all or nothing.

        ``llm_account``: the llm qualifier's account of the run (``model``, ``max_tokens``,
        ``price_in``, ``price_out``; see :mod:`qualify.store.llm`), in the same transaction.

        ``input_rows``: ``(position in domains, JSON array of cells)`` in order of position,
        for the jobs that carry cells of their input row (the columns ``inputs`` names),
        written in the same transaction."""
        db = self.database
        with db.write():
            run_id = self._insert(
                name,
                qualifier,
                icp,
                len(domains),
                max_attempts,
                backoff,
                max_page_age=max_page_age,
                source_run_id=None,
                inputs=inputs or RunInputs(),
            )
            before = int(db.value("max_job_id"))
            self.jobs.insert(run_id, domains)
            rows = self._input_rows(run_id, before, len(domains), input_rows)
            db.insert_many("insert_job_inputs", rows)
            if llm_account is not None:
                db.execute("insert_llm_account", {"run_id": run_id, **llm_account})
        return run_id

    def create_rescore(
        self,
        source: Run,
        *,
        name: str,
        qualifier: str,
        icp: dict[str, Any],
        max_attempts: int,
        backoff: float,
        llm_account: Mapping[str, Any] | None = None,
    ) -> int:
        """A run over every domain of ``source``, linked to it, that takes kept pages of any
        age, its jobs carrying the source's input rows: created with all its jobs, queued,
        in one transaction (with ``llm_account``, as :meth:`create`)."""
        db = self.database
        with db.write():
            run_id = self._insert(
                name,
                qualifier,
                icp,
                source.total,
                max_attempts,
                backoff,
                max_page_age=None,
                source_run_id=source.id,
                inputs=self.inputs(source.id),
            )
            self.jobs.insert_from_run(run_id, source.id)
            db.execute("copy_job_inputs_from_run", {"run_id": run_id, "source_run_id": source.id})
            if llm_account is not None:
                db.execute("insert_llm_account", {"run_id": run_id, **llm_account})
        return run_id

    def _insert(
        self,
        name: str,
        qualifier: str,
        icp: dict[str, Any],
        total: int,
        max_attempts: int,
        backoff: float,
        *,
        max_page_age: float | None,
        source_run_id: int | None,
        inputs: RunInputs,
    ) -> int:
        return int(
            self.database.value(
                "insert_run",
                name=name,
                qualifier=qualifier,
                icp=json.dumps(icp, ensure_ascii=False),
                total=total,
                max_attempts=max_attempts,
                backoff=backoff,
                max_page_age=max_page_age,
                source_run_id=source_run_id,
                inputs=inputs.to_json(),
            )
        )

    def _input_rows(
        self, run_id: int, before: int, count: int, input_rows: Iterable[tuple[int, str]]
    ) -> Iterator[tuple[int, str]]:
        """``(job id, row)`` for each input row, its job found by its position in the run."""
        rows = iter(input_rows)
        wanted = next(rows, None)
        if wanted is None:
            return
        if int(self.database.value("max_job_id")) == before + count:
            # The run's ``count`` ids are all above ``before`` and none is above
            # ``before + count``: they are exactly the ids in between, in order.
            yield before + 1 + wanted[0], wanted[1]
            for position, row in rows:
                yield before + 1 + position, row
            return
        # Ids with gaps (another run inserting at the same time on PostgreSQL): read the
        # run's ids in the order they were inserted, streamed, beside the rows.
        ids = self.database.column("run_job_ids", run_id=run_id, after=before)
        for position, job_id in enumerate(ids):
            if position == wanted[0]:
                yield int(job_id), wanted[1]
                wanted = next(rows, None)
                if wanted is None:
                    return
        raise AssertionError(f"run {run_id}: an input row at {wanted[0]}, past its last job")

    def inputs(self, run_id: int) -> RunInputs:
        """What the run's jobs carry from their input rows."""
        return RunInputs.from_json(self.database.value("run_inputs", run_id=run_id))

    def get(self, run_id: int, *, stuck_after: float | None = None) -> Run:
        row = self.database.row(
            "list_runs", run_id=run_id, stuck_after=stuck_after, finished_within=None, limit=1
        )
        if row is None:
            raise NotFoundError(f"run {run_id}: no such run")
        return Run.from_row(row)

    def current(self, *, stuck_after: float, finished_within: float, limit: int = 50) -> list[Run]:
        """Active runs, and runs that finished in the last ``finished_within`` seconds, newest
        first (the live dashboard's rows; the runs table is small, the jobs are not read)."""
        rows = self.database.rows(
            "list_runs",
            run_id=None,
            limit=limit,
            stuck_after=stuck_after,
            finished_within=finished_within,
        )
        return [Run.from_row(row) for row in rows]

    def stuck(self, stuck_after: float) -> list[Run]:
        return [
            Run.from_row(row) for row in self.database.rows("stuck_runs", stuck_after=stuck_after)
        ]

    def is_stuck(self, run_id: int, stuck_after: float) -> bool:
        return self.get(run_id, stuck_after=stuck_after).stuck

    def plan(self, run_id: int) -> RunPlan:
        row = self.database.row("run_plan", run_id=run_id)
        if row is None:
            raise NotFoundError(f"run {run_id}: no such run")
        return RunPlan.from_row(row)

    def count_jobs_by_state(self, run_id: int) -> dict[str, int]:
        rows = self.database.rows("count_jobs_by_state", run_id=run_id)
        return {row["state"]: row["count"] for row in rows}

    def job_states(self, run: Run) -> dict[str, int]:
        """How many of the run's jobs are in each state, as count_jobs_by_state says, without
        reading the run's jobs: ended ones from the run's counters, running and waiting ones
        from their small partial indexes, queued ones the rest (``show RUN`` on a run of
        millions)."""
        rows = self.database.rows("count_running_and_waiting", run_id=run.id)
        counts = {row["state"]: int(row["count"]) for row in rows}
        counts.update(done=run.completed, failed=run.failed, cancelled=run.cancelled)
        counts["queued"] = run.total - sum(counts.values())
        return {state: count for state, count in counts.items() if count}

    def count_verdicts(self, run_id: int) -> dict[str, int]:
        """Results of a run by verdict (read from the results_run_verdict index alone)."""
        rows = self.database.rows("count_verdicts", run_id=run_id)
        return {row["verdict"]: row["count"] for row in rows}

    def count_failures(self, run_id: int, limit: int = 5) -> list[tuple[str, int]]:
        """The run's most common error codes among its failed jobs."""
        rows = self.database.rows("count_failures", run_id=run_id, limit=limit)
        return [(row["code"], row["count"]) for row in rows]

    def count_unknown_codes(self, run_id: int, limit: int = 5) -> list[tuple[str, int]]:
        """The codes behind the run's ``unknown`` verdicts, most common first."""
        rows = self.database.rows("count_unknown_codes", run_id=run_id, limit=limit)
        return [(row["code"], row["count"]) for row in rows]

    def expired_leases(self, run_id: int) -> tuple[int, int]:
        """How many of the run's running jobs hold an expired lease, and how many of those
        have used up their attempts."""
        row = self.database.row("count_expired_leases", run_id=run_id)
        return (int(row["expired"]), int(row["exhausted"])) if row else (0, 0)

    def live_leases(self, run_id: int) -> int:
        return int(self.database.value("count_live_leases", run_id=run_id))

    def job(self, run_id: int, domain: str) -> JobRecord:
        self.get(run_id)
        row = self.database.row("record_of_domain", run_id=run_id, domain=domain)
        if row is None:
            raise NotFoundError(f"run {run_id}: no domain {domain!r}")
        return JobRecord.from_row(row)

    def history(self, job_id: int) -> list[EarlierOutcome]:
        """How a job had ended before each `qualify retry` ran it again, oldest first."""
        rows = self.database.rows("history_of_job", job_id=job_id)
        return [EarlierOutcome.from_row(row) for row in rows]

    def records(
        self, run_id: int, *, verdict: str | Sequence[str] | None = None
    ) -> Iterator[JobRecord]:
        """Every job of a run in input order, with its result; streamed, not loaded at once.

        ``verdict``: only results with this verdict (or any of these); ``"failed"`` selects
        the jobs that failed, which have no result."""
        self.get(run_id)
        wanted = [verdict] if isinstance(verdict, str) else list(verdict or ())
        if not wanted:
            rows = self.database.stream("records_of_run", run_id=run_id)
        else:
            rows = self.database.stream(
                "records_by_verdict",
                run_id=run_id,
                include_failed="failed" in wanted,
                verdicts=json_array(v for v in wanted if v != "failed"),
            )
        return (JobRecord.from_row(row) for row in rows)

    def records_of_domains(self, run_id: int, domains: Sequence[str]) -> list[JobRecord]:
        """The jobs of run ``run_id`` for ``domains`` (those it has), with their results."""
        self.get(run_id)
        rows = self.database.rows("records_of_domains", run_id=run_id, domains=json_array(domains))
        return [JobRecord.from_row(row) for row in rows]

    def changed_outcomes(self, run_a: int, run_b: int) -> Iterator[OutcomeChange]:
        """Every domain of ``run_a`` whose outcome (verdict, or job state without a result)
        is different in ``run_b``, or that ``run_b`` lacks; streamed, in ``run_a``'s order."""
        self.get(run_a)
        self.get(run_b)
        rows = self.database.stream("changed_verdicts", run_a=run_a, run_b=run_b)
        return (OutcomeChange.from_row(row) for row in rows)

    def only_in_second(self, run_a: int, run_b: int) -> Iterator[JobRecord]:
        """The jobs of ``run_b`` whose domain ``run_a`` does not have."""
        rows = self.database.stream("domains_only_in_second_run", run_a=run_a, run_b=run_b)
        return (JobRecord.from_row(row) for row in rows)

    # Last in the class: from here on, `list` in an annotation would mean this method.
    def list(self, *, limit: int = 50, stuck_after: float | None = None) -> list[Run]:
        rows = self.database.rows(
            "list_runs", run_id=None, limit=limit, stuck_after=stuck_after, finished_within=None
        )
        return [Run.from_row(row) for row in rows]
