"""The worker: takes job ids off the queue, holds leases while qualifiers run, records results.

One process runs four kinds of threads:

* the dispatcher (the caller's thread) runs the store loop: each round records every outcome
  that piled up and claims new jobs, in one transaction (group commit), each outcome fenced by
  its own lease, never running more than ``concurrency`` jobs at once;
* ``concurrency`` executor threads run the qualifier and hand the outcome to the dispatcher;
* the heartbeat renews this worker's leases and its row every lease/3, and abandons a job that
  runs past ``job_timeout`` (its lease then expires and another worker takes it over);
* maintenance, on start and then twice a second, reclaims expired leases, re-queues retries that
  are due and, now and then, re-enqueues queued jobs whose message was lost.

SIGINT or SIGTERM: stop taking jobs, give in-flight jobs ``grace`` seconds to finish, then hand
the rest back to the queue (no one waits for a lease to expire) and return. A second signal
hands them back at once.
"""

from __future__ import annotations

import logging
import os
import queue as stdlib_queue
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from qualify import __version__, qualifiers
from qualify.api import Qualify
from qualify.errors import InputError, TransientError
from qualify.outcomes import decide, describe, summary
from qualify.qualifiers import Qualifier, QualifierResult
from qualify.store import ClaimedJob, RunPlan
from qualify.store.jobs import Outcome

log = logging.getLogger("qualify.worker")


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

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InputError("--concurrency: must be at least 1")
        if self.lease < 0.3:
            raise InputError("--lease: must be at least 300ms")

    @property
    def heartbeat_interval(self) -> float:
        return self.lease / 3

    @property
    def maintenance_interval(self) -> float:
        return min(0.5, self.lease / 3)

    @property
    def lost_message_grace(self) -> float:
        # A queued job untouched for two leases while the queue lacks its message is lost.
        return 2 * self.lease


@dataclass
class WorkerStats:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0
    released: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    @property
    def processed(self) -> int:
        return self.done + self.failed


@dataclass
class _InFlight:
    job: ClaimedJob
    started: float
    abandoned: bool = False  # ran past the job timeout; its lease is left to expire
    executing: bool = True  # False once its outcome waits for the recorder


