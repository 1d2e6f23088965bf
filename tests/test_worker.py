"""The worker in this process: outcomes, retries with backoff, burst exit, job timeouts."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from qualify.api import Qualify
from qualify.errors import InputError
from qualify.worker import Worker, WorkerOptions
from tests.sample_qualifiers import calls
from tests.support import Stack, WorkerProcess, assert_consistent, create_run, wait_until


def work(app: Qualify, **options: object) -> Worker:
    defaults: dict[str, object] = {"burst": True, "lease": 2.0, "handle_signals": False}
    worker = app.worker(WorkerOptions(**{**defaults, **options}))  # type: ignore[arg-type]
    worker.run()
    return worker


def job(app: Qualify, run_id: int, domain: str) -> dict:
    record = app.runs.job(run_id, domain)
    return {
        "state": record.state,
        "attempts": record.attempts,
        "verdict": record.verdict,
        "error_code": record.error_code,
        "error": record.error,
    }


def test_burst_worker_finishes_a_run(app: Qualify, stack: Stack) -> None:
    domains = [f"company{i}.com" for i in range(40)]
    run_id = create_run(app, domains)
    worker = work(app, concurrency=4)
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 40, 0)
    assert worker.stats.done == 40
    assert sorted(calls(str(stack.log))) == sorted(domains)
    assert_consistent(app, run_id)
    assert [w.state for w in app.workers.list()] == ["stopped"]


def test_transient_errors_are_retried_with_backoff_then_succeed(app: Qualify) -> None:
    run_id = create_run(app, ["transient2-acme.com"], backoff=0.2)
    started = time.monotonic()
    work(app)
    took = time.monotonic() - started
    result = job(app, run_id, "transient2-acme.com")
    assert (result["state"], result["attempts"], result["error"]) == ("done", 3, None)
    # Two waits: at least 0.1s then 0.2s (half of 0.2 * 2**(n-1), the jitter's floor).
    assert took >= 0.3


def test_attempts_run_out_and_the_last_error_is_kept(app: Qualify) -> None:
    run_id = create_run(app, ["transient9-acme.com", "globex.io"], max_attempts=3, backoff=0.05)
    work(app)
    result = job(app, run_id, "transient9-acme.com")
    assert (result["state"], result["attempts"], result["error_code"]) == ("failed", 3, "flaky")
    assert result["error"].startswith("gave up after 3 attempts: transient9-acme.com is having")
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 1, 1)


@pytest.mark.parametrize(
    ("domain", "state", "attempts", "code"),
    [
        ("permanent-acme.com", "failed", 1, "nope"),
        ("badresult-acme.com", "failed", 1, "bad_result"),
        ("crash-acme.com", "failed", 2, "unexpected_error"),
    ],
)
def test_error_classification(
    app: Qualify, domain: str, state: str, attempts: int, code: str
) -> None:
    run_id = create_run(app, [domain], max_attempts=2, backoff=0.05)
    work(app)
    result = job(app, run_id, domain)
    assert (result["state"], result["attempts"], result["error_code"]) == (state, attempts, code)
    if code == "unexpected_error":
        assert "ValueError: bug while judging crash-acme.com" in result["error"]


def test_a_qualifier_missing_on_this_worker_is_retried_not_failed_at_once(app: Qualify) -> None:
    run_id = app.runs.create(
        name="x",
        qualifier="module_that_is_not_here:qualify",
        icp={},
        domains=["acme.com"],
        max_attempts=2,
        backoff=0.05,
    )
    work(app)
    result = job(app, run_id, "acme.com")
    assert (result["state"], result["attempts"]) == ("failed", 2)
    assert result["error_code"] == "qualifier_unavailable"
    assert "module_that_is_not_here" in result["error"]


def test_a_hung_job_is_abandoned_and_fails_after_its_attempts(app: Qualify) -> None:
    run_id = create_run(app, ["hang-acme.com", "globex.io"], max_attempts=2)
    worker = work(app, lease=0.6, job_timeout=0.8, concurrency=1)
    result = job(app, run_id, "hang-acme.com")
    # Recorded as what it is, at once, not left to expire as a lost lease.
    assert (result["state"], result["attempts"], result["error_code"]) == (
        "failed", 2, "job_timeout")  # fmt: skip
    assert "ran past the job timeout (0.8s)" in result["error"]
    # The hung threads were replaced, so the other domain was not starved.
    assert job(app, run_id, "globex.io")["state"] == "done"
    assert worker.stats.done == 1


def test_burst_waits_for_retries_that_are_not_due_yet(app: Qualify) -> None:
    run_id = create_run(app, ["transient1-acme.com"], backoff=1.0)
    work(app)
    assert job(app, run_id, "transient1-acme.com")["state"] == "done"


def test_stop_hands_in_flight_jobs_back(app: Qualify) -> None:
    run_id = create_run(app, ["hang-acme.com", "hang-globex.io"])
    worker = app.worker(WorkerOptions(concurrency=2, grace=0.2, handle_signals=False))
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_until(lambda: app.runs.count_jobs_by_state(run_id).get("running") == 2)
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert app.runs.count_jobs_by_state(run_id) == {"queued": 2}
    assert worker.stats.released == 2
    assert app.queue.held_job_ids() == {1, 2}
    assert all(job(app, run_id, d)["attempts"] == 0 for d in ("hang-acme.com", "hang-globex.io"))


def test_options_are_checked() -> None:
    # The library names the setting; the CLI names its flag (tests/test_cli.py, bad inputs).
    with pytest.raises(InputError, match="concurrency"):
        WorkerOptions(concurrency=0)
    with pytest.raises(InputError, match="lease"):
        WorkerOptions(lease=0.1)


def test_a_result_the_store_refuses_fails_its_job_alone(app: Qualify) -> None:
    # Whether it shares a round with the others or not, the failed round is retried one
    # job at a time.
    run_id = create_run(app, ["unstorable-acme.com", "globex.io", "initech.com"])
    worker = work(app, concurrency=3)
    result = job(app, run_id, "unstorable-acme.com")
    assert (result["state"], result["error_code"]) == ("failed", "unrecordable_result")
    assert "the store refused the result" in result["error"]
    assert [job(app, run_id, d)["state"] for d in ("globex.io", "initech.com")] == ["done"] * 2
    assert (worker.stats.done, worker.stats.failed) == (2, 1)


# -- side tasks are watched ------------------------------------------------------------------


def _start_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def test_a_heartbeat_that_cannot_renew_for_a_lease_stops_claiming_until_it_can(
    app: Qualify, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level("WARNING", logger="qualify")
    run_id = create_run(app, [f"slow100-company{i}.com" for i in range(60)])
    worker = app.worker(WorkerOptions(concurrency=1, lease=0.6, handle_signals=False))
    thread = _start_in_thread(worker)
    wait_until(lambda: worker.stats.done >= 2, timeout=10)

    def refuse(*args: object, **kwargs: object) -> set[int]:
        raise RuntimeError("the store refuses to renew (test)")

    monkeypatch.setattr(app.jobs, "renew", refuse)
    wait_until(lambda: "not claiming jobs until it does" in caplog.text, timeout=10)
    claimed = worker.stats.claimed
    time.sleep(1.0)  # a few rounds and heartbeats: nothing new is claimed meanwhile
    assert worker.stats.claimed == claimed
    assert "could not renew leases" in caplog.text
    monkeypatch.undo()
    wait_until(lambda: worker.stats.claimed > claimed, timeout=10)
    assert "claiming jobs again" in caplog.text
    worker.stop()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert_consistent(app, run_id)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_side_task_thread_that_dies_stops_the_worker(
    app: Qualify, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("ERROR", logger="qualify")
    create_run(app, [f"slow50-company{i}.com" for i in range(200)])
    worker = app.worker(WorkerOptions(concurrency=2, lease=2.0, handle_signals=False))

    def die() -> None:
        raise SystemExit("maintenance thread ends (test)")  # not an Exception: it escapes

    worker.maintenance.tick = die  # type: ignore[method-assign]
    thread = _start_in_thread(worker)
    thread.join(timeout=15)
    assert not thread.is_alive(), "the worker went on without its maintenance thread"
    assert "the maintenance thread has died; stopping this worker" in caplog.text
    assert worker.stats.done < 200
    assert [w.state for w in app.workers.list()] == ["stopped"]


def test_a_worker_alive_for_several_leases_shows_alive(
    app: Qualify, workers: Callable[..., WorkerProcess]
) -> None:
    worker = workers("--lease", "1s")  # idle: no job to renew, only its own row
    wait_until(lambda: [w.state for w in app.workers.list()] == ["alive"], timeout=30)
    time.sleep(4)  # four leases: only the heartbeat of its row keeps it alive
    assert [w.state for w in app.workers.list()] == ["alive"], worker.output
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert [w.state for w in app.workers.list()] == ["stopped"]
