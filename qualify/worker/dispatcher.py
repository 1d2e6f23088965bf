"""The dispatcher: the worker's store loop, in the caller's thread.

Each round records every outcome that piled up and claims new jobs, in one transaction
(group commit), each outcome fenced by its own lease, never running more than
``concurrency`` jobs at once. When the dispatcher stops, :meth:`Dispatcher.drain` lets
running jobs finish within the grace, records what finished and hands the rest back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence

from qualify.errors import StoreUnavailable
from qualify.plural import plural
from qualify.store import ClaimedJob, Outcome, Round
from qualify.store.faults import outage_cause
from qualify.worker.executor import Executors
from qualify.worker.flights import Flight
from qualify.worker.heartbeat import Heartbeat
from qualify.worker.isolation import isolate
from qualify.worker.maintenance import Maintenance
from qualify.worker.outage import OutageBreaker
from qualify.worker.policy import summary
from qualify.worker.side import SideTask
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")

#: How long a round waits, once a job has finished, for others finishing with it.
_BATCH_WAIT = 0.001
_COUNTER_OF_KIND = {"done": "done", "failed": "failed", "retry": "retried"}


class Dispatcher:
    def __init__(
        self,
        state: WorkerState,
        executors: Executors,
        heartbeat: Heartbeat,
        maintenance: Maintenance,
        stop_when: Callable[[], bool] | None = None,
        outage: OutageBreaker | None = None,
    ) -> None:
        self.state = state
        self.executors = executors
        self.heartbeat = heartbeat
        self.maintenance = maintenance
        self.stop_when = stop_when
        self.outage = outage
        self._not_claiming_said = False
        #: While the store is down: the wait before the next try (0: it is up).
        self._hold_delay = 0.0

    def run(self) -> None:
        """Round after round; sleeps only when there is neither an outcome nor a free slot
        that the queue can fill."""
        state, options = self.state, self.state.options
        idle = 0.01
        next_stop_check = 0.0
        while not state.stopping.is_set():
            if self.stop_when is not None and time.monotonic() >= next_stop_check:
                next_stop_check = time.monotonic() + 0.5
                if self.stop_when():
                    break
            if self._side_task_died():
                break
            outcomes, free = self._wait_for_work()
            free = free if self._may_claim() else 0
            if self.outage is not None:
                free = self.outage.admit(free)  # paused for an outage: none, or one probe
            try:
                done: Round = state.store.jobs.record_and_claim(
                    [outcome for outcome, _ in outcomes], free, state.worker_id, options.lease
                )
            except Exception as exc:
                self._round_failed(outcomes, exc)
                continue
            self._store_back(len(outcomes))
            self._recorded(outcomes, done.recorded)
            self._start(done.claimed)
            if done.taken or outcomes:
                idle = 0.01
                continue
            try:
                if free and self._idle_and_done():
                    break
            except Exception as exc:
                self._round_failed([], exc)
                continue
            with state.flights.cond:
                if not state.flights.outcomes:
                    state.flights.cond.wait(idle)
            idle = min(idle * 2, options.poll_interval)

    def drain(self) -> None:
        """After the loop: running jobs get the grace to finish; what finished is recorded,
        the rest handed back at once."""
        state = self.state
        flights = state.flights
        deadline = time.monotonic() + state.options.grace
        with flights.cond:
            while flights.active() and not state.release_now.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                flights.cond.wait(min(remaining, 0.2))
            leftovers = [f.job for f in flights.active()]
            # Jobs still running will find their lease gone; none not yet started may start.
            state.release_now.set()
            outcomes = flights.take_outcomes()
        if outcomes:
            try:
                recorded = state.store.jobs.record([outcome for outcome, _ in outcomes])
            except Exception as exc:
                try:
                    if outage_cause(exc) is not None:
                        raise StoreUnavailable(str(outage_cause(exc))) from exc
                    log.exception("could not record finished jobs together; one at a time")
                    self._record_each(outcomes)
                except StoreUnavailable as down:
                    # Stopping: nothing to wait for. The leases expire, the jobs run again.
                    log.error(
                        "store unavailable (%s); %s not recorded, to run again once their"
                        " leases expire",
                        down.cause,
                        plural(len(outcomes), "finished job"),
                    )
            else:
                self._recorded(outcomes, recorded)
        if leftovers:
            try:
                released = state.store.jobs.release(leftovers)
            except Exception:
                log.exception("could not hand jobs back; their leases will expire instead")
                released = 0
            state.stats.add(released=released)
            log.warning("handed %s back to the queue", plural(released, "in-flight job"))

    # -- the store down --------------------------------------------------------------------

    def _round_failed(self, outcomes: list[tuple[Outcome, Flight]], error: Exception) -> None:
        """A round failed. The store down for every statement (full disk, lost connection):
        the outcomes are held, to be recorded when it is back. Else some statement was
        refused: each outcome is recorded on its own, so one cannot take the others down."""
        cause = outage_cause(error)
        if cause is None:
            log.error(
                "a round with the store failed (%s); recording one job at a time",
                " ".join(f"{type(error).__name__}: {error}".split())[:300],
            )
            try:
                self._record_each(outcomes)
            except StoreUnavailable as down:
                cause = down.cause
            else:
                self.state.stopping.wait(self.state.options.poll_interval)
                return
        self._hold(outcomes, cause)

    def _hold(self, outcomes: list[tuple[Outcome, Flight]], cause: str) -> None:
        state = self.state
        with state.flights.cond:
            state.flights.outcomes[:0] = outcomes  # first in line when the store is back
            held = len(state.flights.outcomes)
        # Retried sooner than a lease lapses, so that held outcomes are recorded in time.
        cap = max(1.0, min(30.0, state.options.lease / 3))
        delay = self._hold_delay = min(cap, self._hold_delay * 2) if self._hold_delay else 1.0
        state.health.failed(
            "dispatcher", cause, f"{plural(held, 'result')} held, retrying in {delay:g}s"
        )
        state.stopping.wait(delay)

    def _store_back(self, recorded: int) -> None:
        if not self._hold_delay:
            return
        self._hold_delay = 0.0
        self.state.health.worked("dispatcher", f"; {plural(recorded, 'held result')} recorded")

    # -- one round ------------------------------------------------------------------------

    def _wait_for_work(self) -> tuple[list[tuple[Outcome, Flight]], int]:
        """Outcomes to record and free slots to fill; waits while there are neither."""
        state, flights = self.state, self.state.flights
        concurrency = state.options.concurrency
        with flights.cond:
            while (
                not flights.outcomes
                and not flights.free(concurrency)
                and not state.stopping.is_set()
            ):
                flights.cond.wait(0.5)
            if flights.outcomes and flights.active() and not state.stopping.is_set():
                # Jobs finishing together are recorded together: a round for the batch in
                # flight, not one for the first job of it.
                flights.cond.wait(_BATCH_WAIT)
            outcomes = flights.take_outcomes()
            return outcomes, 0 if state.stopping.is_set() else flights.free(concurrency)

    def _may_claim(self) -> bool:
        """Not while the heartbeat has gone a whole lease without renewing: leases held now
        may already be lost, and new ones would be too."""
        silent = self.heartbeat.stale()
        if silent is not None and self.state.health.down:
            return False  # the store is down: said once, for every role (storehealth)
        if silent is None:
            if self._not_claiming_said:
                log.warning("the heartbeat renews leases again; claiming jobs again")
                self._not_claiming_said = False
            return True
        if not self._not_claiming_said:
            log.error(
                "the heartbeat has not renewed leases for %.0fs (a whole lease); not claiming"
                " jobs until it does",
                silent,
            )
            self._not_claiming_said = True
        return False

    def _side_task_died(self) -> bool:
        tasks: list[SideTask] = [self.heartbeat, self.maintenance]
        if self.outage is not None:
            tasks.append(self.outage)
        dead = [task for task in tasks if not task.alive]
        for task in dead:
            log.error("the %s thread has died; stopping this worker", task.name)
        if dead:
            self.state.stop()
        return bool(dead)

    def _record_each(self, outcomes: list[tuple[Outcome, Flight]]) -> None:
        """After a failed round: the store records each outcome on its own and says what
        became of it."""
        if not outcomes:
            return
        try:
            report = self.state.store.jobs.record_each([outcome for outcome, _ in outcomes])
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("could not record finished jobs; their leases will expire")
            self._recorded(outcomes, None)
            return
        for job_id in report.unrecorded:
            log.error("job %d: could not be recorded; its lease will expire", job_id)
        recorded = [(report.outcomes[o.job.id], flight) for o, flight in outcomes]
        self._recorded(recorded, report.recorded, unrecorded=report.unrecorded)

    def _start(self, claimed: Sequence[ClaimedJob]) -> None:
        if not claimed:
            return
        state = self.state
        for run_id in {job.run_id for job in claimed}:
            self.executors.context.plan(run_id)  # loaded here, on the dispatcher's connection
        now = time.monotonic()
        flights = isolate(state, [Flight(job, now) for job in claimed])
        with state.flights.cond:
            for flight in flights:
                state.flights.held[flight.job.id] = flight
        self.executors.submit(flights)
        state.stats.add(claimed=len(flights))
        state.stats.saw_runs(flight.job.run_id for flight in flights)

    def _idle_and_done(self) -> bool:
        """Nothing came off the queue: decide whether a burst worker is finished."""
        state = self.state
        jobs = state.store.jobs
        if jobs.has_orphans():
            self.maintenance.reconcile_soon.set()
        if not state.options.burst or any(not f.abandoned for f in state.flights.held.values()):
            return False
        return not jobs.has_unfinished()

    def _recorded(
        self,
        batch: Sequence[tuple[Outcome, Flight]],
        recorded: set[int] | None,
        unrecorded: Collection[int] = (),
    ) -> None:
        """After each round: count and log what was recorded, and free those jobs. With
        ``recorded`` None (or for ``unrecorded`` ids) the store could not be reached: the
        leases will expire and the jobs run again elsewhere."""
        if not batch:
            return
        state = self.state
        now = time.monotonic()
        counts = {"done": 0, "failed": 0, "retried": 0, "lost": 0}
        for outcome, flight in batch:
            job = flight.job
            if recorded is None or job.id in unrecorded:
                continue
            if job.id not in recorded:
                counts["lost"] += 1
                log.warning(
                    "job %d (%s): lease lost (reclaimed by another worker, or the run was"
                    " cancelled); this outcome was discarded",
                    job.id,
                    job.domain,
                )
                continue
            counts[_COUNTER_OF_KIND[outcome.kind]] += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("job %d %s (%.2fs): %s", job.id, job.domain, now - flight.started,
                          summary(outcome))  # fmt: skip
        state.stats.add(**counts)
        with state.flights.cond:
            for _, flight in batch:
                state.flights.forget(flight)
            state.flights.cond.notify_all()