class Worker:
    def __init__(
        self,
        app: Qualify,
        options: WorkerOptions | None = None,
        *,
        stop_when: Callable[[], bool] | None = None,
    ) -> None:
        self.app = app
        self.options = options or WorkerOptions()
        self.stop_when = stop_when
        self.hostname = (
            self.options.hostname or os.environ.get("QUALIFY_HOSTNAME") or (socket.gethostname())
        )
        self.id = f"{self.hostname}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stats = WorkerStats()
        self.interrupted = False
        self._cond = threading.Condition()
        self._in_flight: dict[int, _InFlight] = {}
        self._work: stdlib_queue.SimpleQueue[_InFlight | None] = stdlib_queue.SimpleQueue()
        self._executors: list[threading.Thread] = []
        self._stopping = threading.Event()  # no new jobs
        self._release_now = threading.Event()  # hand in-flight jobs back without waiting
        self._halt = threading.Event()  # background threads end
        self._plans: dict[int, RunPlan] = {}
        self._qualifiers: dict[str, Qualifier] = {}
        self._plans_lock = threading.Lock()
        self._reconcile_soon = threading.Event()
        self._solo: _InFlight | None = None  # a suspect job running alone
        self._outcomes: list[tuple[Outcome, _InFlight]] = []  # finished, not yet recorded

    # -- lifecycle ------------------------------------------------------------------------

    def run(self) -> WorkerStats:
        """Work until stopped (signal, ``stop()``, ``stop_when``, or idle in burst mode)."""
        opts = self.options
        restore = self._install_signal_handlers() if opts.handle_signals else None
        self.app.workers.register(
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
            self.app.database.display_url,
            self.app.queue.description,
            opts.concurrency,
            opts.lease,
            "; exits when no work is left (--burst)" if opts.burst else "; Ctrl-C stops",
        )
        background = [
            threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True),
            threading.Thread(target=self._maintenance_loop, name="maintenance", daemon=True),
        ]
        try:
            self._maintain(reconcile=True)  # reclaim what dead workers left, before anything
            for _ in range(opts.concurrency):
                self._start_executor()
            for thread in background:
                thread.start()
            self._dispatch()
            self._drain()
        finally:
            self._halt.set()
            for _ in self._executors:
                self._work.put(None)
            for thread in background:
                thread.join(timeout=5)
            self._close_qualifiers()
            self._safely(
                "record the worker's stop",
                lambda: self.app.workers.stopped(
                    self.id, processed=self.stats.processed, failed=self.stats.failed
                ),
            )
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
        return self.stats

    def stop(self, *, release_now: bool = False) -> None:
        """Stop taking jobs; in-flight ones finish within ``grace`` or are handed back."""
        self._stopping.set()
        if release_now:
            self._release_now.set()
        with self._cond:
            self._cond.notify_all()

    def _install_signal_handlers(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None

        def handle(signum: int, frame: FrameType | None) -> None:
            self.interrupted = True
            if self._stopping.is_set():
                log.warning("second signal: handing in-flight jobs back now")
                self.stop(release_now=True)
                return
            log.warning(
                "%s: no new jobs; %d in flight get %.0fs to finish, then go back to the queue"
                " (signal again to hand them back now)",
                signal.Signals(signum).name,
                len(self._in_flight),
                self.options.grace,
            )
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    # -- dispatching ----------------------------------------------------------------------

    def _dispatch(self) -> None:
        """The store loop: each round records what finished and claims what fits, in one
        transaction; it sleeps only when there is neither."""
        opts = self.options
        idle = 0.01
        next_stop_check = 0.0
        while not self._stopping.is_set():
            if self.stop_when is not None and time.monotonic() >= next_stop_check:
                next_stop_check = time.monotonic() + 0.5
                if self.stop_when():
                    break
            outcomes, free = self._wait_for_work()
            try:
                cycle = self.app.jobs.cycle(
                    [outcome for outcome, _ in outcomes], free, self.id, opts.lease
                )
            except Exception:
                log.exception("a round with the store failed; recording one job at a time")
                self._record_one_by_one(outcomes)
                self._stopping.wait(opts.poll_interval)
                continue
            self._recorded(outcomes, cycle.recorded)
            self._start(cycle.claimed)
            if cycle.taken or outcomes:
                idle = 0.01
                continue
            if free and self._idle_and_done():
                break
            with self._cond:
                if not self._outcomes:
                    self._cond.wait(idle)
            idle = min(idle * 2, opts.poll_interval)

    def _record_one_by_one(self, outcomes: list[tuple[Outcome, _InFlight]]) -> None:
        """After a failed round: one outcome the store refuses must not take the others
        down with it. A result the store refuses fails its job with the reason; what still
        cannot be recorded (the store is down) is dropped: its lease expires, it runs again."""
        for outcome, flight in outcomes:
            try:
                recorded: set[int] | None = self.app.jobs.record([outcome])
            except Exception as exc:
                recorded = None
                if outcome.result is not None:
                    _, reason = describe(exc)
                    outcome = Outcome.failed(
                        flight.job, "unrecordable_result", f"the store refused the result: {reason}"
                    )
                    recorded = self._safely(
                        f"record job {flight.job.id} ({flight.job.domain})",
                        lambda outcome=outcome: self.app.jobs.record([outcome]),
                    )
            self._recorded([(outcome, flight)], recorded)

    def _wait_for_work(self) -> tuple[list[tuple[Outcome, _InFlight]], int]:
        """Outcomes to record and free slots to fill; waits while there are neither."""
        with self._cond:
            while not self._outcomes and not self._free() and not self._stopping.is_set():
                self._cond.wait(0.5)
            outcomes, self._outcomes = self._outcomes, []
            return outcomes, 0 if self._stopping.is_set() else self._free()

    def _free(self) -> int:
        if self._solo is not None:
            if self._solo_running():
                return 0
            self._solo = None
        return max(0, self.options.concurrency - len(self._active()))

    def _start(self, claimed: list[ClaimedJob]) -> None:
        if not claimed:
            return
        now = time.monotonic()
        flights = [_InFlight(job, now) for job in claimed]
        suspect = next((f for f in flights if f.job.suspect), None)
        if suspect is not None:
            flights = self._isolate(suspect, flights)
        with self._cond:
            for flight in flights:
                self._in_flight[flight.job.id] = flight
        for flight in flights:
            self._work.put(flight)
        self.stats.add(claimed=len(flights))

    def _isolate(self, suspect: _InFlight, flights: list[_InFlight]) -> list[_InFlight]:
        """A job whose last worker died may be a poison pill. Run it with nothing else in
        flight, so that if it kills this worker too, no innocent job is charged an attempt."""
        others = [f.job for f in flights if f is not suspect]
        if others:
            self.stats.add(released=self.app.jobs.release(others))
        with self._cond:
            self._in_flight[suspect.job.id] = suspect  # renewed by the heartbeat meanwhile
            self._solo = suspect
            while len(self._active()) > 1 and not self._stopping.is_set():
                self._cond.wait(0.2)
            if self._stopping.is_set():
                del self._in_flight[suspect.job.id]
        if self._stopping.is_set():
            self.stats.add(released=self.app.jobs.release([suspect.job]))
            return []
        log.info(
            "job %d (%s): its last worker died while running it; running it alone",
            suspect.job.id,
            suspect.job.domain,
        )
        return [suspect]

    def _solo_running(self) -> bool:
        solo = self._solo
        return solo is not None and not solo.abandoned and self._in_flight.get(solo.job.id) is solo

    def _active(self) -> list[_InFlight]:
        """Jobs whose qualifier is running (not those waiting to be recorded)."""
        return [f for f in self._in_flight.values() if f.executing and not f.abandoned]

    def _idle_and_done(self) -> bool:
        """Nothing came off the queue: decide whether a burst worker is finished."""
        jobs = self.app.jobs
        if jobs.has_orphans():
            self._reconcile_soon.set()
        if not self.options.burst or any(not f.abandoned for f in self._in_flight.values()):
            return False
        return not jobs.has_unfinished()

    def _drain(self) -> None:
        """After the dispatcher stops: let running jobs finish within the grace, record what
        finished, and hand back the rest at once."""
        deadline = time.monotonic() + self.options.grace
        with self._cond:
            while self._active() and not self._release_now.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.2))
            leftovers = [f.job for f in self._active()]
            # Jobs still running will find their lease gone; none not yet started may start.
            self._release_now.set()
            outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            recorded = self._safely(
                "record finished jobs",
                lambda: self.app.jobs.record([outcome for outcome, _ in outcomes]),
            )
            self._recorded(outcomes, recorded)
        if leftovers:
            released = self._safely("hand jobs back", lambda: self.app.jobs.release(leftovers))
            self.stats.add(released=released or 0)
            log.warning("handed %d in-flight jobs back to the queue", released or 0)

    # -- executing ------------------------------------------------------------------------

    def _start_executor(self) -> None:
        thread = threading.Thread(
            target=self._executor_loop, name=f"executor-{len(self._executors) + 1}", daemon=True
        )
        self._executors.append(thread)
        thread.start()

    def _executor_loop(self) -> None:
        try:
            while (flight := self._work.get()) is not None:
                self._execute(flight)
                if flight.abandoned:
                    return  # a replacement thread has taken this one's place
        finally:
            self.app.database.close()

    def _execute(self, flight: _InFlight) -> None:
        job = flight.job
        outcome = None
        try:
            if not self._release_now.is_set():  # else handed back before it started
                outcome = decide(job, self._plan(job.run_id), self._qualify(job))
        except Exception:
            log.exception("job %d (%s): the worker failed around the qualifier", job.id,
                          job.domain)  # fmt: skip
        with self._cond:
            flight.executing = False
            if outcome is None or self._release_now.is_set():
                self._forget(flight)
            else:
                self._outcomes.append((outcome, flight))
            self._cond.notify_all()

    def _qualify(self, job: ClaimedJob) -> QualifierResult | BaseException:
        plan = self._plan(job.run_id)
        try:
            qualifier = self._qualifier(plan.qualifier)
        except InputError as exc:
            # Perhaps only this machine lacks the module: retry, maybe on another worker.
            return TransientError(str(exc), code="qualifier_unavailable")
        try:
            return qualifiers.check_result(qualifier(job.domain, plan.icp))
        except Exception as exc:
            return exc

    def _recorded(
        self, batch: Sequence[tuple[Outcome, _InFlight]], recorded: set[int] | None
    ) -> None:
        """After each round: count and log what was recorded, and free those jobs. With
        ``recorded`` None the store could not be reached: the leases will expire and the
        jobs run again elsewhere."""
        if not batch:
            return
        now = time.monotonic()
        counts = {"done": 0, "failed": 0, "retried": 0, "lost": 0}
        for outcome, flight in batch:
            job = flight.job
            if recorded is None:
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
            counts[{"done": "done", "failed": "failed", "retry": "retried"}[outcome.kind]] += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("job %d %s (%.2fs): %s", job.id, job.domain, now - flight.started,
                          summary(outcome))  # fmt: skip
        self.stats.add(**counts)
        with self._cond:
            for _, flight in batch:
                self._forget(flight)
            self._cond.notify_all()

    def _forget(self, flight: _InFlight) -> None:
        # The job may have been claimed again since it was abandoned: keep that entry.
        if self._in_flight.get(flight.job.id) is flight:
            del self._in_flight[flight.job.id]

    def _plan(self, run_id: int) -> RunPlan:
        plan = self._plans.get(run_id)
        if plan is None:
            with self._plans_lock:
                plan = self._plans.get(run_id) or self.app.runs.plan(run_id)
                self._plans[run_id] = plan
        return plan

    def _qualifier(self, name: str) -> Qualifier:
        qualifier = self._qualifiers.get(name)
        if qualifier is None:
            with self._plans_lock:
                qualifier = self._qualifiers.get(name) or qualifiers.load(name, self.app.settings)
                self._qualifiers[name] = qualifier
        return qualifier

    def _close_qualifiers(self) -> None:
        # A job abandoned past its timeout may still be running inside one; its outcome is
        # discarded anyway, whatever closing does to its requests.
        with self._plans_lock:
            built, self._qualifiers = list(self._qualifiers.values()), {}
        for qualifier in built:
            self._safely("close a qualifier", lambda q=qualifier: qualifiers.close(q))

    # -- heartbeat ------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        summary = _Summary(self.stats, time.monotonic())
        try:
            while not self._halt.wait(self.options.heartbeat_interval):
                self._safely("renew leases", self._heartbeat)
                now = time.monotonic()
                if now - summary.since >= self.options.summary_interval:
                    line = summary.line(now, len(self._active()))
                    if line:
                        log.info("%s", line)
        finally:
            self.app.database.close()

    def _heartbeat(self) -> None:
        now = time.monotonic()
        with self._cond:
            flights = list(self._in_flight.values())
        renew = []
        for flight in flights:
            if flight.abandoned:
                continue
            if flight.executing and now - flight.started > self.options.job_timeout:
                # Stop renewing: the lease expires and another worker runs the job again.
                flight.abandoned = True
                log.error(
                    "job %d (%s) has run for %.0fs, past the job timeout; abandoning it",
                    flight.job.id,
                    flight.job.domain,
                    now - flight.started,
                )
                self._start_executor()
                continue
            renew.append(flight.job.id)
        held = self.app.jobs.renew(self.id, renew, self.options.lease)
        for job_id in set(renew) - held:
            log.warning("job %d: lease lost before it finished", job_id)
        self.app.workers.heartbeat(
            self.id,
            in_flight=len(renew),
            processed=self.stats.processed,
            failed=self.stats.failed,
        )
        with self._cond:
            self._cond.notify_all()

    # -- maintenance ----------------------------------------------------------------------

    def _maintenance_loop(self) -> None:
        next_reconcile = time.monotonic() + self.options.lost_message_grace
        try:
            while not self._halt.wait(self.options.maintenance_interval):
                reconcile = self._reconcile_soon.is_set() or time.monotonic() >= next_reconcile
                if reconcile:
                    self._reconcile_soon.clear()
                    next_reconcile = time.monotonic() + self.options.lost_message_grace
                self._safely("maintain the queue", lambda r=reconcile: self._maintain(r))
        finally:
            self.app.database.close()

    def _maintain(self, reconcile: bool = False) -> None:
        jobs = self.app.jobs
        queued = 0
        if jobs.has_expired_leases():
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
            lost = jobs.requeue_lost(self.options.lost_message_grace)
            queued += lost
            if lost:
                log.warning("re-enqueued %d queued jobs whose queue message was lost", lost)
        if queued:
            with self._cond:  # an idle dispatcher need not wait out its poll interval
                self._cond.notify_all()

    def _safely(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception:
            log.exception("could not %s", what)
            return None


class _Summary:
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
