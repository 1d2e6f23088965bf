"""What every role of one worker shares: its store, options, identity, counters, the jobs it
holds, and the three events that stop it step by step."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from qualify.store import Store
from qualify.worker.flights import Flights
from qualify.worker.options import WorkerOptions, WorkerStats
from qualify.worker.storehealth import StoreHealth


@dataclass(eq=False)
class WorkerState:
    store: Store
    options: WorkerOptions
    worker_id: str
    stats: WorkerStats = field(default_factory=WorkerStats)
    flights: Flights = field(default_factory=Flights)
    #: Whether the store is down (disk full, connection lost), as the roles found it.
    health: StoreHealth = field(default_factory=StoreHealth)
    #: No new jobs.
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Hand in-flight jobs back without waiting.
    release_now: threading.Event = field(default_factory=threading.Event)
    #: The background threads end.
    halt: threading.Event = field(default_factory=threading.Event)
    #: Runs whose spent budget this worker has already said (once a run, not once a job).
    budget_said: set[int] = field(default_factory=set)

    def stop(self, *, release_now: bool = False) -> None:
        self.stopping.set()
        if release_now:
            self.release_now.set()
        self.flights.notify()
