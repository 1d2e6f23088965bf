"""The executor threads: each takes a job, runs its qualifier and hands the outcome to the
dispatcher. They hold no connection to the store: the dispatcher loads run plans, and the
page store gives its connection back after each use."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from qualify import qualifiers
from qualify.errors import BudgetReached, InputError, PermanentError, TransientError
from qualify.qualifiers import QualifierResult
from qualify.worker.apart import run_apart
from qualify.worker.budget import set_aside
from qualify.worker.context import RunContext
from qualify.worker.flights import Flight
from qualify.worker.policy import decide
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


#: Sees what a job produced before it is recorded; True: it keeps it (the outage breaker).
Screen = Callable[[Flight, QualifierResult | BaseException], bool]


class Executors:
    def __init__(
        self, state: WorkerState, context: RunContext, screen: Screen | None = None
    ) -> None:
        self.state = state
        self.context = context
        self.screen = screen
        self._work: queue.SimpleQueue[Flight | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            self.start_one()

    def start_one(self) -> None:
        """One more thread (also to take the place of one stuck on an abandoned job)."""
        thread = threading.Thread(
            target=self._loop, name=f"executor-{len(self._threads) + 1}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def submit(self, flights: list[Flight]) -> None:
        for flight in flights:
            self._work.put(flight)

    def stop(self) -> None:
        for _ in self._threads:
            self._work.put(None)

    def _loop(self) -> None:
        try:
            while (flight := self._work.get()) is not None:
                self._execute(flight)
                # Whatever the job read from the store, the connection is the worker's
                # spare one, not this thread's (see SharedPages).
                self.state.store.database.release()
                if flight.abandoned:
                    return  # a replacement thread has taken this one's place
        finally:
            self.state.store.database.close()

    def _execute(self, flight: Flight) -> None:
        state, job = self.state, flight.job
        outcome = None
        began = time.monotonic()
        try:
            if not state.release_now.is_set():  # else handed back before it started
                produced = self._produce(flight)
                if isinstance(produced, BudgetReached):
                    set_aside(state, job, produced)  # unpaid, until the budget is raised
                else:
                    if self.screen is not None and self.screen(flight, produced):
                        return  # the outage breaker records it or hands it back
                    outcome = decide(job, self.context.plan(job.run_id), produced)
        except Exception:
            log.exception("job %d (%s): the worker failed around the qualifier", job.id,
                          job.domain)  # fmt: skip
        flights = state.flights
        with flights.cond:
            flights.observe(time.monotonic() - began)
            flight.executing = False
            # An abandoned job's outcome (job_timeout) was handed in by the heartbeat.
            if outcome is None or state.release_now.is_set() or flight.abandoned:
                flights.forget(flight)
            else:
                flights.outcomes.append((outcome, flight))
            flights.cond.notify_all()

    def _produce(self, flight: Flight) -> QualifierResult | BaseException:
        job = flight.job
        plan = self.context.plan(job.run_id)
        try:
            qualifier = self.context.qualifier_for(plan)
        except InputError as exc:
            # Perhaps only this machine lacks the module: retry, maybe on another worker.
            return TransientError(str(exc), code="qualifier_unavailable")
        if job.suspect:
            state = self.state
            return run_apart(job, plan, self.context.settings,
                             lambda: flight.abandoned or state.release_now.is_set())  # fmt: skip
        try:
            return qualifiers.check_result(qualifier(job.domain, plan.icp))
        except Exception as exc:
            return exc
        except (SystemExit, KeyboardInterrupt) as exc:
            # Raised by the qualifier itself (signals reach the main thread only): it fails
            # this job and must not end this thread, nor the worker.
            return PermanentError(
                f"the qualifier raised {type(exc).__name__}({_args(exc)})",
                code="qualifier_exited",
            )


def _args(exc: BaseException) -> str:
    try:
        return ", ".join(repr(arg) for arg in exc.args)[:100]
    except Exception:
        return "..."
