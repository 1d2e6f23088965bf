"""Suspect isolation: a job whose last worker died while running it may be a poison pill.
It runs with nothing else in flight, so that if it kills this worker too, no innocent job is
charged an attempt."""

from __future__ import annotations

import logging

from qualify.worker.flights import Flight
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


def isolate(state: WorkerState, flights: list[Flight]) -> list[Flight]:
    """Of freshly claimed ``flights``, the ones to start now: all of them when none is a
    suspect; else the first suspect alone, once the jobs already running have finished (the
    others go back to the queue)."""
    suspect = next((f for f in flights if f.job.suspect), None)
    if suspect is None:
        return flights
    jobs = state.store.jobs
    others = [f.job for f in flights if f is not suspect]
    if others:
        state.stats.add(released=jobs.release(others))
    held = state.flights
    with held.cond:
        held.held[suspect.job.id] = suspect  # renewed by the heartbeat meanwhile
        held.solo = suspect
        while len(held.active()) > 1 and not state.stopping.is_set():
            held.cond.wait(0.2)
        if state.stopping.is_set():
            del held.held[suspect.job.id]
    if state.stopping.is_set():
        state.stats.add(released=jobs.release([suspect.job]))
        return []
    log.info(
        "job %d (%s): its last worker died while running it; running it alone",
        suspect.job.id,
        suspect.job.domain,
    )
    return [suspect]
