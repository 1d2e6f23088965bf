"""A queue that refuses pushes after the store committed: the command reports what was
committed and exits 0 (running it again would double the run), and workers enqueue the
jobs again on their own. Against a Redis server of the test's own, filled on purpose."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from tests import backends
from tests.sample_qualifiers import calls
from tests.servers import PrivateRedis, private_redis
from tests.support import (
    ROOT,
    Stack,
    WorkerProcess,
    assert_consistent,
    create_run,
    wait_until,
    write_inputs,
)

QUALIFIER = ["--qualifier", "tests.sample_qualifiers:by_name"]


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    with backends.postgres_database() as url:
        yield url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        yield server


def qualify(db: str, queue: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qualify", "--db", db, "--queue", queue, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_a_run_committed_while_redis_refuses_writes_exits_0_and_is_worked_once(
    fresh_postgres: str, redis_server: PrivateRedis, tmp_path: Path
) -> None:
    write_inputs(tmp_path, ["acme.com", "globex.com", "permanent-initech.com"])
    # Out of memory with the default noeviction policy: every write is refused, reads work.
    redis_server.client().config_set("maxmemory", 1)
    done = qualify(fresh_postgres, redis_server.url, "run", "icp.json", "domains.txt",
                   *QUALIFIER, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Run 1 (Test ICP / domains.txt): 3 queued")
    warning = done.stderr.strip().splitlines()[-1]
    assert warning.startswith("Warning: committed; the queue refused 3 messages (queue ")
    assert "command not allowed when used memory > 'maxmemory'" in warning
    assert warning.endswith("(reconciler): do not run this again.")
    with Qualify.open(fresh_postgres, redis_server.url) as app:
        assert [run.total for run in app.runs.list()] == [3]
        assert app.runs.count_jobs_by_state(1) == {"queued": 3}
        assert app.queue.size() == 0

    redis_server.client().config_set("maxmemory", 0)
    worked = qualify(fresh_postgres, redis_server.url, "worker", "--burst", "--lease", "1",
                     cwd=tmp_path)  # fmt: skip
    assert worked.returncode == 4, worked.stderr  # finished, one job failed on its merits
    assert "re-enqueued 3 queued jobs whose queue message was lost" in worked.stderr
    with Qualify.open(fresh_postgres, redis_server.url) as app:
        assert app.runs.count_jobs_by_state(1) == {"done": 2, "failed": 1}
        assert_consistent(app, 1)

    # `retry` of the failed job while Redis refuses: committed, said so, exit 0.
    redis_server.client().config_set("maxmemory", 1)
    again = qualify(fresh_postgres, redis_server.url, "retry", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "Run 1: 1 failed job queued again"
    assert "Warning: committed; the queue refused 1 message (" in again.stderr
    with Qualify.open(fresh_postgres, redis_server.url) as app:
        assert app.runs.count_jobs_by_state(1) == {"done": 2, "queued": 1}


def test_a_redis_that_may_evict_is_called_out_and_lost_messages_cost_seconds(
    fresh_postgres: str, tmp_path: Path
) -> None:
    with private_redis(tmp_path, "--maxmemory-policy", "allkeys-lru") as server:
        write_inputs(tmp_path, [f"company{i}.com" for i in range(80)])
        done = qualify(fresh_postgres, server.url, "run", "icp.json", "domains.txt",
                       *QUALIFIER, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        warning = done.stderr.splitlines()[0]
        assert warning == (
            f"Warning: queue {server.url}: maxmemory-policy is allkeys-lru, so Redis may drop"
            " queued messages when memory runs short (workers re-enqueue them, seconds late);"
            " fix: redis-cli CONFIG SET maxmemory-policy noeviction (and in redis.conf)"
        )
        server.client().flushall()  # as an eviction would: every message gone
        started = time.monotonic()
        worked = qualify(fresh_postgres, server.url, "worker", "--burst", "--lease", "30s",
                         cwd=tmp_path)  # fmt: skip
        took = time.monotonic() - started
        print(f"80 flushed messages: the run done {took:.1f}s after the worker started")
        assert worked.returncode == 0, worked.stderr
        assert warning.removeprefix("Warning: ") in worked.stderr
        assert "re-enqueued 80 queued jobs whose queue message was lost" in worked.stderr
        # Two leases (60 s) was the wait before; the grace is now seconds.
        assert took < 30, worked.stderr
        with Qualify.open(fresh_postgres, server.url) as app:
            assert app.runs.count_jobs_by_state(1) == {"done": 80}
            assert_consistent(app, 1)


def test_noeviction_gets_no_warning(fresh_postgres: str, redis_server: PrivateRedis,
                                    tmp_path: Path) -> None:  # fmt: skip
    write_inputs(tmp_path, ["acme.com"])
    done = qualify(fresh_postgres, redis_server.url, "run", "icp.json", "domains.txt",
                   *QUALIFIER, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_workers_ride_out_a_redis_restart_that_lost_every_message(
    fresh_postgres: str, redis_server: PrivateRedis, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QUALIFY_TEST_LOG", str(log))
    stack = Stack(db=fresh_postgres, queue=redis_server.url, log=log, backend="postgres+redis")
    with stack.open() as app:
        run_id = create_run(app, [f"slow200-company{i}.com" for i in range(40)])
    worker = WorkerProcess(stack, "--burst", "--concurrency", "4", "--lease", "6s")
    try:
        wait_until(lambda: len(calls(str(log), event="end")) >= 8, timeout=60)
        redis_server.stop()  # nothing saved: its messages are gone for good
        time.sleep(5)
        assert worker.proc.poll() is None, worker.output
        redis_server.start()
        assert worker.wait(timeout=120) == 0, worker.output
    finally:
        worker.stop()
    output = worker.output
    assert "Traceback" not in output, output
    assert output.count("store unavailable (queue ") == 1, output
    assert output.count("store available again after") == 1, output
    assert "queued jobs whose queue message was lost" in output
    with stack.open() as app:
        run = app.runs.get(run_id)
        assert (run.status, run.completed, run.failed) == ("COMPLETED", 40, 0)
        assert_consistent(app, run_id)
