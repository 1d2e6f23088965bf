"""Maintenance, run by every worker on start and then twice a second: reclaim expired
leases, queue retries that are due and, now and then, re-enqueue queued jobs whose message
was lost (the reconciler)."""

from __future__ import annotations

import logging
import threading
import time

from qualify.worker.side import SideTask
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


class Maintenance(SideTask):
    doing = "maintain the queue"

    def __init__(self, state: WorkerState) -> None:
        super().__init__(state, state.options.maintenance_interval, "maintenance")
        #: Set by the dispatcher when the queue looks empty while the store has queued jobs.
        self.reconcile_soon = threading.Event()
        self._next_reconcile = time.monotonic() + state.options.lost_message_grace

    def tick(self) -> None:
        grace = self.state.options.lost_message_grace
        reconcile = self.reconcile_soon.is_set() or time.monotonic() >= self._next_reconcile
        if reconcile:
            self.reconcile_soon.clear()
            self._next_reconcile = time.monotonic() + grace
        self.maintain(reconcile)

    def maintain(self, reconcile: bool = False) -> None:
        jobs = self.state.store.jobs
        queued = 0
        # While the store is down for this worker, its own leases lapse too: they are not a
        # dead worker's, and its held outcomes are recorded first.
        if not self.state.health.down and jobs.has_expired_leases():
            report = jobs.reclaim_expired()
            queued += report.requeued
            if report.requeued or report.failed:
                log.warning(
                    "reclaimed %d jobs whose worker stopped renewing its lease; %d of them"
                    " failed after too many attempts",
                    report.requeued + report.failed,
                    report.failed,
                )
        if jobs.has_due_retries():
            promoted = jobs.promote_due()
            queued += promoted
            log.debug("%d retries are due and queued again", promoted)
        if reconcile and jobs.may_have_lost_messages():
            lost = jobs.requeue_lost(self.state.options.lost_message_grace)
            queued += lost
            if lost:
                log.warning("re-enqueued %d queued jobs whose queue message was lost", lost)
        # A run whose last jobs two workers finished at once is completed here (each round
        # completes the runs it counted, but neither may have seen the other's count).
        jobs.finish_done_runs()
        if queued:
            self.state.flights.notify()  # an idle dispatcher need not wait out its poll
