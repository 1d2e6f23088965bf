"""The worker: takes job ids off the queue, holds leases while qualifiers run, records results.

It is not a huey consumer (huey's consumer has no lease or acknowledgement, so a job whose
worker dies is lost); it runs its own roles over huey's storage, one module each:

* ``dispatcher`` (the caller's thread): the store loop, recording what finished and claiming
  what fits in one transaction per round (group commit);
* ``executor``: ``concurrency`` threads running the qualifier;
* ``heartbeat``: renews leases and the worker's row every lease/3, abandons jobs past the
  job timeout;
* ``maintenance``: reclaims expired leases, queues due retries, re-enqueues lost messages;
* ``isolation``: a suspect job (its last worker died running it) runs alone;
* ``outage``: failures that may be our own side's are held, and many of them pause the
  worker (no claims, jobs handed back uncharged) until a probe finds our side working;
* ``signals``: SIGINT/SIGTERM stop it gracefully, a second one at once.

:class:`Worker` puts them together and watches the side tasks (``side``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable

from qualify import __version__
from qualify.settings import Settings
from qualify.store import Store
from qualify.worker import signals
from qualify.worker.context import RunContext, SharedLedger, SharedPages
from qualify.worker.dispatcher import Dispatcher
from qualify.worker.executor import Executors
from qualify.worker.heartbeat import Heartbeat
from qualify.worker.maintenance import Maintenance
from qualify.worker.options import WorkerOptions, WorkerStats
from qualify.worker.outage import OutageBreaker
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")

#: Store connections a worker holds at most (PostgreSQL; see ``Worker.run``).
CONNECTIONS = 4

__all__ = ["Worker", "WorkerOptions", "WorkerStats"]


class Worker:
    def __init__(
        self,
        store: Store,
        options: WorkerOptions | None = None,
        *,
        settings: Settings,
        stop_when: Callable[[], bool] | None = None,
    ) -> None:
        """A worker over ``store``; ``settings`` are what it builds qualifiers from
        (``Qualify.worker`` passes the app's)."""
        self.store = store
        self.options = options or WorkerOptions()
        self.hostname = (
            self.options.hostname or os.environ.get("QUALIFY_HOSTNAME") or socket.gethostname()
        )
        self.id = f"{self.hostname}:{os.getpid()}:{secrets.token_hex(3)}"
        store.database.bound_transactions(self.options.lease)
        self.state = WorkerState(store, self.options, self.id)
        self.interrupted = False
        self.context = RunContext(
            store.runs,
            settings,
            SharedPages(store.pages, store.database),
            SharedLedger(store.llm, store.database),
        )
        self.outage = OutageBreaker(self.state, self.context)
        self.executors = Executors(self.state, self.context, screen=self.outage.hold)
        self.heartbeat = Heartbeat(self.state, self.executors)
        self.maintenance = Maintenance(self.state)
        self.dispatcher = Dispatcher(
            self.state, self.executors, self.heartbeat, self.maintenance, stop_when,
            outage=self.outage,
        )  # fmt: skip

    @property
    def stats(self) -> WorkerStats:
        return self.state.stats

    def run(self) -> WorkerStats:
        """Work until stopped (signal, ``stop()``, ``stop_when``, or idle in burst mode)."""
        opts, store = self.options, self.store
        restore = signals.install(self.state, self._interrupted) if opts.handle_signals else None
        store.workers.register(
            self.id,
            hostname=self.hostname,
            pid=os.getpid(),
            concurrency=opts.concurrency,
            lease=opts.lease,
            version=__version__,
        )
        log.info(
            "worker %s started: database %s, queue %s, concurrency %d, lease %gs%s",
            self.id,
            store.database.display_url,
            store.queue.description,
            opts.concurrency,
            opts.lease,
            "; exits when no work is left (--burst)" if opts.burst else "; Ctrl-C stops",
        )
        if (warning := store.queue.warning()) is not None:
            log.warning("%s", warning)
        # Connections to the store: the dispatcher's (this thread), the heartbeat's, the
        # maintenance's and one the others share, whatever the concurrency.
        store.database.bound_connections(CONNECTIONS)
        try:
            self.maintenance.maintain(reconcile=True)  # what dead workers left, first
            self.executors.start(opts.concurrency)
            self.heartbeat.start()
            self.maintenance.start()
            self.outage.start()
            self.dispatcher.run()
            self.dispatcher.drain()
            self.outage.hand_back_all()
        finally:
            self._shut_down()
            if restore is not None:
                restore()
        s = self.stats
        log.info(
            "worker %s stopped: %d done, %d failed, %d retried, %d released, %d lost leases",
            self.id,
            s.done,
            s.failed,
            s.retried,
            s.released,
            s.lost,
        )
        return s

    @property
    def paused(self) -> str | None:
        """Why the worker is paused for an outage, or None while it works."""
        return self.outage.reason if self.outage.paused else None

    def stop(self, *, release_now: bool = False) -> None:
        """Stop taking jobs; in-flight ones finish within ``grace`` or are handed back."""
        self.state.stop(release_now=release_now)

    def _interrupted(self) -> None:
        self.interrupted = True

    def _shut_down(self) -> None:
        self.state.halt.set()
        self.executors.stop()
        for task in (self.heartbeat, self.maintenance, self.outage):
            task.join(timeout=5)
        try:
            self.store.workers.stopped(
                self.id, processed=self.stats.processed, failed=self.stats.failed
            )
        except Exception:
            log.exception("could not record the worker's stop")
        self.context.close()
