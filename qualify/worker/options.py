"""How a worker is configured, and what it counts."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from qualify.errors import InputError


@dataclass
class WorkerOptions:
    concurrency: int = 4
    lease: float = 30.0
    burst: bool = False
    grace: float = 10.0
    job_timeout: float = 600.0
    poll_interval: float = 1.0
    summary_interval: float = 30.0
    hostname: str | None = None
    handle_signals: bool = True
    # The outage breaker (see ``outage``): this many of the last ``outage_window`` distinct
    # domains failing on our side pause the worker; 0 turns it off.
    outage_window: int = 20
    outage_threshold: int = 12
    outage_hold: float = 3.0  # how long a suspect failure waits for a job to vouch for it
    probe_min: float = 1.0  # the first probe of a pause; the wait doubles each time...
    probe_max: float = 60.0  # ...up to this

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InputError("concurrency: must be at least 1")
        if self.lease < 0.3:
            raise InputError("lease: must be at least 300ms")
        if self.outage_window < 1 or not 0 <= self.outage_threshold <= self.outage_window:
            raise InputError(
                "outage threshold: must be between 0 (off) and the window"
                f" ({self.outage_window}), not {self.outage_threshold}"
            )
        if self.probe_min <= 0 or self.probe_max < self.probe_min or self.outage_hold <= 0:
            raise InputError("probe interval: must be positive")

    @property
    def heartbeat_interval(self) -> float:
        return self.lease / 3

    @property
    def maintenance_interval(self) -> float:
        return min(0.5, self.lease / 3)

    @property
    def lost_message_grace(self) -> float:
        # A queued job untouched this long while the queue lacks its message is lost. The
        # only message that may be missing for a moment is one between a commit and its
        # push (milliseconds), and a mistake costs a duplicate message, which claims
        # nothing: so seconds, not leases, and a Redis that evicted or lost messages costs
        # seconds too.
        return min(2 * self.lease, 5.0)


@dataclass
class WorkerStats:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0
    released: int = 0
    #: The runs whose jobs this worker claimed.
    runs: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def saw_runs(self, run_ids: Iterable[int]) -> None:
        with self._lock:
            self.runs.update(run_ids)

    @property
    def processed(self) -> int:
        return self.done + self.failed


class Summary:
    """The periodic summary line: what happened since the last one. An idle worker says so
    once, instead of repeating "0 jobs" every interval."""

    def __init__(self, stats: WorkerStats, now: float) -> None:
        self.stats = stats
        self.since = now
        self._last = (0, 0, 0)
        self._idle_said = False

    def line(self, now: float, in_flight: int) -> str | None:
        s = self.stats
        current = (s.done, s.failed, s.retried)
        done, failed, retried = (c - p for c, p in zip(current, self._last, strict=True))
        seconds = now - self.since
        self._last, self.since = current, now
        if not (done or failed or retried or in_flight):
            if self._idle_said:
                return None
            self._idle_said = True
            return f"idle: no jobs for {seconds:.0f}s ({s.done:,} done since start)"
        self._idle_said = False
        rate = (done + failed) / seconds if seconds > 0 else 0.0
        return (
            f"last {seconds:.0f}s: {done:,} done, {failed:,} failed, {retried:,} to retry"
            f" ({rate:.1f} jobs/s); {in_flight} in flight; {s.done:,} done since start"
        )
