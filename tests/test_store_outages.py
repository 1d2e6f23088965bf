"""A store-wide failure is never a job's: a worker whose store's disk fills, or whose
connection to the server drops in the middle of a round, holds the finished outcomes in
memory, says so in one line, and records them when the store is back. Nothing is lost as a
job error and nothing is done twice."""

from __future__ import annotations

import errno
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from tests.sample_qualifiers import calls
from tests.servers import PrivatePostgres, private_postgres
from tests.support import Stack, WorkerProcess, assert_consistent, create_run, raw, wait_until


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB file system of the test's own (tmpfs), to fill up for real."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system to fill: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; the file, to delete later."""
    filler = directory / "filler"
    chunk = b"\0" * (256 * 1024)
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_holds_results_until_space_is_back(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QUALIFY_TEST_LOG", str(log))
    stack = Stack(db=str(small_disk / "qualify.db"), log=log)
    app = stack.open()
    domains = [f"slow300-company{i}.com" for i in range(40)]
    run_id = create_run(app, domains)
    worker = WorkerProcess(stack, "--burst", "--concurrency", "4", "--lease", "6s")
    try:
        wait_until(lambda: app.runs.get(run_id).completed >= 8, timeout=60)
        filler = fill(small_disk)
        time.sleep(4)  # jobs finish meanwhile; the store refuses every write
        assert worker.proc.poll() is None, worker.output
        filler.unlink()
        assert worker.wait(timeout=90) == 0, worker.output
    finally:
        worker.stop()
    output = worker.output
    assert output.count("store unavailable (disk full)") == 1, output
    assert output.count("store available again after") == 1, output
    assert "held, retrying in" in output
    assert "Traceback" not in output and "cannot rollback" not in output, output
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 40, 0)
    assert_consistent(app, run_id)
    codes = raw(app).fetchall("SELECT error_code FROM jobs WHERE error_code IS NOT NULL")
    assert codes == []
    stack.close()


def test_a_connection_dropped_mid_round_loses_nothing(stack: Stack, app: Qualify, workers) -> None:
    """The server ends the worker's connections (as a failover or an admin would) while
    it works: the worker reconnects, holds what finished, and every job ends once."""
    if stack.backend == "sqlite":
        pytest.skip("a SQLite store has no connection to drop")
    import psycopg2

    run_id = create_run(app, [f"slow100-company{i}.com" for i in range(100)])
    worker = workers("--burst", "--concurrency", "4", "--lease", "6s")
    wait_until(lambda: app.runs.get(run_id).completed >= 5, timeout=60)
    name = stack.db.rsplit("/", 1)[1]
    ended = 0
    for _ in range(15):
        with psycopg2.connect(stack.db) as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                " AND pid <> pg_backend_pid() AND application_name NOT LIKE 'pytest%%'"
                " AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = %s)",
                (name, name),
            )
            ended += len(cursor.fetchall())
        conn.close()
        time.sleep(0.2)
    assert worker.wait(timeout=90) == 0, worker.output
    assert ended
    output = worker.output
    assert "Traceback" not in output, output
    app.close()
    with stack.open() as fresh:
        run = fresh.runs.get(run_id)
        assert (run.status, run.completed, run.failed) == ("COMPLETED", 100, 0)
        assert_consistent(fresh, run_id)


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PrivatePostgres]:
    with private_postgres(tmp_path) as server:
        yield server


@pytest.mark.parametrize("queue", ["sql", "redis"])
def test_workers_ride_out_a_database_server_restart(
    private_pg: PrivatePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queue: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QUALIFY_TEST_LOG", str(log))
    redis = request.getfixturevalue("redis_url") if queue == "redis" else None
    if redis:
        from tests import backends

        backends.reset_redis(redis)
    stack = Stack(db=private_pg.url, queue=redis, log=log, backend="postgres")
    app = stack.open()
    run_id = create_run(app, [f"slow200-company{i}.com" for i in range(60)])
    stack.close()
    worker = WorkerProcess(stack, "--burst", "--concurrency", "4", "--lease", "6s")
    try:
        wait_until(lambda: len(calls(str(log), event="end")) >= 8, timeout=60)
        private_pg.stop("fast")
        time.sleep(8)  # longer than the 6 s that ended Redis-queue workers before
        assert worker.proc.poll() is None, worker.output
        private_pg.start()
        assert worker.wait(timeout=120) == 0, worker.output
    finally:
        worker.stop()
    output = worker.output
    assert output.count("store unavailable (") == 1, output
    assert output.count("store available again after") == 1, output
    assert "Traceback" not in output, output
    # One line when it went, one when it came back, and nothing between.
    lines = output.splitlines()
    down = next(i for i, line in enumerate(lines) if "store unavailable (" in line)
    assert "store available again after" in lines[down + 1], output
    with stack.open() as fresh:
        run = fresh.runs.get(run_id)
        assert (run.status, run.completed, run.failed) == ("COMPLETED", 60, 0)
        assert_consistent(fresh, run_id)
    # Each domain ran once, or twice at most for the jobs in flight when the server went
    # (their outcome may have been held past their lease); none was recorded twice.
    ran = Counter(calls(str(log), event="end"))
    assert set(ran) == {f"slow200-company{i}.com" for i in range(60)}
    assert sum(count - 1 for count in ran.values()) <= 4
