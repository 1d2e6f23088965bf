"""The outage breaker with any qualifier: a failure of our own side pauses the worker instead
of becoming results, the pause shows in `status`, and the worker resumes by itself.

The qualifier is tests.sample_qualifiers:outage_prone, whose "side" fails while a flag file
exists; the worker runs in this process, on every backend. The web qualifier over a
simulated internet is tests/web/test_network_outage.py.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from qualify.worker import Worker, WorkerOptions
from tests.sample_qualifiers import calls
from tests.support import Stack, assert_consistent, create_run, raw, wait_until
from tests.test_cli import invoke

OUTAGE = "tests.sample_qualifiers:outage_prone"
FAST = {
    "outage_window": 6,
    "outage_threshold": 4,
    "outage_hold": 0.3,
    "probe_min": 0.1,
    "probe_max": 0.2,
    "lease": 2.0,
    "handle_signals": False,
}


@pytest.fixture
def flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """While this file exists, the qualifier's side is down (its content says how)."""
    path = tmp_path / "outage"
    monkeypatch.setenv("QUALIFY_TEST_OUTAGE", str(path))
    return path


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="qualify.worker")
    return caplog


def lines(log: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in log.records if r.getMessage().startswith(start)]


class Running:
    """A worker in a thread of this process."""

    def __init__(self, app: Qualify, **options: object) -> None:
        self.worker: Worker = app.worker(WorkerOptions(**{**FAST, **options}))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.worker.run, name="test-worker")
        self.thread.start()

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not finish"


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.worker.stop(release_now=True)
        r.thread.join(10)


def start(started: list[Running], app: Qualify, **options: object) -> Running:
    started.append(Running(app, **options))
    return started[-1]


def attempts(app: Qualify, run_id: int) -> dict[str, int]:
    rows = raw(app).fetchall("SELECT domain, attempts FROM jobs WHERE run_id = ?", (run_id,))
    return {domain: count for domain, count in rows}


def recorded(app: Qualify, run_id: int) -> int:
    states = app.runs.count_jobs_by_state(run_id)
    return sum(states.get(s, 0) for s in ("done", "failed", "waiting"))


def test_a_certain_failure_pauses_at_once_and_the_worker_resumes_by_itself(
    app: Qualify, stack: Stack, flag: Path, log, running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 401 from our own model endpoint: one is enough. The probe cannot tell (None), so
    # the worker tries one job at a time.
    flag.write_text("certain")
    monkeypatch.setenv("QUALIFY_TEST_PROBE", "none")
    domains = [f"company{i}.com" for i in range(12)]
    run_id = create_run(app, domains, qualifier=OUTAGE)
    worker = start(running, app, concurrency=3, burst=True).worker
    wait_until(lambda: any(w.state == "paused" for w in app.workers.list()), timeout=20)
    reason = "llm endpoint: the model endpoint answered 401: our API key is refused"
    assert worker.paused == reason

    check = invoke(*stack.cli, "status", "--check")
    assert check.exit_code == 3
    assert f"PAUSED worker {app.workers.list()[0].hostname}:" in check.stdout
    assert reason in check.stdout
    status = json.loads(invoke(*stack.cli, "status", "--json").stdout)
    (row,) = status["workers"]
    assert row["state"] == "paused" and row["paused"]["reason"] == reason
    shown = " ".join(invoke(*stack.cli, "status").stdout.split())
    assert "PAUSED: " + reason in shown and "resumes by itself" in shown

    # Probing with one job at a time, for a while: nothing is recorded, nothing charged.
    most = 0

    def tried_enough() -> bool:
        nonlocal most
        most = max(most, len(running_now(app)))
        return len(calls(str(stack.log))) >= 5

    wait_until(tried_enough, timeout=20, interval=0.01)
    assert most <= 1, "a paused worker ran more than one job at a time"
    assert recorded(app, run_id) == 0
    # One statement, so one moment: only a job being tried right now holds an attempt.
    charged = raw(app).scalar(
        "SELECT COUNT(*) FROM jobs WHERE run_id = ? AND state != 'running' AND attempts > 0",
        (run_id,),
    )
    assert charged == 0

    flag.unlink()
    running[0].join()
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 12, 0)
    assert set(attempts(app, run_id).values()) == {1}
    assert_consistent(app, run_id)
    assert len(lines(log, "paused: ")) == 1 and len(lines(log, "resumed: ")) == 1
    assert [w.state for w in app.workers.list()] == ["stopped"]
    assert invoke(*stack.cli, "status", "--check").exit_code == 0


def running_now(app: Qualify) -> set[str]:
    return {lease.domain for lease in app.activity.leases_expiring(3600)}


def test_many_suspect_failures_pause_until_the_probe_answers(
    app: Qualify, stack: Stack, flag: Path, log, running
) -> None:
    flag.write_text("down")  # every lookup fails, as when our DNS is down
    domains = [f"company{i}.com" for i in range(16)]
    run_id = create_run(app, domains, qualifier=OUTAGE)
    worker = start(running, app, concurrency=2, burst=True).worker
    wait_until(lambda: worker.paused is not None, timeout=20)
    assert worker.paused == "network (4 of the last 4 lookups failed)"
    wait_until(lambda: any(w.state == "paused" for w in app.workers.list()), timeout=10)
    # The suspect outcomes were held, then handed back: no "no such name" was recorded.
    wait_until(lambda: not running_now(app), timeout=10)
    assert recorded(app, run_id) == 0
    assert set(attempts(app, run_id).values()) == {0}

    flag.unlink()  # the network is back: the qualifier's probe says so
    running[0].join()
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 16, 0)
    verdicts = app.runs.count_verdicts(run_id)
    assert "unknown" not in verdicts  # real results, not the dead-site fallback
    assert set(attempts(app, run_id).values()) == {1}
    assert_consistent(app, run_id)
    assert len(lines(log, "paused: ")) == 1 and len(lines(log, "resumed: ")) == 1


