"""Scale-out on PostgreSQL: workers do not serialise on a run's row, heartbeats and rounds
never deadlock, and a worker's connections are bounded whatever its concurrency."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import psycopg2
import pytest

from qualify.api import Qualify
from qualify.store import sql
from tests.support import Stack, WorkerProcess, assert_consistent, create_run, raw

pytestmark = pytest.mark.parametrize("stack", ["postgres", "postgres+redis"], indirect=True)

#: A statement that locks run rows (the run's own row, not its counter shards).
_LOCKS_A_RUN_ROW = re.compile(r"\bUPDATE\s+runs\b|\bFROM\s+runs\b.*\bFOR\s+UPDATE\b", re.I | re.S)
_EXECUTE = re.compile(r"\s*EXECUTE\s+qualify_(\w+)", re.I)


def statement_text(query: str) -> str:
    """What a backend runs: for a prepared statement's EXECUTE, that statement's text."""
    prepared = _EXECUTE.match(query)
    return sql.queries("postgres")[prepared.group(1)] if prepared else query


def _finished(app: Qualify, run_id: int) -> int:
    run = app.runs.get(run_id)
    return run.completed + run.failed


def test_workers_never_wait_on_a_run_row_lock(
    app: Qualify,
    workers: Callable[..., WorkerProcess],
    server: psycopg2.extensions.cursor,
) -> None:
    total = 6000
    run_id = create_run(
        app, [f"c{i}.com" for i in range(total)], qualifier="tests.sample_qualifiers:noop"
    )
    fleet = [workers("--burst", "--concurrency", "16", "--lease", "10s") for _ in range(3)]
    waits: list[str] = []
    samples = busy = 0
    # Sample every backend of the workers that waits for a lock, while the run is far from
    # done (its very end legitimately locks the row once, to complete it).
    deadline = time.monotonic() + 120
    while _finished(app, run_id) < total * 0.9 and time.monotonic() < deadline:
        server.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'qualify:%%' AND wait_event_type = 'Lock'"
        )
        samples += 1
        found = [statement_text(query) for (query,) in server.fetchall()]
        busy += bool(found)
        waits.extend(query for query in found if _LOCKS_A_RUN_ROW.search(query))
    for worker in fleet:
        assert worker.wait(120) == 0, worker.output
    assert samples >= 20, "the run finished before it could be watched"
    assert waits == [], f"{len(waits)} of {samples} samples waited on a run row: {waits[:3]}"
    run = app.runs.get(run_id)
    assert (run.status, run.completed) == ("COMPLETED", total)
    assert_consistent(app, run_id)


def test_a_claim_never_waits_for_a_pending_run_another_worker_is_marking(
    app: Qualify, stack: Stack
) -> None:
    # The first rounds of several workers on a new run all find it PENDING: one marks it,
    # the others must not queue on its row meanwhile (seen once in 849 samples above).
    run_id = create_run(app, ["a.com", "b.com"])
    app.database.bound_transactions(1.0)  # a wait would fail within half a second
    other = psycopg2.connect(stack.db, application_name="qualify-test-marker")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run_id,))
            _, claimed = app.jobs.claim_next(1, "w1", 30)
            assert len(claimed) == 1
            assert app.runs.get(run_id).status == "PENDING"  # the other is marking it
        other.rollback()  # ...and gave up: this worker marks it on its next round
        _, claimed = app.jobs.claim_next(1, "w1", 30)
        assert len(claimed) == 1
        assert app.runs.get(run_id).status == "PROCESSING"
    finally:
        other.close()


def test_heartbeats_and_rounds_under_load_never_deadlock_nor_lose_a_lease(
    app: Qualify, workers: Callable[..., WorkerProcess]
) -> None:
    total = 4000
    run_id = create_run(
        app, [f"c{i}.com" for i in range(total)], qualifier="tests.sample_qualifiers:env_sleep"
    )
    # Short jobs and a short lease: a heartbeat every 0.33 s renews while rounds record.
    env = {"QUALIFY_TEST_SLEEP": "0.002"}
    args = ("--burst", "--concurrency", "16", "--lease", "1s")
    fleet = [workers(*args, env=env) for _ in range(3)]
    for worker in fleet:
        assert worker.wait(180) == 0, worker.output
    for worker in fleet:
        assert "deadlock" not in worker.output, worker.output
        assert "lease lost" not in worker.output, worker.output
        assert "could not renew" not in worker.output, worker.output
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", total, 0)
    assert_consistent(app, run_id)


def test_a_worker_at_concurrency_128_holds_at_most_4_connections(
    app: Qualify,
    workers: Callable[..., WorkerProcess],
    server: psycopg2.extensions.cursor,
) -> None:
    total = 3000
    run_id = create_run(
        app, [f"c{i}.com" for i in range(total)], qualifier="tests.sample_qualifiers:PageKeeper"
    )
    # Each job reads and keeps a page from its executor thread, as the web qualifier does.
    worker = workers("--burst", "--concurrency", "128", env={"QUALIFY_TEST_SLEEP": "0.05"})
    most = 0
    seen_running = False
    deadline = time.monotonic() + 120
    while worker.proc.poll() is None and time.monotonic() < deadline:
        server.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s",
            (f"qualify:{worker.pid}",),
        )
        (count,) = server.fetchone()
        most = max(most, count)
        if not seen_running:
            server.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'")
            seen_running = server.fetchone()[0] >= 100
        time.sleep(0.005)
    assert worker.wait(60) == 0, worker.output
    assert seen_running, "the worker never ran 100 jobs at once"
    assert 3 <= most <= 4, f"the worker held {most} connections"
    run = app.runs.get(run_id)
    assert (run.status, run.completed) == ("COMPLETED", total)
    assert app.pages.stats().pages == total
    assert_consistent(app, run_id)


def test_jobs_inserted_with_copy_keep_every_character(app: Qualify) -> None:
    # COPY's text format gives tabs, newlines and backslashes a meaning: they are escaped.
    run_id = create_run(app, ["acme.com"])
    odd = ["back\\slash.com", "tab\there.com", "new\nline.com", "cr\rx.com", "\\N"]
    with app.database.write():
        app.database.insert_many("insert_jobs", [(run_id, d, "cancelled", 1.5) for d in odd])
    rows = raw(app).fetchall(
        "SELECT domain, state, updated_at FROM jobs WHERE run_id = ? AND state = 'cancelled'"
        " ORDER BY id",
        (run_id,),
    )
    assert rows == [(d, "cancelled", 1.5) for d in odd]


def test_a_copy_of_many_chunks_keeps_every_row_and_escapes_only_where_needed(
    app: Qualify,
) -> None:
    # One COPY streams chunk after chunk; a chunk with one odd value (or a NULL) among plain
    # ones is escaped, the plain chunks go as they are.
    run_id = create_run(app, ["acme.com"])
    rows: list[tuple[int, str, str, float | None]] = [
        (run_id, f"c{i}.com", "cancelled", 2.5) for i in range(12_001)
    ]
    rows[7_000] = (run_id, "tab\there.com", "cancelled", 2.5)
    rows[11_000] = (run_id, "no-time.com", "cancelled", None)
    with app.database.write():
        app.database.insert_many("insert_jobs", rows)
    stored = raw(app).fetchall(
        "SELECT run_id, domain, state, updated_at FROM jobs WHERE run_id = ?"
        " AND state = 'cancelled' ORDER BY id",
        (run_id,),
    )
    assert stored == rows
