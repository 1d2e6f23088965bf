"""Server-side prepared statements on PostgreSQL: the worker's hot statements are prepared
once per connection and run with EXECUTE, with the same outcomes as the plain text; a
connection the server dropped is replaced and prepared again; ``?prepared_statements=off``
prepares nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import peewee
import pytest
from click.testing import CliRunner

from qualify.api import Qualify
from qualify.cli import cli
from qualify.store import sql
from qualify.store.faults import outage_cause
from qualify.store.postgres import PREPARED_STATEMENTS, prepared_form
from qualify.worker import Worker, WorkerOptions
from tests.support import Stack, assert_consistent, create_run, write_inputs

pytestmark = pytest.mark.parametrize("stack", ["postgres"], indirect=True)

#: One domain for each way a job ends: done, unknown, retried then done, failed.
DOMAINS = ["acme.com", "unknown-globex.io", "transient1-initech.com", "permanent-umbrella.com"]
#: What a worker round over DOMAINS runs, at the least (the heartbeat's, too, if it beats).
ROUND = {"pop_and_claim_jobs", "mark_run_started", "finish_jobs_done", "retry_jobs",
         "fail_jobs", "count_finished_jobs", "finish_done_runs"}  # fmt: skip


def work(app: Qualify, within: float = 60.0) -> Worker:
    """A burst worker; stopped after ``within`` seconds, so a store that refuses its every
    round fails the test instead of hanging it (a worker retries store errors)."""
    options = WorkerOptions(burst=True, lease=2.0, handle_signals=False, concurrency=2)
    deadline = time.monotonic() + within
    worker = app.worker(options, stop_when=lambda: time.monotonic() > deadline)
    worker.run()
    return worker


def server_side(conn: Any) -> set[str]:
    """The statements prepared on ``conn``'s server session (read on that connection)."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def pooled_connections(app: Qualify) -> list[Any]:
    """Every open driver connection of the app's pool: idle ones and those in use."""
    db = app.database.db
    idle = [conn for _, _, conn in db._connections]
    busy = [pooled.connection for pooled in db._in_use.values()]
    return [conn for conn in idle + busy if not conn.closed]


def outcomes(app: Qualify, run_id: int) -> list[tuple[Any, ...]]:
    return [
        (r.domain, r.state, r.attempts, r.error_code, r.error, r.verdict, r.score, r.reasons,
         r.evidence, r.extra)
        for r in app.runs.records(run_id)
    ]  # fmt: skip


def test_a_worker_round_prepares_its_statements_with_the_same_outcomes_as_plain_text(
    stack: Stack, app: Qualify
) -> None:
    run_id = create_run(app, DOMAINS)
    work(app)
    prepared: set[str] = set()
    for conn in pooled_connections(app):
        on_server = server_side(conn)
        # What each connection believes it has prepared is what its session has.
        assert conn.prepared == on_server
        prepared |= on_server
    assert {f"qualify_{name}" for name in ROUND} <= prepared
    assert prepared <= {f"qualify_{name}" for name in PREPARED_STATEMENTS}
    assert_consistent(app, run_id)

    assert stack.log is not None
    stack.log.write_text("")  # the transient domain fails once again, as it did the first time
    plain = Qualify.open(f"{stack.db}?prepared_statements=off")
    try:
        plain_run = create_run(plain, DOMAINS)
        work(plain)
        assert all(server_side(conn) == set() for conn in pooled_connections(plain))
        assert outcomes(plain, plain_run) == outcomes(app, run_id)
        assert_consistent(plain, plain_run)
    finally:
        plain.close()
    states = [state for _, state, *_ in outcomes(app, run_id)]
    assert states == ["done", "done", "done", "failed"]


@pytest.mark.parametrize("name", sorted(PREPARED_STATEMENTS))
def test_every_prepared_statement_prepares(name: str, app: Qualify) -> None:
    # PREPARE infers every parameter's type, or fails (and would abort the worker's
    # transaction): a parameter it cannot type needs a cast in postgres.sql.
    statement = prepared_form(name, sql.queries("postgres")[name])
    db = app.database.db
    db.execute_sql("DEALLOCATE ALL")
    db.connection().prepared.clear()
    db.execute_sql(statement.prepare)
    types = db.execute_sql(
        "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = %s",
        (statement.name,),
    ).fetchone()[0]
    assert len(types) == len(statement.params)
    assert "unknown" not in types