def test_a_dead_site_among_healthy_ones_is_recorded_as_what_it_is(
    app: Qualify, stack: Stack, flag: Path, log, running
) -> None:
    domains = ["dead-acme.com"] + [f"company{i}.com" for i in range(10)]
    run_id = create_run(app, domains, qualifier=OUTAGE)
    start(running, app, concurrency=2, burst=True, outage_hold=30.0).join()
    record = app.runs.job(run_id, "dead-acme.com")
    # A healthy job vouched for our side long before the 30 s hold was over: it was
    # recorded while the rest of the run went on, not after the hold. (It may share its
    # round, and so its finish time, with the run's last jobs: a round records together
    # whatever finished together.)
    assert (record.state, record.verdict, record.attempts) == ("done", "unknown", 1)
    assert record.finished_at is not None
    assert record.finished_at - app.runs.get(run_id).created_at < 15
    assert record.extra["error"] == "dns_nxdomain"
    assert app.runs.get(run_id).completed == 11
    assert lines(log, "paused: ") == []
    assert_consistent(app, run_id)


def test_a_few_suspects_at_the_end_of_a_run_are_judged_by_the_probe(
    app: Qualify, flag: Path, log, running
) -> None:
    # No healthy job comes after them; after the hold the probe finds our side fine.
    run_id = create_run(app, ["dead-a.com", "dead-b.com"], qualifier=OUTAGE)
    start(running, app, concurrency=2, burst=True).join()
    assert app.runs.count_verdicts(run_id) == {"unknown": 2}
    assert set(attempts(app, run_id).values()) == {1}
    assert lines(log, "paused: ") == []


def test_a_list_of_dead_sites_is_a_false_alarm_when_the_probe_answers(
    app: Qualify, flag: Path, log, running
) -> None:
    run_id = create_run(app, [f"dead-{i}.com" for i in range(8)], qualifier=OUTAGE)
    start(running, app, concurrency=4, burst=True).join()
    run = app.runs.get(run_id)
    assert (run.status, run.completed) == ("COMPLETED", 8)
    assert app.runs.count_verdicts(run_id) == {"unknown": 8}
    assert set(attempts(app, run_id).values()) == {1}
    assert lines(log, "paused: ") == []
    assert any("they are the sites' own failures" in m for m in lines(log, "4 of the last"))


def test_with_the_breaker_off_suspects_are_recorded_at_once(
    app: Qualify, flag: Path, log, running
) -> None:
    flag.write_text("down")
    run_id = create_run(app, [f"company{i}.com" for i in range(6)], qualifier=OUTAGE)
    start(running, app, concurrency=2, burst=True, outage_threshold=0).join()
    assert app.runs.count_verdicts(run_id) == {"unknown": 6}
    assert lines(log, "paused: ") == []


def test_a_worker_stopping_hands_back_what_it_holds_uncharged(
    app: Qualify, flag: Path, running
) -> None:
    run_id = create_run(app, ["dead-a.com", "dead-b.com"], qualifier=OUTAGE)
    worker = start(running, app, concurrency=2, outage_hold=60.0).worker
    wait_until(lambda: len(worker.outage._held) == 2, timeout=10)
    worker.stop()
    running[0].join()
    assert app.runs.count_jobs_by_state(run_id) == {"queued": 2}
    assert set(attempts(app, run_id).values()) == {0}


def test_outage_options_are_checked() -> None:
    for bad in ({"outage_threshold": 30}, {"outage_window": 0}, {"probe_max": 0.01}):
        with pytest.raises(Exception, match=r"outage threshold|probe interval"):
            WorkerOptions(**bad)  # type: ignore[arg-type]


def test_the_dashboard_shows_a_paused_worker_and_a_dead_one_is_not_paused(
    app: Qualify, stack: Stack
) -> None:
    from rich.console import Console

    from qualify.cli.live import dashboard_view
    from qualify.dashboard import Dashboard

    for worker_id in ("paused:1:aa", "gone:2:bb"):
        app.workers.register(
            worker_id, hostname=worker_id.split(":")[0], pid=1, concurrency=2, lease=30,
            version="t",
        )  # fmt: skip
        app.workers.paused(worker_id, reason="network (9 of the last 9 lookups failed)",
                           next_probe_in=20)  # fmt: skip
    raw(app).execute("UPDATE workers SET heartbeat_at = {now} - 300 WHERE id = 'gone:2:bb'")
    console = Console(record=True, width=200)
    console.print(dashboard_view(Dashboard(app).refresh(), "test"))
    shown = console.export_text()
    assert re.search(
        r"PAUSED: network \(9 of the last 9 lookups failed\) for 0s; next probe in (19|20)s", shown
    )
    assert "Worker paused:1 PAUSED" in shown and "Worker gone:2" not in shown
    assert {w.state for w in app.workers.list()} == {"paused", "dead"}
    check = invoke(*stack.cli, "status", "--check")
    assert check.exit_code == 3 and check.stdout.count("PAUSED worker") == 1
    app.workers.stopped("paused:1:aa", processed=0, failed=0)  # a stopped worker is not paused
    assert invoke(*stack.cli, "status", "--check").exit_code == 0
