"""Run plans and qualifiers, loaded once and shared by every executor thread."""

from __future__ import annotations

import threading

from qualify import qualifiers
from qualify.qualifiers import Qualifier
from qualify.settings import Settings
from qualify.store import RunPlan, Runs


class RunContext:
    def __init__(self, runs: Runs, settings: Settings) -> None:
        self.runs = runs
        self.settings = settings
        self._plans: dict[int, RunPlan] = {}
        self._qualifiers: dict[str, Qualifier] = {}
        self._lock = threading.Lock()

    def plan(self, run_id: int) -> RunPlan:
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
                qualifier = self._qualifiers.get(name) or qualifiers.load(name, self.settings)
                self._qualifiers[name] = qualifier
        return qualifier

    def close(self) -> None:
        with self._lock:
            built, self._qualifiers = list(self._qualifiers.values()), {}
        for qualifier in built:
            qualifiers.close(qualifier)
