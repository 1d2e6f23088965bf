"""The heartbeat: every lease/3 it renews the leases of this worker's running jobs (not those
whose outcome waits to be recorded) and its own row,
abandons a job that runs past the job timeout, and now and then logs a summary line."""

from __future__ import annotations

import logging
import time

from qualify.errors import TransientError
from qualify.worker.executor import Executors
from qualify.worker.flights import Flight
from qualify.worker.options import Summary
from qualify.worker.policy import decide
from qualify.worker.side import SideTask
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


class Heartbeat(SideTask):
    doing = "renew leases"

    def __init__(self, state: WorkerState, executors: Executors) -> None:
        super().__init__(state, state.options.heartbeat_interval, "heartbeat")
        self.executors = executors
        self._summary = Summary(state.stats, time.monotonic())

    def stale(self) -> float | None:
        """Seconds since leases were last renewed, once that is a whole lease or more (the
        leases may have expired: claiming more would only lose them too); else None."""
        silent = time.monotonic() - self.last_ok
        return silent if silent >= self.state.options.lease else None

    def tick(self) -> None:
        state, options = self.state, self.state.options
        now = time.monotonic()
        with state.flights.cond:
            flights = list(state.flights.held.values())
        renew = []
        for flight in flights:
            if flight.abandoned or not flight.executing:
                # A job whose outcome waits to be recorded is the dispatcher's now: renewing
                # it too would lock the rows the round is finishing (a deadlock on
                # PostgreSQL) and, when the round won, warn of a lease lost that was not.
                continue
            if flight.executing and now - flight.started > options.job_timeout:
                self._abandon(flight, now)
                continue
            renew.append(flight.job.id)
        store = state.store
        held = store.jobs.renew(state.worker_id, renew, options.lease)
        not_renewed = set(renew) - held
        if not_renewed:
            # A job that finished meanwhile was recorded (or is being recorded) by the
            # dispatcher, which says itself if its lease had been lost: only a job still
            # running has lost its lease before it finished.
            with state.flights.cond:
                running = {f.job.id for f in state.flights.held.values() if f.executing}
            lost = sorted(not_renewed & running)
            for job_id in lost:
                log.warning("job %d: lease lost before it finished", job_id)
        store.workers.heartbeat(
            state.worker_id,
            in_flight=len(renew),
            processed=state.stats.processed,
            failed=state.stats.failed,
        )
        state.flights.notify()

    def _abandon(self, flight: Flight, now: float) -> None:
        """A job past the job timeout: its thread is left behind (Python cannot stop it), a
        new thread takes its place, and the job is recorded as ``job_timeout`` (retried or
        failed by the run's policy), not left to expire as a lost lease."""
        job = flight.job
        log.error(
            "job %d (%s) has run for %.0fs, past the job timeout; abandoning it",
            job.id,
            job.domain,
            now - flight.started,
        )
        error = TransientError(
            f"the qualifier ran past the job timeout ({self.state.options.job_timeout:g}s)",
            code="job_timeout",
        )
        outcome = decide(job, self.executors.context.plan(job.run_id), error)
        with self.state.flights.cond:
            flight.abandoned = True
            self.state.flights.outcomes.append((outcome, flight))
            self.state.flights.cond.notify_all()
        self.executors.start_one()

    def run_tick(self) -> bool:
        worked = super().run_tick()
        now = time.monotonic()
        if now - self._summary.since >= self.state.options.summary_interval:
            line = self._summary.line(now, len(self.state.flights.active()))
            if line:
                log.info("%s", line)
        return worked
