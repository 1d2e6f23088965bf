"""The live displays in a real terminal: `status --watch` while workers come and go, and the
progress bar of `run --wait`, finishing and interrupted with Ctrl-C. Each runs `qualify` as a
subprocess on a pseudo-terminal and reads what it draws."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from tests.support import Stack, WorkerProcess, create_run, raw, write_inputs
from tests.terminal import Terminal, qualify_argv
from tests.test_cli import age_run, work_all

BY_NAME = ["--qualifier", "tests.sample_qualifiers:by_name"]
HEADER = "qualify status --watch"
FOOTER = "Ctrl-C quits."


@pytest.fixture
def stack(sqlite_stack: Stack) -> Stack:
    """SQLite only, whatever backends the other tests run on: these tests are about what
    the terminal shows, which is the same on every backend, and each takes seconds."""
    return sqlite_stack


@pytest.fixture
def terminals() -> Iterator[Callable[..., Terminal]]:
    opened: list[Terminal] = []

    def open_terminal(*args: str, env: dict[str, str], cwd: str | None = None) -> Terminal:
        term = Terminal(qualify_argv(*args), env, cwd=cwd)
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.close()


def _row(frame: str, run_id: int) -> str:
    """The line of the runs table for ``run_id`` in a dashboard frame."""
    for line in frame.splitlines():
        if re.match(rf"\s*{run_id}\s", line):
            return line
    raise AssertionError(f"no row for run {run_id} in:\n{frame}")


def test_dashboard_shows_which_run_moves_and_which_is_stuck(
    app: Qualify,
    stack: Stack,
    terminals: Callable[..., Terminal],
    workers: Callable[..., WorkerProcess],
) -> None:
    finished = create_run(app, ["acme.com"])
    work_all(app)
    # A run left behind by a crashed worker: one job still "running" on an expired lease.
    stuck = create_run(app, ["globex.io", "initech.com"])
    app.workers.register(
        "crashed-host:4242:dead00", hostname="crashed-host", pid=4242, concurrency=4,
        lease=30, version="t",
    )  # fmt: skip
    _, (held,) = app.jobs.claim_next(1, "crashed-host:4242:dead00", 30)
    raw(app).execute("UPDATE jobs SET lease_expires_at = {now} - 600 WHERE id = ?", (held.id,))
    raw(app).execute("UPDATE workers SET heartbeat_at = {now} - 900")
    age_run(app, stuck, 900)
    moving = create_run(app, [f"slow400-lead{i}.com" for i in range(16)])

    term = terminals("--db", stack.db, "status", "--watch", env=stack.env())
    frame = term.expect_frame(HEADER, FOOTER, rf"Run {stuck} is STUCK", r"crashed-host")
    assert "PROCESSING STUCK" in _row(frame, stuck)
    assert "PENDING" in _row(frame, moving) and "0/16" in _row(frame, moving)
    assert "COMPLETED" in _row(frame, finished)
    assert "No worker is alive: start one with qualify worker" in frame
    assert re.search(r"crashed-host\s+4242\s+DEAD", frame)
    assert "Leases close to expiry" in frame and "to be reclaimed" in frame

    # Two workers start: they take the new run and pick up what the crash left.
    workers("--burst", "-c", "1", env={"QUALIFY_HOSTNAME": "worker-one"})
    workers("--burst", "-c", "1", env={"QUALIFY_HOSTNAME": "worker-two"})
    term.expect_frame(HEADER, FOOTER, r"worker-one\s+\d+\s+ALIVE", r"worker-two\s+\d+\s+ALIVE")
    # While it moves, the run's line shows its rate over the last minute and an ETA.
    term.expect(rf"(?m)^\s*{moving}\s.*PROCESSING\s.*\d+/16.*\d(/s|/min)\s+(\d+m )?\d+s")
    frame = term.expect_frame(HEADER, FOOTER, r"COMPLETED[^\n]*16/16")
    assert "STUCK" not in frame
    assert "COMPLETED" in _row(frame, stuck)

    term.ctrl_c()
    assert term.wait() == 0


def test_run_wait_draws_a_progress_bar(
    tmp_path: Path, stack: Stack, terminals: Callable[..., Terminal]
) -> None:
    icp, domains = write_inputs(tmp_path, [f"slow200-company{i}.com" for i in range(12)])
    term = terminals(
        "--db", stack.db, "run", icp, domains, *BY_NAME, "--wait", "-c", "2", env=stack.env()
    )
    term.expect(r"Run 1 \(Test ICP / domains.txt\): 12 queued")
    # The bar with counts, percentage, a measured rate and an ETA, while it runs.
    term.expect(r"run 1 ━+[╸╺━ ]*\s+([1-9]|1[01])/12\s+\d+%\s+[\d.]+/(s|min)\s+ETA \d+s")
    assert term.wait() == 0
    assert re.search(r"run 1 ━+ 12/12 100%", term.text)
    last = term.text.rstrip().splitlines()[-1]
    assert re.fullmatch(
        rf"Run 1 COMPLETED: 12 done \(\d+ qualified\), 0 failed\."
        rf" Export: qualify --db {re.escape(stack.db)} export 1",
        last,
    ), last


def test_ctrl_c_stops_run_wait_cleanly_and_says_how_to_resume(
    tmp_path: Path, stack: Stack, terminals: Callable[..., Terminal]
) -> None:
    icp, domains = write_inputs(tmp_path, [f"slow300-company{i}.com" for i in range(40)])
    term = terminals(
        "--db", stack.db, "run", icp, domains, *BY_NAME, "--wait", "-c", "2", env=stack.env()
    )
    term.expect(r"\s[1-9]\d?/40\s")  # under way
    term.ctrl_c()
    assert term.wait() == 130
    text = term.text
    assert "SIGINT: no new jobs" in text
    assert re.search(
        r"Interrupted: run 1 keeps its \d+ finished jobs; the other \d+ stay queued", text
    )
    assert f"Resume with: qualify --db {stack.db} worker --burst" in text

    app = stack.open()
    run = app.runs.get(1)
    states = app.runs.count_jobs_by_state(1)
    assert run.status == "PROCESSING" and 0 < run.completed < 40
    assert "running" not in states  # in-flight jobs finished or were handed back
    assert states["queued"] == 40 - run.completed == len(app.queue.held_job_ids())


# -- 80 and 160 columns -------------------------------------------------------------------------

EXAMPLE_NAMES = {
    1: "Example 1: the demo's companies",
    2: "Example 2: sites that fail",
    3: "Example 3: left behind by a crashed worker",
}


@pytest.fixture
def example_db(tmp_path: Path) -> str:
    from tests.make_example_db import EXAMPLE

    copy = tmp_path / "example.db"
    copy.write_bytes(EXAMPLE.read_bytes())
    return str(copy)


def _fits(text: str, columns: int) -> None:
    too_wide = [line for line in text.splitlines() if len(line.rstrip()) > columns]
    assert not too_wide, f"lines wider than {columns}:\n" + "\n".join(too_wide)


def _shows_whole_name(text: str, name: str) -> None:
    """Every word of the name, in order, though the name may wrap within its column."""
    words = text.split()
    at = 0
    for word in name.split():
        assert word in words[at:], f"{name!r}: {word!r} missing from:\n{text}"
        at = words.index(word, at) + 1


@pytest.mark.parametrize("columns", [80, 160])
def test_status_fits_the_terminal_with_every_id_and_name(example_db: str, columns: int) -> None:
    term = Terminal(qualify_argv("--db", example_db, "status"), {**os.environ}, columns=columns)
    try:
        assert term.wait() == 0
        text = term.text
    finally:
        term.close()
    _fits(text, columns)
    header = next(line for line in text.splitlines() if line.startswith("ID "))
    for title in ("NAME", "STATUS", "PROGRESS", "FAILED", "UNKNOWN", "QUALIFIED"):
        assert title in header, header
    if columns >= 160:
        for title in ("FINISHED", "DONE", "AGE", "CHANGED"):
            assert title in header, header
    for run_id, name in EXAMPLE_NAMES.items():
        assert re.search(rf"(?m)^\s*{run_id}\s+Example {run_id}", text), text
        _shows_whole_name(text, name)
    # FAILED, UNKNOWN, QUALIFIED of run 2: 1 failed, 2 unknown, 1 qualified.
    assert re.search(r"(?m)^\s*2\s.*COMPLETED\s+100\.0%\s.*\b1\s+2\s+1\b", text), text
    assert "PROCESSING STUCK" in text


@pytest.mark.parametrize("columns", [80, 160])
def test_the_dashboard_fits_with_a_percentage_beside_each_bar(
    example_db: str, columns: int
) -> None:
    env = {**os.environ}
    term = Terminal(qualify_argv("--db", example_db, "status", "--watch"), env, columns=columns)
    try:
        frame = term.expect_frame(HEADER, FOOTER, r"Run 3 is STUCK")
        term.ctrl_c()
        assert term.wait() == 0
    finally:
        term.close()
    _fits(frame, columns)
    row = _row(frame, 3)
    assert re.search(r"PROCESSING STUCK\s+[━╸╺]+\s+25%", row), row
    _shows_whole_name(frame, EXAMPLE_NAMES[3])
    assert ("UNKNOWN" in frame) == (columns >= 160)
    assert "ETA" in frame and "never" in row


@pytest.mark.parametrize("columns", [80, 160])
def test_show_fits_the_terminal(example_db: str, columns: int) -> None:
    for args in (("show", "2"), ("show", "1", "acme-freight.example.com")):
        term = Terminal(qualify_argv("--db", example_db, *args), {**os.environ}, columns=columns)
        try:
            assert term.wait() == 0
            text = term.text
        finally:
            term.close()
        _fits(text, columns)
        if args == ("show", "2"):
            assert re.search(r"(?m)^Unknown\s+1 dns_nxdomain, 1 http_4xx", text), text
            assert "Example 2: sites that fail" in text


def test_run_wait_fits_80_columns_with_its_counts(tmp_path: Path, stack: Stack) -> None:
    icp, domains = write_inputs(tmp_path, [f"slow100-company{i}.com" for i in range(12)])
    argv = qualify_argv("--db", stack.db, "run", icp, domains, *BY_NAME, "--wait", "-c", "2")
    term = Terminal(argv, stack.env(), columns=80)
    try:
        assert term.wait(60) == 0
        text = term.text
    finally:
        term.close()
    # Each redraw of the bar is one line of at most 80 cells (a redraw starts with "run 1").
    frames = [f"run 1{part}" for part in text.split("run 1")[1:]]
    bars = [frame.splitlines()[0] for frame in frames if "━" in frame]
    assert bars and all(len(bar.rstrip()) <= 80 for bar in bars), bars
    assert re.search(r"run 1 ━+ 12/12 100% \S+ ETA 0s \d+ qualified", text), text
