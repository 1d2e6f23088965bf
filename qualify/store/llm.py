"""The llm qualifier's ledger: model verdicts by cache key, and each run's token account
(model, budget, tokens spent, cache hits, prices). Implements
:class:`qualify.llmledger.LlmLedger` for the qualifier, and the budget's operator side
(``qualify run-set``).

A run whose recorded usage reaches its budget turns ``BUDGET``: it is no longer active, so
its jobs stay queued without messages (the reconciler only re-enqueues active runs' jobs)
and a worker that claims one from a message already queued sets it aside unpaid
(:meth:`LlmAccounts.set_aside`). A larger budget makes it PROCESSING again and enqueues
its queued jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from qualify.errors import InvalidStateError
from qualify.llmledger import CachedVerdict, RunAccount, Usage
from qualify.queue import JobQueue
from qualify.store.database import Database, Row, json_ids
from qualify.store.jobs import _fences
from qualify.store.values import ClaimedJob


def _account(row: Row | None, run_id: int) -> RunAccount:
    if row is None:
        return RunAccount(run_id)
    return RunAccount(
        run_id=row["run_id"],
        model=row["model"],
        max_tokens=row["max_tokens"],
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        calls=int(row["calls"]),
        cache_hits=int(row["cache_hits"]),
        price_in=row["price_in"],
        price_out=row["price_out"],
    )


class LlmAccounts:
    def __init__(self, database: Database, queue: JobQueue) -> None:
        self.database = database
        self.queue = queue

    # -- the qualifier's side (qualify.llmledger.LlmLedger) -------------------------------

    def cached(self, key: str) -> CachedVerdict | None:
        row = self.database.row("llm_cached_verdict", key=key)
        if row is None:
            return None
        return CachedVerdict(
            key=row["cache_key"],
            model=row["model"],
            prompt_version=row["prompt_version"],
            answer=json.loads(row["answer"]),
            usage=Usage(int(row["prompt_tokens"]), int(row["completion_tokens"])),
        )

    def keep(self, verdict: CachedVerdict, run_id: int | None = None) -> RunAccount | None:
        """Keep a paid verdict and, with ``run_id``, put what it cost on that run's account,
        in one transaction: a verdict is never kept unpaid for, nor paid for unkept."""
        db = self.database
        with db.write():
            db.execute(
                "insert_llm_verdict",
                {
                    "key": verdict.key,
                    "model": verdict.model,
                    "prompt_version": verdict.prompt_version,
                    "answer": json.dumps(verdict.answer, ensure_ascii=False),
                    "prompt_tokens": verdict.usage.prompt_tokens,
                    "completion_tokens": verdict.usage.completion_tokens,
                },
            )
            if run_id is None:
                return None
            return self._spend(run_id, verdict.usage, cache_hit=False)

    def spend(self, run_id: int, usage: Usage, *, cache_hit: bool) -> RunAccount:
        with self.database.write():
            return self._spend(run_id, usage, cache_hit=cache_hit)

    def _spend(self, run_id: int, usage: Usage, *, cache_hit: bool) -> RunAccount:
        db = self.database
        row = db.row(
            "spend_llm_account",
            run_id=run_id,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            calls=0 if cache_hit else 1,
            cache_hits=1 if cache_hit else 0,
        )
        account = _account(row, run_id)
        if account.over_budget:
            db.execute("stop_run_for_budget", {"run_id": run_id})
        return account

    def account(self, run_id: int) -> RunAccount:
        return _account(self.database.row("llm_account", run_id=run_id), run_id)

    def accounts(self, run_ids: Iterable[int]) -> dict[int, RunAccount]:
        rows = self.database.rows("llm_accounts_of_runs", run_ids=json_ids(run_ids))
        return {row["run_id"]: _account(row, row["run_id"]) for row in rows}

    def stop_for_budget(self, run_id: int) -> None:
        with self.database.write():
            self.database.execute("stop_run_for_budget", {"run_id": run_id})

    # -- the worker's and the operator's side ---------------------------------------------

    def open_account(
        self,
        run_id: int,
        *,
        model: str | None,
        max_tokens: int | None = None,
        price_in: float | None = None,
        price_out: float | None = None,
    ) -> None:
        """A new run's account; call inside the run's own transaction."""
        self.database.execute(
            "insert_llm_account",
            {
                "run_id": run_id,
                "model": model,
                "max_tokens": max_tokens,
                "price_in": price_in,
                "price_out": price_out,
            },
        )

    def set_aside(self, jobs: Sequence[ClaimedJob]) -> int:
        """Jobs of runs stopped by their budget, handed back unpaid: queued without a
        message and without the attempt counted (fenced by their leases)."""
        if not jobs:
            return 0
        db = self.database
        with db.write():
            count = 0
            for owner, fences in _fences(jobs).items():
                count += len(db.rows("set_aside_jobs", owner=owner, fences=fences))
            # A run still active (its budget raised meanwhile) gets its message back.
            for run_id in {job.run_id for job in jobs}:
                if db.value("run_status", run_id=run_id) in ("PENDING", "PROCESSING"):
                    self._enqueue_queued(run_id)
        return count

    def set_budget(
        self,
        run_id: int,
        *,
        max_tokens: int | None = None,
        clear_budget: bool = False,
        price_in: float | None = None,
        price_out: float | None = None,
    ) -> RunAccount:
        """A run's new budget or prices; a run stopped by its budget that the new one
        covers goes on (its queued jobs are enqueued again)."""
        db = self.database
        with db.write():
            status = db.value("run_status", run_id=run_id)
            if status is None:
                from qualify.errors import NotFoundError

                raise NotFoundError(f"run {run_id}: no such run")
            db.execute(
                "set_llm_account",
                {
                    "run_id": run_id,
                    "max_tokens": max_tokens,
                    "clear_budget": clear_budget,
                    "price_in": price_in,
                    "price_out": price_out,
                },
            )
            account = self.account(run_id)
            if status == "BUDGET":
                if account.over_budget:
                    raise InvalidStateError(
                        f"run {run_id}: has used {account.tokens:,} tokens; a budget of"
                        f" {account.max_tokens:,} does not let it go on"
                    )
                if db.rows("resume_budget_run", run_id=run_id):
                    db.execute("finish_done_runs", {"run_id": run_id})
                self._enqueue_queued(run_id)
        return account

    def _enqueue_queued(self, run_id: int) -> None:
        ids = [row["id"] for row in self.database.rows("queued_jobs_of_run", run_id=run_id)]
        if not ids:
            return
        if self.queue.transactional:
            self.queue.push(ids)
        else:
            self.database.after_commit(lambda: self.queue.push(ids))
