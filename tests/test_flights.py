"""How many jobs a worker claims ahead of its free threads (Flights.prefetch): bounded by
time, so short jobs are claimed hundreds a round and long ones hardly ahead at all."""

from __future__ import annotations

import pytest

from qualify.worker.flights import PREFETCH_MAX, PREFETCH_WINDOW, Flights


def flights_after(seconds: float) -> Flights:
    flights = Flights()
    flights.observe(seconds)
    return flights


def test_nothing_is_claimed_ahead_before_a_job_has_run() -> None:
    assert Flights().prefetch(4) == 0
    assert Flights().free(4) == 4


@pytest.mark.parametrize(
    ("concurrency", "job_seconds", "ahead"),
    [
        (32, 0.05, 32),  # 32 threads each finish one job in the window
        (32, 2.0, 0),  # web pages: nothing held idle for a lease's worth
        (4, 0.01, 20),
        (4, 0.0001, PREFETCH_MAX),  # no-op jobs: many more than the 4 threads, capped
    ],
)
def test_jobs_are_claimed_ahead_as_many_as_finish_within_the_window(
    concurrency: int, job_seconds: float, ahead: int
) -> None:
    flights = flights_after(job_seconds)
    assert flights.prefetch(concurrency) == ahead
    # What is held waiting for a thread finishes within the window (the lease is not idle).
    assert flights.prefetch(concurrency) * job_seconds / concurrency <= PREFETCH_WINDOW + 1e-9
    assert flights.free(concurrency) == concurrency + ahead


def test_the_bound_is_time_not_concurrency() -> None:
    # Short jobs on few threads: a round claims far more than the threads, so it commits
    # once for many jobs (the reason SQLite's default worker outruns a bare huey consumer).
    assert flights_after(0.0005).prefetch(4) == PREFETCH_MAX > 4
