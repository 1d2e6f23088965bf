"""A process frozen inside a write transaction (SIGSTOP: a paused VM, a debugger) cannot
silently freeze the fleet. On PostgreSQL the server ends its session after a lease and the
other workers go on; on SQLite, where it holds the file's write lock, the waiting writers
say who holds it and `status` still answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from qualify.api import Qualify
from tests.support import Stack, WorkerProcess, assert_consistent, create_run, wait_until


@pytest.mark.parametrize("stack", ["postgres"], indirect=True)  # SQLite: see the test below
def test_a_frozen_worker_cannot_freeze_the_others_on_postgres(
    app: Qualify, workers: Callable[..., WorkerProcess]
) -> None:
    run_id = create_run(app, [f"slow50-company{i}.com" for i in range(40)])
    frozen = workers("--concurrency", "4", "--lease", "2s",
                     env={"QUALIFY_FREEZE_AT": "worker.before_counters"})  # fmt: skip
    # It stops itself inside its first recording transaction, holding the run's row.
    wait_until(lambda: _stopped(frozen.pid), timeout=30)
    try:
        other = workers("--burst", "--concurrency", "4", "--lease", "2s")
        assert other.wait(timeout=90) == 0, other.output
    finally:
        frozen.kill9()
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 40, 0)
    assert_consistent(app, run_id)


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def test_a_frozen_writer_on_sqlite_is_named_by_the_waiting_writers_and_by_status(
    sqlite_stack: Stack,
) -> None:
    stack = sqlite_stack
    app = stack.open()
    run_id = create_run(app, [f"company{i}.com" for i in range(20)])
    frozen = WorkerProcess(stack, "--lease", "2s", env={
        "QUALIFY_FREEZE_AT": "worker.before_counters", "QUALIFY_HOSTNAME": "host-a"})  # fmt: skip
    waiting = None
    try:
        wait_until(lambda: _stopped(frozen.pid), timeout=30)
        waiting = WorkerProcess(stack, "--burst", "--lease", "2s")
        holder = None

        def status_names_the_holder() -> bool:
            nonlocal holder
            status = subprocess.run(
                [sys.executable, "-m", "qualify", *stack.cli, "status", "--json"],
                capture_output=True, text=True, env=stack.env(), timeout=20,
            )  # fmt: skip
            assert status.returncode == 0, status.stderr  # it answers, never waits
            holder = json.loads(status.stdout)["write_lock"]
            return holder is not None

        wait_until(status_names_the_holder, timeout=30, interval=0.5)
        assert holder is not None
        assert (holder["pid"], holder["hostname"]) == (frozen.pid, "host-a")
        wait_until(lambda: _said(waiting, f"held by pid {frozen.pid} on host-a"), timeout=30)
    finally:
        frozen.kill9()
    assert waiting.wait(timeout=60) == 0, waiting.output
    said = getattr(waiting, "_seen", "") + waiting.output
    assert f"waiting for the write lock held by pid {frozen.pid} on host-a for" in said
    assert_consistent(app, run_id)
    assert app.runs.get(run_id).completed == 20


def _said(worker: WorkerProcess | None, text: str) -> bool:
    """Whether the worker's output so far has ``text`` (read without waiting for its end)."""
    import os
    import select

    assert worker is not None and worker.proc.stdout is not None
    stream = worker.proc.stdout
    seen = getattr(worker, "_seen", "")
    while select.select([stream], [], [], 0)[0]:
        chunk = os.read(stream.fileno(), 65536).decode(errors="replace")
        if not chunk:
            break
        seen += chunk
    worker._seen = seen  # type: ignore[attr-defined]
    return text in seen
