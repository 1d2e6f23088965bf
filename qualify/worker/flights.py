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


@dataclass(eq=False)
class Flights:
    cond: threading.Condition = field(default_factory=threading.Condition)
    held: dict[int, Flight] = field(default_factory=dict)
    #: Finished, not yet recorded.
    outcomes: list[tuple[Outcome, Flight]] = field(default_factory=list)

    def active(self) -> list[Flight]:
        """Jobs whose qualifier is running (not those waiting to be recorded)."""
        return [f for f in self.held.values() if f.executing and not f.abandoned]

    def free(self, concurrency: int) -> int:
        """Slots free for new jobs."""
        return max(0, concurrency - len(self.active()))

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
