"""Suspect isolation: a job whose last worker died while running it may be a poison pill.
It runs in a child process of its own (``apart``), so that if it kills that process too it
alone is charged an attempt; the jobs beside it, suspects or not, run side by side. (Before,
a suspect ran with nothing else in flight, one at a time: 16 jobs reclaimed after a crash
took 16 job durations.)"""

from __future__ import annotations

import logging

from qualify.worker.flights import Flight
from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


def isolate(state: WorkerState, flights: list[Flight]) -> list[Flight]:
    """Of freshly claimed ``flights``, the ones to start now: all of them; the suspects
    among them are said (the executor runs them apart)."""
    suspects = [f.job for f in flights if f.job.suspect]
    for job in suspects[:3]:
        log.info("job %d (%s): its last worker died while running it; running it in a"
                 " process of its own", job.id, job.domain)  # fmt: skip
    if len(suspects) > 3:
        log.info("%d more suspects run in processes of their own", len(suspects) - 3)
    return flights
