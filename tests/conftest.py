"""Shared fixtures: an isolated environment per test, a real store, real worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from tests.support import Stack, WorkerProcess

ENV_VARS = (
    "QUALIFY_DB",
    "QUALIFY_QUEUE",
    "QUALIFY_CRASH_AT",
    "QUALIFY_TEST_LOG",
    "QUALIFY_HOSTNAME",
    "QUALIFY_FETCH_VIA",
    "QUALIFY_ALLOW_PRIVATE_NETWORKS",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts in its own directory with none of qualify's variables set."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("QUALIFY_TEST_LOG", str(log))
    s = Stack(db=str(tmp_path / "qualify.db"), log=log)
    yield s
    s.close()


@pytest.fixture
def app(stack: Stack) -> Qualify:
    return stack.open()


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
