"""Side tasks: the threads beside the dispatcher that keep a worker's leases and queue in
order (heartbeat, maintenance), each ticking at its own interval.

A tick that fails is logged once, with its cause, when a streak of failures starts, and once
more when it works again; meanwhile the task keeps trying. The worker watches its side tasks
(as procrastinate's worker does): a thread that died stops the worker, and a heartbeat that
has not renewed for a whole lease stops it from claiming.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

from qualify.store.faults import outage_cause
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


class SideTask(ABC):
    #: What a tick does, for log lines: "could not renew leases".
    doing: str
    #: A task that ticks often keeps its connection; one that seldom uses the store gives
    #: it back after each tick (a worker holds at most 4, see ``Worker.run``).
    keeps_connection: bool = True

    def __init__(self, state: WorkerState, interval: float, name: str) -> None:
        self.state = state
        self.interval = interval
        self.last_ok = time.monotonic()
        self._failing_since: float | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @abstractmethod
    def tick(self) -> None: ...

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def name(self) -> str:
        return self._thread.name

    def run_tick(self) -> bool:
        """One tick, failures logged as described above; True if it worked."""
        try:
            self.tick()
        except Exception as exc:
            cause = outage_cause(exc)
            if cause is not None:  # the store is down: one line for the whole worker
                detail = f"could not {self.doing}; trying again every {self.interval:.1f}s"
                self.state.health.failed(self.name, cause, detail)
                return False
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
                log.exception("could not %s; trying again every %.1fs", self.doing, self.interval)
            return False
        self.state.health.worked(self.name)
        now = time.monotonic()
        if self._failing_since is not None:
            log.warning("%s works again after %.0fs", self.name, now - self._failing_since)
            self._failing_since = None
        self.last_ok = now
        return True

    def _loop(self) -> None:
        try:
            while not self.state.halt.wait(self.interval):
                self.run_tick()
                if not self.keeps_connection:
                    self.state.store.database.release()
        finally:
            self.state.store.database.close()
