"""The outage breaker: a failure of our own side is never recorded as a fact about a company.

A qualifier says a failure may be ours by raising :class:`qualify.errors.OurSideError`
(the web qualifier does for a name that did not resolve, a connection that was not made, a
TLS handshake that failed). Such an outcome is *held*, not recorded, while the breaker
decides whose failure it was; the job keeps its lease meanwhile:

* a job that started after it and went well (our side works) lets it be recorded as what
  it is (an NXDOMAIN among healthy lookups is a result); so does the qualifier's probe
  when no such job comes within ``outage_hold``;
* ``outage_threshold`` of the last ``outage_window`` distinct subjects failing so (or one
  ``certain`` failure, such as a 401 from our own endpoint) trips the breaker: the worker
  stops claiming and asks the qualifier's ``probe``. If the probe finds our side fine, the
  held failures were the sites' own and are recorded. Otherwise the worker **pauses**: the
  held jobs, and every job that fails while it is paused, go back to the queue without an
  attempt charged; the pause and its reason go on the worker's row (``status`` shows
  ``PAUSED: network (19 of the last 20 lookups failed)``; ``status --check`` exits 3).
* While paused it probes with backoff (``probe_min`` doubling to ``probe_max``): the
  qualifier's probe, or where that cannot tell, one job at a time. The first probe that
  answers resumes the worker.

It logs one line when it pauses and one when it resumes. Nothing here knows about the
web: any qualifier that raises OurSideError (and may offer a ``probe``) gets the same pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from qualify.errors import InputError, OurSideError
from qualify.qualifiers import QualifierResult
from qualify.timefmt import span
from qualify.worker.context import RunContext
from qualify.worker.flights import Flight
from qualify.worker.policy import decide
from qualify.worker.side import SideTask
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


class Mode(Enum):
    CLOSED = "closed"  # working; suspect failures are held until judged
    TRIPPED = "tripped"  # not claiming; the first probe decides
    PAUSED = "paused"  # not claiming; probing with backoff
    TRYING = "trying"  # paused, one job at a time as the probe


@dataclass(eq=False)
class _Held:
    flight: Flight
    produced: QualifierResult | BaseException
    at: float


class OutageBreaker(SideTask):
    doing = "watch for outages"
    keeps_connection = False  # it seldom writes (a pause, a hand-back)

    def __init__(self, state: WorkerState, context: RunContext) -> None:
        super().__init__(state, 0.1, "outage")
        options = state.options
        self.context = context
        self.enabled = options.outage_threshold > 0
        self._lock = threading.Lock()
        #: The last ``outage_window`` distinct subjects: the kind of their failure, or None.
        self._window: OrderedDict[str, str | None] = OrderedDict()
        self._held: list[_Held] = []
        self._hand_back: list[Flight] = []
        self.mode = Mode.CLOSED
        self.reason: str | None = None
        self._evidence: OurSideError | None = None
        self._jobs_probe = False  # the qualifier cannot tell: a job is the probe
        self._paused_since = 0.0
        self._next_probe = 0.0
        self._probe_every = options.probe_min
        self._trying_since = 0.0
        self._probes = 0
        self._row_stale = False  # the worker's row does not show the current pause yet
        self._resumed_row = False
        self._evidence_run: int | None = None  # whose qualifier to ask for a probe

    # -- called by the executors and the dispatcher ---------------------------------------

    def hold(self, flight: Flight, produced: QualifierResult | BaseException) -> bool:
        """What a job produced, before it is recorded. True: the breaker keeps it (to be
        recorded or handed back later); False: record it as usual."""
        if not self.enabled:
            return False
        now = time.monotonic()
        suspect = isinstance(produced, OurSideError)
        with self._lock:
            if self.mode is Mode.TRYING and flight.started >= self._trying_since:
                if suspect:
                    self._park(flight)
                    self._probe_failed(now)
                    return True
                self._resume(now)
                return False
            if self.mode is not Mode.CLOSED:
                if isinstance(produced, QualifierResult):
                    return False  # a result is a result, outage or not
                if self.mode is Mode.TRIPPED:
                    self._keep(flight, produced, now)
                else:
                    self._park(flight)
                return True
            if not suspect:
                self._see(flight.job.domain, None)
                self._settle(lambda held: held.at < flight.started)
                return False
            assert isinstance(produced, OurSideError)
            self._see(produced.subject or flight.job.domain, produced.kind)
            self._keep(flight, produced, now)
            failures = self._failures()
            if produced.certain or failures >= self.state.options.outage_threshold:
                self._trip(produced, now)
            return True

    def admit(self, free: int) -> int:
        """How many of ``free`` slots the dispatcher may fill now."""
        mode = self.mode
        if mode is Mode.CLOSED or not self.enabled:
            return free
        if mode is not Mode.TRYING:
            return 0
        since = self._trying_since
        flights = self.state.flights
        with flights.cond:
            trying = sum(1 for f in flights.held.values() if f.started >= since and f.executing)
        return min(free, max(0, 1 - trying))

    @property
    def paused(self) -> bool:
        return self.mode in (Mode.PAUSED, Mode.TRYING)

    def hand_back_all(self) -> None:
        """The worker stops: whatever is held goes back to the queue, uncharged."""
        with self._lock:
            self._hand_back.extend(h.flight for h in self._held)
            self._held.clear()
        self._flush_hand_backs()
        if self.paused:
            try:
                self.state.store.workers.resumed(self.state.worker_id)
            except Exception:
                log.exception("could not clear the worker's pause")

    # -- the breaker's own thread -----------------------------------------------------------

    def tick(self) -> None:
        self._flush_hand_backs()
        now = time.monotonic()
        mode = self.mode
        if mode is Mode.CLOSED:
            self._judge_held(now)
        elif mode is Mode.TRIPPED:
            self._first_probe(now)
        elif mode is Mode.PAUSED and now >= self._next_probe:
            self._probe(now)
        self._update_row(now)

    def _judge_held(self, now: float) -> None:
        """Held failures no healthy job has vouched for within ``outage_hold``: ask the probe."""
        with self._lock:
            hold = self.state.options.outage_hold
            if not self._held or now - self._held[0].at < hold or self.mode is not Mode.CLOSED:
                return
            evidence = self._held[0].produced
            run_id = self._held[0].flight.job.run_id
        answer = self._ask(evidence, run_id) if isinstance(evidence, OurSideError) else None
        with self._lock:
            if self.mode is not Mode.CLOSED:
                return
            if answer is False:
                assert isinstance(evidence, OurSideError)
                self._trip(evidence, now, probe_failed=True)
                self._pause(now, jobs_probe=False)
            else:
                self._settle(lambda held: held.at <= now - hold)
        self._flush_hand_backs()

    def _first_probe(self, now: float) -> None:
        evidence = self._evidence
        answer = self._ask(evidence, self._evidence_run)
        with self._lock:
            if self.mode is not Mode.TRIPPED:
                return
            if answer:
                failures, seen = self._failures(), len(self._window)
                log.info(
                    "%d of the last %d %s failed, but a probe finds the %s fine: they are"
                    " the sites' own failures",
                    failures, seen, _noun(self._failed_kinds()), _scope(evidence),
                )  # fmt: skip
                self._settle(lambda held: True)
                self._window.clear()
                self.mode = Mode.CLOSED
                self.reason = None
            else:
                self._pause(now, jobs_probe=answer is None)
        self._flush_hand_backs()

    def _probe(self, now: float) -> None:
        if self._jobs_probe:
            with self._lock:
                if self.mode is Mode.PAUSED:
                    self.mode = Mode.TRYING
                    self._trying_since = time.monotonic()
                    self._probes += 1
            self.state.flights.notify()
            return
        answer = self._ask(self._evidence, self._evidence_run)
        with self._lock:
            if self.mode is not Mode.PAUSED:
                return
            self._probes += 1
            if answer:
                self._resume(now)
            elif answer is None:
                self._jobs_probe = True
                self._next_probe = now
            else:
                self._probe_failed(now)

    def _ask(self, evidence: OurSideError | None, run_id: int | None) -> bool | None:
        """The probe of the qualifier that raised ``evidence`` (for a job of ``run_id``):
        True, False, or None (it cannot tell; a probe that raises counts as False)."""
        if evidence is None or run_id is None:
            return None
        try:
            qualifier = self.context.qualifier(self.context.plan(run_id).qualifier)
        except InputError:
            return None
        probe = getattr(qualifier, "probe", None)
        if not callable(probe):
            return None
        try:
            answer = probe(evidence)
        except Exception:
            log.debug("the qualifier's probe failed", exc_info=True)
            return False
        return None if answer is None else bool(answer)

    # -- state changes, with the lock held --------------------------------------------------

    def _see(self, subject: str, failed: str | None) -> None:
        window = self._window
        window[subject] = failed
        window.move_to_end(subject)
        while len(window) > self.state.options.outage_window:
            window.popitem(last=False)

    def _failures(self) -> int:
        return sum(1 for kind in self._window.values() if kind is not None)

    def _failed_kinds(self) -> set[str]:
        return {kind for kind in self._window.values() if kind is not None}

    def _keep(self, flight: Flight, produced: QualifierResult | BaseException, now: float) -> None:
        self._held.append(_Held(flight, produced, now))
        self._set_waiting(flight)

    def _park(self, flight: Flight) -> None:
        """Hand ``flight`` back (from the breaker's thread: executors do not write)."""
        self._hand_back.append(flight)
        self._set_waiting(flight)

    def _set_waiting(self, flight: Flight) -> None:
        with self.state.flights.cond:
            flight.executing = False
            self.state.flights.cond.notify_all()

    def _trip(self, evidence: OurSideError, now: float, *, probe_failed: bool = False) -> None:
        self.mode = Mode.TRIPPED
        self._evidence = evidence
        held = next((h for h in self._held if h.produced is evidence), None)
        self._evidence_run = held.flight.job.run_id if held else self._evidence_run
        if evidence.certain:
            self.reason = f"{evidence.scope}: {evidence}"
            return
        failures, seen = self._failures(), len(self._window)
        noun = _noun(self._failed_kinds())
        also = ", and so did a probe" if probe_failed else ""
        self.reason = f"{evidence.scope} ({failures} of the last {seen} {noun} failed{also})"

    def _pause(self, now: float, *, jobs_probe: bool) -> None:
        options = self.state.options
        self.mode = Mode.PAUSED
        self._jobs_probe = jobs_probe
        self._paused_since = now
        self._probes = 0
        self._probe_every = options.probe_min
        self._next_probe = now + self._probe_every
        handed = [h.flight for h in self._held]
        self._held.clear()
        self._hand_back.extend(handed)
        self._row_stale = True
        how = "with one job at a time, " if jobs_probe else ""
        log.warning(
            "paused: %s. %d jobs go back to the queue, no attempt charged; no new jobs until"
            " the %s answers again (probing %sfirst in %s, then up to every %s)",
            self.reason, len(handed), _scope(self._evidence), how, _seconds(self._probe_every),
            _seconds(options.probe_max),
        )  # fmt: skip

    def _probe_failed(self, now: float) -> None:
        self.mode = Mode.PAUSED
        self._probe_every = min(self._probe_every * 2, self.state.options.probe_max)
        self._next_probe = now + self._probe_every
        self._row_stale = True
        log.debug("still paused: the probe failed; next one in %s", _seconds(self._probe_every))

    def _resume(self, now: float) -> None:
        log.warning(
            "resumed: the %s answers again after %s paused (%d probe%s); taking jobs again",
            _scope(self._evidence), span(now - self._paused_since), self._probes,
            "" if self._probes == 1 else "s",
        )  # fmt: skip
        self.mode = Mode.CLOSED
        self.reason = None
        self._window.clear()
        self._evidence = None
        self._resumed_row = True
        self._row_stale = False

    def _settle(self, which: Callable[[_Held], bool]) -> None:
        """Record the held outcomes ``which`` selects as what they are: the sites' own."""
        keep: list[_Held] = []
        settle: list[_Held] = []
        for held in self._held:
            (settle if which(held) else keep).append(held)
        if not settle:
            return
        self._held = keep
        outcomes = []
        for held in settle:
            job = held.flight.job
            plan = self.context.plan(job.run_id)
            outcomes.append((decide(job, plan, held.produced), held.flight))
        flights = self.state.flights
        with flights.cond:
            flights.outcomes.extend(outcomes)
            flights.cond.notify_all()

    # -- store writes, from this thread only ------------------------------------------------

    def _flush_hand_backs(self) -> None:
        with self._lock:
            flights, self._hand_back = self._hand_back, []
        if not flights:
            return
        state = self.state
        try:
            released = state.store.jobs.release([f.job for f in flights])
        except Exception:
            log.exception("could not hand %d jobs back; their leases will expire", len(flights))
            released = 0
        state.stats.add(released=released)
        with state.flights.cond:
            for flight in flights:
                state.flights.forget(flight)
            state.flights.cond.notify_all()

    def _update_row(self, now: float) -> None:
        with self._lock:
            stale, resumed = self._row_stale, self._resumed_row
            self._row_stale = self._resumed_row = False
            reason, next_in = self.reason, max(self._next_probe - now, 0.0)
        workers = self.state.store.workers
        if resumed:
            workers.resumed(self.state.worker_id)
        if stale and reason is not None:
            workers.paused(self.state.worker_id, reason=reason, next_probe_in=next_in)


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 10 else span(seconds)


def _noun(kinds: set[str]) -> str:
    return f"{next(iter(kinds))}s" if len(kinds) == 1 else "attempts"


def _scope(evidence: OurSideError | None) -> str:
    return evidence.scope if evidence is not None else "network"
