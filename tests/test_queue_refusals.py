"""A queue that refuses pushes after the store committed: the command reports what was
committed and exits 0 (running it again would double the run), and workers enqueue the
jobs again on their own. Against a Redis server of the test's own, filled on purpose."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from tests import backends
from tests.servers import PrivateRedis, private_redis
from tests.support import ROOT, assert_consistent, write_inputs

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
