"""The jobs a worker holds right now, and the outcomes waiting to be recorded.

Every role of the worker reads or changes this state; one condition guards it all and wakes
whoever waits for a change (the dispatcher for outcomes and free slots, the drain for
running jobs to finish).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from qualify.store import ClaimedJob, Outcome


@dataclass(eq=False)
class Flight:
    job: ClaimedJob
    started: float
    abandoned: bool = False  # ran past the job timeout; its lease is left to expire
    executing: bool = True  # False once its outcome waits for the recorder


#: Jobs are claimed ahead of a free slot only as many as finish within this window (seconds),
#: so a prefetched job holds its lease idle for about that long at most.
PREFETCH_WINDOW = 0.05
#: However short jobs are, no more are held waiting than this: every job a worker holds when
#: it dies becomes a suspect, run apart in a process of its own (about a second each), so a
#: crash must not leave hundreds of them; 32 already lets a round at the default
#: --concurrency 4 commit some 36 jobs at once.
PREFETCH_MAX = 32
_SMOOTHING = 0.1  # weight of the newest job in the running mean of how long jobs run


@dataclass(eq=False)
class Flights:
    cond: threading.Condition = field(default_factory=threading.Condition)
    held: dict[int, Flight] = field(default_factory=dict)
    #: Finished, not yet recorded.
    outcomes: list[tuple[Outcome, Flight]] = field(default_factory=list)
    #: How long a job runs, a running mean (None until one has run).
    mean_run: float | None = None

    def active(self) -> list[Flight]:
        """Jobs whose qualifier is running (not those waiting to be recorded)."""
        return [f for f in self.held.values() if f.executing and not f.abandoned]

    def free(self, concurrency: int) -> int:
        """Slots free for new jobs, plus a few claimed ahead (``prefetch``)."""
        return max(0, concurrency + self.prefetch(concurrency) - len(self.active()))

    def prefetch(self, concurrency: int) -> int:
        """Jobs to hold beyond ``concurrency``, waiting for a thread: as many as finish
        within PREFETCH_WINDOW (so a round claims for the slots about to free up, and no
        lease is held idle for longer), never more than PREFETCH_MAX; none before the first
        job has run. Bounded by time, not by ``concurrency``: with short jobs a few threads
        get through hundreds in the window, and a round that records and claims that many at
        once commits once for all of them."""
        if self.mean_run is None:
            return 0
        ahead = concurrency * PREFETCH_WINDOW / max(self.mean_run, 1e-6)
        return min(PREFETCH_MAX, int(ahead))

    def observe(self, seconds: float) -> None:
        """A job ran for ``seconds``. Call with ``cond`` held."""
        mean = self.mean_run
        self.mean_run = seconds if mean is None else mean + _SMOOTHING * (seconds - mean)

    def take_outcomes(self) -> list[tuple[Outcome, Flight]]:
        taken, self.outcomes = self.outcomes, []
        return taken

    def forget(self, flight: Flight) -> None:
        """Call with ``cond`` held. The job may have been claimed again since it was
        abandoned: that newer entry stays."""
        if self.held.get(flight.job.id) is flight:
            del self.held[flight.job.id]

    def notify(self) -> None:
        with self.cond:
            self.cond.notify_all()
