"""`qualify retry`: finished jobs run again with fresh attempts, by error code or verdict; how
they had ended is kept as history, the new outcome becomes current, counters stay exact."""

from __future__ import annotations

import threading

import pytest

from qualify.api import Qualify
from qualify.errors import InputError, InvalidStateError
from qualify.worker import WorkerOptions
from tests.support import Stack, assert_consistent, create_run, raw
from tests.test_cli import invoke

# gone1-: unknown / dns_nxdomain on the first call, a real result after; permanent-: fails.
DOMAINS = ["gone1-a.com", "gone1-b.com", "acme.com", "globex.io", "permanent-x.com"]


def work(app: Qualify) -> None:
    app.worker(WorkerOptions(burst=True, handle_signals=False, lease=2)).run()


def history(app: Qualify, run_id: int) -> list[tuple]:
    return raw(app).fetchall(
        "SELECT j.domain, h.state, h.verdict, h.error_code, h.attempts FROM result_history h"
        " JOIN jobs j ON j.id = h.job_id WHERE h.run_id = ? ORDER BY j.domain, h.id",
        (run_id,),
    )


@pytest.fixture
def finished(app: Qualify) -> int:
    run_id = create_run(app, DOMAINS)
    work(app)
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 4, 1)
    assert app.runs.count_verdicts(run_id)["unknown"] == 2
    return run_id


def test_retry_by_code_keeps_the_old_result_and_records_the_new_one(
    app: Qualify, finished: int
) -> None:
    run_id = finished
    before = app.runs.get(run_id)
    report = app.retry(run_id, codes=["dns_nxdomain"])
    assert (report.requeued, report.done, report.failed) == (2, 2, 0)
    run = app.runs.get(run_id)
    # Counters lose exactly the two results; the failed job is untouched.
    assert (run.status, run.completed, run.failed, run.qualified, run.finished_at) == (
        "PROCESSING", before.completed - 2, before.failed, before.qualified, None,
    )  # fmt: skip
    assert app.runs.count_jobs_by_state(run_id) == {"done": 2, "queued": 2, "failed": 1}
    assert history(app, run_id) == [
        ("gone1-a.com", "done", "unknown", None, 1),
        ("gone1-b.com", "done", "unknown", None, 1),
    ]
    assert_consistent(app, run_id)
    work(app)
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 4, 1)
    assert "unknown" not in app.runs.count_verdicts(run_id)  # the new results are current
    record = app.runs.job(run_id, "gone1-a.com")
    assert (record.state, record.attempts, record.extra.get("error")) == ("done", 1, None)
    assert len(history(app, run_id)) == 2  # history stays
    assert run.qualified == raw(app).scalar(
        "SELECT COUNT(*) FROM results WHERE run_id = ? AND verdict = 'qualified'", (run_id,)
    )
    assert_consistent(app, run_id)


def test_retry_by_verdict_and_by_code_of_a_failure(app: Qualify, finished: int) -> None:
    run_id = finished
    report = app.retry(run_id, verdicts=["unknown"], codes=["nope"])
    assert (report.requeued, report.done, report.failed) == (3, 2, 1)
    run = app.runs.get(run_id)
    assert (run.completed, run.failed) == (2, 0)
    assert [row[:4] for row in history(app, run_id)] == [
        ("gone1-a.com", "done", "unknown", None),
        ("gone1-b.com", "done", "unknown", None),
        ("permanent-x.com", "failed", None, "nope"),
    ]
    assert_consistent(app, run_id)
    # Nothing matches any more: a second retry changes nothing.
    assert app.retry(run_id, verdicts=["unknown"], codes=["nope"]).requeued == 0
    assert len(history(app, run_id)) == 3


def test_retrying_every_verdict_takes_the_qualified_count_down_too(
    app: Qualify, finished: int
) -> None:
    run_id = finished
    assert app.runs.get(run_id).qualified == 1  # globex.io
    report = app.retry(run_id, verdicts=["qualified", "review", "unqualified", "unknown"])
    assert (report.requeued, report.done) == (4, 4)
    run = app.runs.get(run_id)
    assert (run.completed, run.qualified, run.failed) == (0, 0, 1)
    assert_consistent(app, run_id)
    work(app)
    run = app.runs.get(run_id)
    assert (run.completed, run.qualified, run.failed) == (4, 3, 1)  # gone1-* qualify now
    assert_consistent(app, run_id)


def test_plain_retry_takes_the_failed_jobs_and_keeps_their_failure(
    app: Qualify, finished: int
) -> None:
    run_id = finished
    assert app.retry(run_id).requeued == 1
    assert [row[:4] for row in history(app, run_id)] == [
        ("permanent-x.com", "failed", None, "nope")
    ]
    work(app)
    assert len(history(app, run_id)) == 1
    app.retry(run_id)
    assert len(history(app, run_id)) == 2  # each retry adds its own
    assert_consistent(app, run_id)


def test_show_lists_the_earlier_outcomes(app: Qualify, stack: Stack, finished: int) -> None:
    app.retry(finished, codes=["dns_nxdomain"])
    work(app)
    shown = invoke(*stack.cli, "show", str(finished), "gone1-a.com").stdout
    assert "Earlier" in shown and "unknown (dns_nxdomain)" not in shown
    assert "unknown, replaced by a retry at " in shown


def test_the_cli_says_what_it_queued(stack: Stack, app: Qualify, finished: int) -> None:
    result = invoke(*stack.cli, "retry", str(finished), "--code", "dns_nxdomain",
                    "--verdict", "unknown")  # fmt: skip
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        f"Run {finished}: 2 jobs queued again (2 with a result, 0 failed); their earlier"
        " outcomes are kept as history"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--verdict", "maybe"], "Invalid value for '--verdict': 'maybe' is not one of"),
        (["--code", " "], "Invalid value for '--code': expected an error code"),
    ],
)
def test_bad_options_write_nothing(
    stack: Stack, app: Qualify, finished: int, args: list[str], message: str
) -> None:
    before = stack.snapshot()
    result = invoke(*stack.cli, "retry", str(finished), *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert stack.snapshot() == before


def test_the_library_refuses_what_the_cli_would(app: Qualify, finished: int) -> None:
    with pytest.raises(InputError, match="verdict 'maybe'"):
        app.retry(finished, verdicts=["maybe"])
    app.cancel(create_run(app, ["later.com"]))
    with pytest.raises(InvalidStateError, match="CANCELLED"):
        app.retry(2, codes=["x"])


def test_two_retries_at_once_requeue_each_job_once(stack: Stack, finished: int) -> None:
    apps = [stack.open(), stack.open()]
    reports = []
    barrier = threading.Barrier(2)

    def retry(app: Qualify) -> None:
        barrier.wait()
        reports.append(app.retry(finished, verdicts=["unknown"]))
        app.database.close()

    threads = [threading.Thread(target=retry, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.requeued for r in reports) == [0, 2]
    assert len(history(apps[0], finished)) == 2
    assert_consistent(apps[0], finished)
