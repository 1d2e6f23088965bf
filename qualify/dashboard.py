"""The data behind ``qualify status --watch``: runs in progress, workers, leases close to
expiry and recent error codes, gathered from the store alone.

It only reads, so it can run on any machine that reaches the store, and it stays cheap on a
database with a million jobs: runs and workers are small tables, and every query on jobs
reads a small partial index a bounded number of rows deep. Throughput and ETA are not queried
at all: the dashboard keeps its own samples of each run's counters, one per refresh, and
measures how far they moved over the last minute.

    dashboard = Dashboard(app, stuck_after=300)
    snapshot = dashboard.refresh()   # call again every second or so
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from qualify.api import Qualify
from qualify.store import ErrorCount, LeaseInfo, Run, WorkerInfo

# Throughput is measured over this many seconds of samples.
RATE_WINDOW = 60.0
# A run that finished this recently still has its line, so it visibly ends.
FINISHED_WITHIN = 600.0
# Lease rows are worth showing when less than this share of the holder's lease is left:
# a healthy holder renews every lease/3, so its leases never fall below two thirds.
LEASE_WARN_SHARE = 0.5
DEFAULT_LEASE = 30.0


@dataclass(frozen=True)
class RunLine:
    """One run's counters plus what the dashboard measured itself."""

    run: Run
    #: Jobs finished per second over the last minute; None until there are two samples.
    rate: float | None
    #: Seconds until every job is finished at that rate; None when unknown or not moving.
    eta: float | None

    @property
    def moving(self) -> bool:
        return bool(self.rate)


@dataclass(frozen=True)
class ExpiringLease:
    lease: LeaseInfo
    #: The holder's state ("alive", "dead", "stopped"), or None if it was not seen lately.
    owner_state: str | None


@dataclass(frozen=True)
class Snapshot:
    now: float
    stuck_after: float
    runs: list[RunLine]
    workers: list[WorkerInfo]
    expiring: list[ExpiringLease]
    #: Error codes among the most recent failures (``failures_sampled`` of them at most).
    failures: list[ErrorCount]
    failures_sampled: int
    #: Error codes of jobs waiting to be retried.
    retrying: list[ErrorCount]

    @property
    def stuck(self) -> list[Run]:
        return [line.run for line in self.runs if line.run.stuck]

    @property
    def live_workers(self) -> list[WorkerInfo]:
        return [w for w in self.workers if w.state == "alive"]


class RateMeter:
    """Jobs per second over a sliding window, from successive samples of a run's finished
    count (also used by ``qualify run --wait``'s progress bar)."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, at: float, finished: int) -> float | None:
        """Record ``finished`` at time ``at``; return the rate, or None before two samples."""
        samples = self._samples
        if samples and finished < samples[-1][1]:
            samples.clear()  # `retry` took failures back: older samples no longer compare
        samples.append((at, finished))
        while len(samples) > 2 and at - samples[0][0] > self.window:
            samples.popleft()
        if len(samples) < 2:
            return None
        (t0, f0), (t1, f1) = samples[0], samples[-1]
        return (f1 - f0) / (t1 - t0) if t1 > t0 else 0.0


def eta(remaining: int, rate: float | None) -> float | None:
    """Seconds until ``remaining`` jobs are done at ``rate``; None if it is not moving."""
    if remaining <= 0:
        return 0.0
    return remaining / rate if rate else None


class Dashboard:
    def __init__(
        self,
        app: Qualify,
        *,
        run_id: int | None = None,
        stuck_after: float = 300.0,
        failures_sampled: int = 200,
        max_leases: int = 8,
        window: float = RATE_WINDOW,
    ) -> None:
        self.app = app
        self.run_id = run_id
        self.stuck_after = stuck_after
        self.failures_sampled = failures_sampled
        self.max_leases = max_leases
        self.window = window
        self.activity = app.activity
        self._meters: dict[int, RateMeter] = {}

    def refresh(self) -> Snapshot:
        """Read the store once and return what to show now."""
        now = self.app.database.now()
        if self.run_id is not None:
            runs = [self.app.runs.get(self.run_id, stuck_after=self.stuck_after)]
        else:
            runs = self.app.runs.current(
                stuck_after=self.stuck_after, finished_within=FINISHED_WITHIN
            )
        workers = self.app.workers.list()
        return Snapshot(
            now=now,
            stuck_after=self.stuck_after,
            runs=[self._measure(run, now) for run in runs],
            workers=workers,
            expiring=self._expiring(workers),
            failures=self.activity.recent_failures(self.failures_sampled, self.run_id),
            failures_sampled=self.failures_sampled,
            retrying=self.activity.retrying(self.failures_sampled, self.run_id),
        )

    def _measure(self, run: Run, now: float) -> RunLine:
        meter = self._meters.setdefault(run.id, RateMeter(self.window))
        rate = meter.sample(now, run.finished)
        if not run.active:
            return RunLine(run, None, None)
        return RunLine(run, rate, eta(run.total - run.finished, rate))

    def _expiring(self, workers: list[WorkerInfo]) -> list[ExpiringLease]:
        leases = {w.id: w for w in workers}
        longest = max((w.lease for w in workers), default=DEFAULT_LEASE)
        found = []
        for lease in self.activity.leases_expiring(longest * LEASE_WARN_SHARE):
            if self.run_id is not None and lease.run_id != self.run_id:
                continue
            owner = leases.get(lease.owner or "")
            limit = (owner.lease if owner else DEFAULT_LEASE) * LEASE_WARN_SHARE
            if lease.expires_in < limit:
                found.append(ExpiringLease(lease, owner.state if owner else None))
            if len(found) >= self.max_leases:
                break
        return found
