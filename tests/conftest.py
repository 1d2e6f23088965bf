"""Shared fixtures: an isolated environment per test, a real store, real worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qualify.api import Qualify
from tests import backends
from tests.support import Stack, WorkerProcess

ENV_VARS = (
    "QUALIFY_DB",
    "QUALIFY_QUEUE",
    "QUALIFY_CRASH_AT",
    "QUALIFY_TEST_LOG",
    "QUALIFY_HOSTNAME",
    "QUALIFY_FETCH_VIA",
    "QUALIFY_ALLOW_PRIVATE_NETWORKS",
    "QUALIFY_USER_AGENT",
    "QUALIFY_DNS",
    "QUALIFY_CANARY",
    "QUALIFY_CA_BUNDLE",
    "QUALIFY_PER_IP_CONNECTIONS",
    "QUALIFY_LLM_BASE_URL",
    "QUALIFY_LLM_API_KEY",
    "QUALIFY_LLM_MODEL",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts in its own directory with none of qualify's variables set."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def no_system_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetcher built without a DNS server of its own would ask the machine's resolver:
    in tests it asks the discard port on loopback instead, so no test can look up a real
    name (the simulated internet's tests name their server)."""
    import dns.resolver

    def read_resolv_conf(self: dns.resolver.Resolver, f: object) -> None:
        self.nameservers = ["127.0.0.1"]
        self.port = 9

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", read_resolv_conf)


BACKENDS = ("sqlite", "postgres", "postgres+redis")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with backends.postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with backends.redis_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """The store and queue of one test, on each backend in turn: SQLite (store and queue in
    one file), PostgreSQL (queue in the same database), PostgreSQL with the queue on Redis."""
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QUALIFY_TEST_LOG", str(log))
    backend = request.param
    if backend == "sqlite":
        s = Stack(db=str(tmp_path / "qualify.db"), log=log)
    else:
        db = request.getfixturevalue("postgres_url")
        backends.reset_postgres(db)
        queue = None
        if backend == "postgres+redis":
            queue = request.getfixturevalue("redis_url")
            backends.reset_redis(queue)
        s = Stack(db=db, queue=queue, log=log, backend=backend)
    yield s
    s.close()


@pytest.fixture
def sqlite_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """For what only SQLite has: a database file that may not exist yet."""
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QUALIFY_TEST_LOG", str(log))
    s = Stack(db=str(tmp_path / "qualify.db"), log=log)
    yield s
    s.close()


@pytest.fixture
def app(stack: Stack) -> Qualify:
    return stack.open()


@pytest.fixture
def server(stack: Stack) -> Iterator[Any]:
    """A cursor on the test's PostgreSQL database, outside qualify, to watch the server
    (autocommit, named ``qualify-test-watcher`` so it is told apart from qualify's own)."""
    import psycopg2

    conn = psycopg2.connect(stack.db, application_name="qualify-test-watcher")
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


@pytest.fixture
def workers(stack: Stack) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes; any still running when the test ends are killed."""
    started: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        process = WorkerProcess(stack, *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
