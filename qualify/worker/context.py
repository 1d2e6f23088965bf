"""Run plans and qualifiers, loaded once and shared by every executor thread.

Qualifiers are built with the store's page store (``qualify.store.pages``), so those that
keep the pages they fetch (``web``) read and write kept copies; each run gets its qualifier
bound to the run's ``max_page_age`` (a rescore takes copies of any age)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from qualify import qualifiers
from qualify.llmledger import CachedVerdict, LlmLedger, RunAccount, Usage
from qualify.pagecache import PageCache, PageCopy
from qualify.qualifiers import Qualifier
from qualify.settings import Settings
from qualify.store import Database, RunPlan, Runs


class SharedPages:
    """The page store as executor threads use it: each read or write gives its connection
    back at once, so ``--concurrency`` threads share the worker's one spare connection
    instead of holding one each (they hold it while the statements run, not while they
    fetch)."""

    def __init__(self, pages: PageCache, database: Database) -> None:
        self.pages = pages
        self.database = database

    def site(self, site: str, max_age: float | None) -> Mapping[str, PageCopy]:
        try:
            return self.pages.site(site, max_age)
        finally:
            self.database.release()

    def put(self, site: str, copies: Sequence[PageCopy]) -> None:
        try:
            self.pages.put(site, copies)
        finally:
            self.database.release()


class SharedLedger:
    """The llm qualifier's cache and token accounts as executor threads use them: like
    :class:`SharedPages`, each call gives its connection back at once."""

    def __init__(self, ledger: LlmLedger, database: Database) -> None:
        self.ledger = ledger
        self.database = database

    def cached(self, key: str) -> CachedVerdict | None:
        try:
            return self.ledger.cached(key)
        finally:
            self.database.release()

    def keep(self, verdict: CachedVerdict, run_id: int | None = None) -> RunAccount | None:
        try:
            return self.ledger.keep(verdict, run_id)
        finally:
            self.database.release()

    def spend(self, run_id: int, usage: Usage, *, cache_hit: bool) -> RunAccount:
        try:
            return self.ledger.spend(run_id, usage, cache_hit=cache_hit)
        finally:
            self.database.release()

    def account(self, run_id: int) -> RunAccount:
        try:
            return self.ledger.account(run_id)
        finally:
            self.database.release()

    def stop_for_budget(self, run_id: int) -> None:
        try:
            self.ledger.stop_for_budget(run_id)
        finally:
            self.database.release()


class RunContext:
    def __init__(
        self,
        runs: Runs,
        settings: Settings,
        pages: PageCache | None = None,
        ledger: LlmLedger | None = None,
    ) -> None:
        self.runs = runs
        self.settings = settings
        self.pages = pages
        self.ledger = ledger
        self._plans: dict[int, RunPlan] = {}
        self._qualifiers: dict[str, Qualifier] = {}
        self._bound: dict[int, Qualifier] = {}
        self._lock = threading.Lock()

    def plan(self, run_id: int) -> RunPlan:
        """The run's plan; the dispatcher loads it when it claims the run's first job, so
        that executor threads find it here and need no connection of their own."""
        plan = self._plans.get(run_id)
        if plan is None:
            with self._lock:
                plan = self._plans.get(run_id) or self.runs.plan(run_id)
                self._plans[run_id] = plan
        return plan

    def qualifier(self, name: str) -> Qualifier:
        """The qualifier called ``name``, built once; raises InputError if it cannot be."""
        qualifier = self._qualifiers.get(name)
        if qualifier is None:
            with self._lock:
                qualifier = self._qualifiers.get(name) or qualifiers.load(
                    name, self.settings, self.pages, self.ledger
                )
                self._qualifiers[name] = qualifier
        return qualifier

    def qualifier_for(self, plan: RunPlan) -> Qualifier:
        """The run's qualifier, bound to its page age; raises InputError as ``qualifier``."""
        bound = self._bound.get(plan.id)
        if bound is None:
            bound = qualifiers.for_run(
                self.qualifier(plan.qualifier), max_page_age=plan.max_page_age, run_id=plan.id
            )
            with self._lock:
                self._bound[plan.id] = bound
        return bound

    def close(self) -> None:
        with self._lock:
            built, self._qualifiers = list(self._qualifiers.values()), {}
            self._bound = {}
        for qualifier in built:
            qualifiers.close(qualifier)