def test_a_prepare_outlives_the_transaction_that_rolled_back(app: Qualify) -> None:
    """The server keeps a statement prepared in a transaction that rolls back, so the store
    marks it prepared as soon as PREPARE succeeds: preparing it again would fail."""
    run_id = create_run(app, ["acme.com", "globex.io"])
    ids = [r.job_id for r in app.runs.records(run_id)]
    db = app.database.db
    db.execute_sql("DEALLOCATE ALL")
    db.connection().prepared.clear()

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), app.database.write():
        assert [job.id for job in app.jobs.claim(ids[:1], "w", 30)] == ids[:1]
        raise Abandon
    assert "qualify_claim_jobs" in server_side(db.connection())
    # The claim rolled back with its transaction; the statement did not.
    assert [job.id for job in app.jobs.claim(ids, "w", 30)] == ids


def backend_pid(app: Qualify) -> int:
    return int(app.database.db.execute_sql("SELECT pg_backend_pid()").fetchone()[0])


def test_a_connection_the_server_ended_is_replaced_and_prepared_again(
    app: Qualify, server: Any
) -> None:
    run_id = create_run(app, [f"c{i}.com" for i in range(6)])
    ids = [r.job_id for r in app.runs.records(run_id)]
    claimed = app.jobs.claim(ids[:2], "w", 30)
    first = backend_pid(app)
    db = app.database.db
    assert "qualify_claim_jobs" in server_side(db.connection())
    server.execute("SELECT pg_terminate_backend(%s)", (first,))
    assert server.fetchone() == (True,)

    claimed += app.jobs.claim(ids[2:4], "w", 30)
    assert [job.id for job in claimed] == ids[:4]
    assert backend_pid(app) != first
    assert "qualify_claim_jobs" in server_side(db.connection())
    assert db.connection().prepared == server_side(db.connection())

    # Ended again: the next worker round, on yet another connection, finishes the run.
    assert app.jobs.release(claimed) == 4
    server.execute("SELECT pg_terminate_backend(%s)", (backend_pid(app),))
    work(app)
    run = app.runs.get(run_id)
    assert (run.status, run.completed) == ("COMPLETED", 6)
    assert_consistent(app, run_id)


def test_prepared_statements_off_prepares_nothing(stack: Stack) -> None:
    plain = Qualify.open(f"{stack.db}?prepared_statements=off")
    try:
        run_id = create_run(plain, DOMAINS)
        work(plain)
        assert plain.runs.get(run_id).status == "COMPLETED"
        connections = pooled_connections(plain)
        assert connections
        assert all(server_side(conn) == set() for conn in connections)
    finally:
        plain.close()


def test_a_bad_prepared_statements_value_exits_2_and_writes_nothing(
    stack: Stack, app: Qualify, server: Any, tmp_path: Path
) -> None:
    icp, domains = write_inputs(tmp_path, ["acme.com"])
    db = f"{stack.db}?prepared_statements=maybe"
    qualifier = ["--qualifier", "tests.sample_qualifiers:by_name"]
    result = CliRunner().invoke(cli, ["--db", db, "run", icp, domains, *qualifier])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "prepared_statements must be on or off, not 'maybe'" in lines[0]
    server.execute("SELECT COUNT(*) FROM runs")
    assert server.fetchone() == (0,)


def test_a_session_swapped_under_the_connection_is_a_store_fault_and_heals(app: Qualify) -> None:
    """As behind a transaction-mode pooler: the session lost a statement the connection
    prepared, or has one it did not. The error says what to set, the worker holds its
    outcomes (a store fault, not the job's), and the next try succeeds."""
    run_id = create_run(app, [f"c{i}.com" for i in range(3)])
    ids = [r.job_id for r in app.runs.records(run_id)]
    assert len(app.jobs.claim(ids[:1], "w", 30)) == 1
    db = app.database.db

    db.execute_sql("DEALLOCATE qualify_claim_jobs")
    with pytest.raises(peewee.DatabaseError) as missing:
        app.jobs.claim(ids[1:2], "w", 30)
    assert "prepared_statements=off" in (outage_cause(missing.value) or "")
    assert len(app.jobs.claim(ids[1:2], "w", 30)) == 1

    db.connection().prepared.discard("qualify_claim_jobs")
    with pytest.raises(peewee.DatabaseError) as exists:
        app.jobs.claim(ids[2:], "w", 30)
    assert "prepared_statements=off" in (outage_cause(exists.value) or "")
    assert len(app.jobs.claim(ids[2:], "w", 30)) == 1
    assert db.connection().prepared == server_side(db.connection())
