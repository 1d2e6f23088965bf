"""Helpers for the tests: a store for a test, worker processes, and consistency checks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualify.api import Qualify, prepare_run
from qualify.store import Database

ROOT = Path(__file__).resolve().parent.parent
ICP = {"name": "Test ICP", "description": "for the tests"}
BY_NAME = "tests.sample_qualifiers:by_name"


@dataclass
class Stack:
    """Where a test's store and queue live, for in-process use and for subprocesses."""

    db: str
    queue: str | None = None
    log: Path | None = None
    backend: str = "sqlite"
    _apps: list[Qualify] = field(default_factory=list)

    def open(self) -> Qualify:
        app = Qualify.open(self.db, self.queue)
        self._apps.append(app)
        return app

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["QUALIFY_DB"] = self.db
        if self.queue:
            env["QUALIFY_QUEUE"] = self.queue
        if self.log:
            env["QUALIFY_TEST_LOG"] = str(self.log)
        # Worker processes import the tests' qualifiers as tests.sample_qualifiers.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        env.update(extra)
        return env

    @property
    def cli(self) -> list[str]:
        """The global options that point the CLI at this store and queue."""
        return ["--db", self.db, *(["--queue", self.queue] if self.queue else [])]

    def close(self) -> None:
        for app in self._apps:
            app.close()
        self._apps.clear()

    def snapshot(self) -> object:
        """Everything the store and queue hold, to compare before and after a command;
        None when there is no database at all (SQLite file absent)."""
        if self.backend == "sqlite":
            path = Path(self.db)
            if not path.exists():
                return None
            conn = sqlite3.connect(path)
            try:
                return list(conn.iterdump())
            finally:
                conn.close()
        import psycopg2

        content: dict[str, object] = {}
        with psycopg2.connect(self.db) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for (table,) in sorted(cursor.fetchall()):
                cursor.execute(f"SELECT * FROM {table}")
                content[table] = sorted(
                    repr([bytes(v) if isinstance(v, memoryview) else v for v in row])
                    for row in cursor.fetchall()
                )
        conn.close()
        if self.queue:
            import redis

            client = redis.Redis.from_url(self.queue)
            content["redis"] = sorted((key, client.dump(key)) for key in client.scan_iter())
        return content


class PortableSql:
    """Ad-hoc SQL for tests, written once for both backends with ``?`` parameters and
    ``{now}`` for the database's clock. Tests poke at state the library never would (an
    expired lease, a run idle for an hour); the library itself runs only its named queries."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._now = database.queries["now"].removeprefix("SELECT ").removesuffix(" AS now")

    def execute(self, text: str, params: Sequence[object] = ()) -> Any:
        text = text.replace("{now}", self._now)
        if self.database.dialect == "postgres":
            text = text.replace("?", "%s")
        return self.database.db.execute_sql(text, tuple(params))

    def fetchall(self, text: str, params: Sequence[object] = ()) -> list[tuple]:
        return list(self.execute(text, params).fetchall())

    def fetchone(self, text: str, params: Sequence[object] = ()) -> tuple | None:
        return self.execute(text, params).fetchone()

    def scalar(self, text: str, params: Sequence[object] = ()) -> Any:
        row = self.fetchone(text, params)
        return None if row is None else row[0]


def raw(app: Qualify) -> PortableSql:
    return PortableSql(app.database)


def write_inputs(
    directory: Path, domains: Sequence[str], icp: dict | None = None
) -> tuple[str, str]:
    icp_path = directory / "icp.json"
    icp_path.write_text(json.dumps(icp or ICP))
    domains_path = directory / "domains.txt"
    domains_path.write_text("".join(f"{d}\n" for d in domains))
    return str(icp_path), str(domains_path)


def create_run(
    app: Qualify,
    domains: Sequence[str],
    *,
    qualifier: str = BY_NAME,
    max_attempts: int = 5,
    backoff: float = 0.2,
    directory: Path | None = None,
) -> int:
    icp_path, domains_path = write_inputs(directory or Path.cwd(), domains)
    prepared = prepare_run(icp_path, domains_path, qualifier)
    return app.create_run(prepared, max_attempts=max_attempts, backoff=backoff).run_id


class WorkerProcess:
    """A real ``qualify worker`` process."""

    def __init__(self, stack: Stack, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qualify", "worker", *args],
            env=stack.env(**(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            self._output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self._output, _ = self.proc.communicate()
            raise AssertionError(f"worker did not exit in {timeout}s:\n{self._output}") from None
        return self.proc.returncode

    @property
    def output(self) -> str:
        if self._output is None:
            self.wait()
        return self._output or ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def wait_until(
    predicate: Callable[[], object], timeout: float = 30, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {predicate}")


def assert_consistent(app: Qualify, run_id: int) -> None:
    """The run's counters match its jobs, and each done job has exactly one result."""
    db = raw(app)
    run = app.runs.get(run_id)
    states = app.runs.count_jobs_by_state(run_id)
    assert sum(states.values()) == run.total
    assert run.completed == states.get("done", 0)
    assert run.failed == states.get("failed", 0)
    assert run.cancelled == states.get("cancelled", 0)
    assert app.runs.job_states(run) == states, "show RUN's counts, read without the jobs"
    results = db.fetchall(
        "SELECT r.job_id, j.state FROM results r JOIN jobs j ON j.id = r.job_id WHERE r.run_id = ?",
        (run_id,),
    )
    assert len(results) == len({job_id for job_id, _ in results}), "a job has two results"
    assert all(state == "done" for _, state in results), "a result for an unfinished job"
    assert len(results) == states.get("done", 0), "a done job without a result"
    qualified = db.scalar(
        "SELECT COUNT(*) FROM results WHERE run_id = ? AND verdict = 'qualified'", (run_id,)
    )
    assert run.qualified == qualified
    unknown = db.scalar(
        "SELECT COUNT(*) FROM results WHERE run_id = ? AND verdict = 'unknown'", (run_id,)
    )
    assert run.unknown == unknown


def push_raw(app: Qualify, payload: bytes) -> None:
    """Put a message on the queue as an attacker with access to the queue server would:
    raw bytes, at the head of the queue."""
    from qualify.queue import QUEUE_NAME, RedisJobQueue

    if isinstance(app.queue, RedisJobQueue):
        app.queue.client.rpush(app.queue.key, payload)  # huey pops from the right
    else:
        raw(app).execute(
            "INSERT INTO huey_task (queue, data, priority) VALUES (?, ?, 10)",
            (QUEUE_NAME, payload),
        )
