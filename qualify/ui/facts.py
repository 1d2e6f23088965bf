"""What the pages show that costs more than a row of the runs table, read once and shared by
every browser: the live snapshot (what ``status --watch`` reads), at most once a second
however many pages poll it, and each run's counts (verdicts, tiers, error codes), read again
only when the run has changed.

A finished run's counts never change, so they are read once per server; an active run's at
most every ``active_every`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from qualify.api import Qualify, StatusReport
from qualify.dashboard import Dashboard, RunLine, Snapshot
from qualify.store import Run

T = TypeVar("T")


@dataclass(frozen=True)
class Live:
    """The runs page's data at one moment: the recent runs, and the dashboard's view of the
    ones in progress (rate, ETA, workers, leases, error codes)."""

    status: StatusReport
    snapshot: Snapshot
    read_at: float

    def line(self, run_id: int) -> RunLine | None:
        return next((line for line in self.snapshot.runs if line.run.id == run_id), None)


@dataclass(frozen=True)
class Breakdown:
    """A run's results counted: by verdict, by tier, by the error code of its failed jobs
    and by the error code its qualifier gave with a result."""

    verdicts: dict[str, int]
    tiers: dict[str, int]
    failures: list[tuple[str, int]]
    result_errors: dict[str, int]


class _Memo(Generic[T]):
    """Values by key, each with the version it was computed for; one computation per key at
    a time (twenty browsers opening a cold run page read the store once)."""

    def __init__(self, limit: int = 500) -> None:
        self._values: dict[object, tuple[object, float, T]] = {}
        self._locks: dict[object, threading.Lock] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, key: object, version: object, max_age: float, compute: Callable[[], T]) -> T:
        found = self._values.get(key)
        if found is not None and (found[0] == version or time.monotonic() - found[1] < max_age):
            return found[2]
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._values.get(key)
            if found is not None and (found[0] == version or time.monotonic() - found[1] < max_age):
                return found[2]
            value = compute()
            with self._lock:
                if len(self._values) >= self._limit:
                    self._values.clear()
                self._values[key] = (version, time.monotonic(), value)
            return value


class Facts:
    def __init__(
        self,
        app: Qualify,
        *,
        stuck_after: float,
        live_every: float = 1.0,
        active_every: float = 5.0,
    ) -> None:
        self.app = app
        self.stuck_after = stuck_after
        self.live_every = live_every
        self.active_every = active_every
        self._dashboard = Dashboard(app, stuck_after=stuck_after)
        self._live: Live | None = None
        self._live_lock = threading.Lock()
        self._verdicts: _Memo[dict[str, int]] = _Memo()
        self._breakdowns: _Memo[Breakdown] = _Memo()

    def live(self) -> Live:
        """The latest snapshot, read again when it is older than ``live_every`` seconds.
        The dashboard measures rates from its own samples, so only one thread samples."""
        live = self._live
        if live is not None and time.monotonic() - live.read_at < self.live_every:
            return live
        with self._live_lock:
            live = self._live
            if live is None or time.monotonic() - live.read_at >= self.live_every:
                snapshot = self._dashboard.refresh()
                status = self.app.status(stuck_after=self.stuck_after)
                live = self._live = Live(status, snapshot, time.monotonic())
            return live

    def verdicts(self, run: Run) -> dict[str, int]:
        """The run's results by verdict (an index-only count)."""
        max_age = self.live_every if run.active else 0.0
        return self._verdicts.get(
            run.id, _version(run), max_age, lambda: self.app.runs.count_verdicts(run.id)
        )

    def breakdown(self, run: Run) -> Breakdown:
        def compute() -> Breakdown:
            tiers, errors = self.app.results.kinds(run.id)
            return Breakdown(
                verdicts=self.verdicts(run),
                tiers=tiers,
                failures=self.app.runs.count_failures(run.id, limit=20) if run.failed else [],
                result_errors=errors,
            )

        max_age = self.active_every if run.active else 0.0
        return self._breakdowns.get(run.id, _version(run), max_age, compute)


def _version(run: Run) -> tuple[object, ...]:
    # Every change to a run's jobs moves its counters or its updated_at.
    return (run.updated_at, run.completed, run.failed, run.cancelled, run.status)
