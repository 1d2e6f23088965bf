"""The job state machine on a real database: each invariant attacked directly."""

from __future__ import annotations

import pickle
import threading

import pytest

from qualify.api import Qualify
from qualify.qualifiers import check_result
from qualify.store import ClaimedJob
from tests.support import assert_consistent, create_run, push_raw, raw

RESULT = check_result({"score": 90, "verdict": "qualified", "reasons": ["fits"], "evidence": {}})


def expire_leases(app: Qualify, *job_ids: int) -> None:
    """Let time pass for these leases: they expired a minute ago."""
    raw(app).execute(
        "UPDATE jobs SET lease_expires_at = {now} - 60"
        f" WHERE id IN ({', '.join('?' * len(job_ids))})",
        job_ids,
    )


def job_row(app: Qualify, job_id: int) -> dict:
    row = raw(app).fetchone(
        "SELECT state, attempts, lease_owner, error_code, error FROM jobs WHERE id = ?", (job_id,)
    )
    return dict(zip(("state", "attempts", "lease_owner", "error_code", "error"), row, strict=True))


def claim_one(app: Qualify, owner: str, lease: float = 30.0) -> ClaimedJob:
    taken, claimed = app.jobs.claim_next(1, owner, lease)
    assert taken == 1 and len(claimed) == 1
    return claimed[0]


# -- invariant 1: claim is atomic -----------------------------------------------------------


def test_a_job_is_claimed_once_even_when_its_message_is_duplicated(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com"])
    app.queue.push([1, 1, 1])  # three more copies of the same message
    first = claim_one(app, "w1")
    for _ in range(3):
        _taken, claimed = app.jobs.claim_next(5, "w2", 30)
        assert claimed == []
    assert app.queue.is_empty()
    assert first.attempts == 1
    assert app.runs.get(run_id).status == "PROCESSING"


def test_concurrent_claims_of_one_job_have_one_winner(app: Qualify, stack) -> None:
    create_run(app, ["acme.com"])
    results: list[list[ClaimedJob]] = []
    barrier = threading.Barrier(8)

    def contend(n: int) -> None:
        contender = stack.open()  # its own connection, as another worker would have
        barrier.wait()
        results.append(contender.jobs.claim([1], f"w{n}", 30))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [claimed for claimed in results if claimed]
    assert len(results) == 8 and len(winners) == 1
    assert job_row(app, 1)["lease_owner"] == winners[0][0].owner


def test_a_stale_message_for_a_finished_job_claims_nothing(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com"])
    job = claim_one(app, "w1")
    assert app.jobs.complete(job, RESULT)
    app.queue.push([job.id])
    assert app.jobs.claim_next(1, "w2", 30) == (1, [])
    assert job_row(app, job.id)["state"] == "done"
    assert_consistent(app, run_id)


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(("os.system", "echo pwned")),  # what a pickle-based queue would run
        b"qualify-job:1; DROP TABLE jobs",
        b"qualify-job:-1",
        b"\xff\xfe",
    ],
    ids=["pickle", "injection", "negative", "binary"],
)
def test_a_forged_message_is_refused_and_logged(app: Qualify, caplog, payload: bytes) -> None:
    create_run(app, ["acme.com"])
    push_raw(app, payload)
    assert app.jobs.claim_next(1, "w1", 30) == (0, [])
    assert "refused a queue message" in caplog.text
    _, claimed = app.jobs.claim_next(5, "w1", 30)
    assert [job.domain for job in claimed] == ["acme.com"]


# -- invariant 2: completion is fenced ------------------------------------------------------


def test_a_worker_whose_lease_was_taken_cannot_record(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com"])
    stale = claim_one(app, "w1")
    expire_leases(app, stale.id)
    assert app.jobs.reclaim_expired().requeued == 1
    fresh = claim_one(app, "w2")
    assert not app.jobs.complete(stale, RESULT)
    assert not app.jobs.fail(stale, "x", "late failure")
    assert not app.jobs.retry_later(stale, 1, "x", "late retry")
    assert job_row(app, fresh.id)["lease_owner"] == "w2"
    assert app.jobs.complete(fresh, RESULT)
    assert not app.jobs.complete(fresh, RESULT), "a result can be recorded only once"
    assert_consistent(app, run_id)
    assert app.runs.get(run_id).status == "COMPLETED"


def test_a_round_of_failures_records_each_fenced_by_its_own_lease(app: Qualify) -> None:
    # One statement per kind records a whole round's retries and failures: each still
    # applies only while its own lease holds, with its own delay, code and message.
    from qualify.store import Outcome

    run_id = create_run(app, [f"c{i}.com" for i in range(6)])
    _, jobs = app.jobs.claim_next(6, "w1", 30)
    stale_retry, stale_fail = jobs[4], jobs[5]
    expire_leases(app, stale_retry.id, stale_fail.id)
    assert app.jobs.reclaim_expired().requeued == 2
    _, again = app.jobs.claim_next(2, "w1", 30)  # the same worker's newer claims
    assert {job.id for job in again} == {stale_retry.id, stale_fail.id}
    recorded = app.jobs.record([
        Outcome.retry(jobs[0], 60, "timeout", "slow 'site'"),
        Outcome.retry(jobs[1], 1, "dns", "no answer\tyet"),
        Outcome.failed(jobs[2], "blocked", "robots.txt"),
        Outcome.failed(jobs[3], "gone", "410 ✓"),
        Outcome.retry(stale_retry, 5, "late", "lease lost"),
        Outcome.failed(stale_fail, "late", "lease lost"),
    ])  # fmt: skip
    assert recorded == {job.id for job in jobs[:4]}
    states = {job.id: job_row(app, job.id) for job in jobs}
    assert [(states[j.id]["state"], states[j.id]["error_code"], states[j.id]["error"])
            for j in jobs[:4]] == [
        ("waiting", "timeout", "slow 'site'"), ("waiting", "dns", "no answer\tyet"),
        ("failed", "blocked", "robots.txt"), ("failed", "gone", "410 ✓"),
    ]  # fmt: skip
    for job in (stale_retry, stale_fail):
        assert (states[job.id]["state"], states[job.id]["attempts"]) == ("running", 2)
    waits = raw(app).fetchall(
        "SELECT next_attempt_at - updated_at FROM jobs WHERE id IN (?, ?) ORDER BY id",
        (jobs[0].id, jobs[1].id),
    )
    assert [round(row[0]) for row in waits] == [60, 1]
    assert app.runs.get(run_id).failed == 2
    assert_consistent(app, run_id)


def test_fencing_tells_apart_two_claims_by_the_same_worker(app: Qualify) -> None:
    create_run(app, ["acme.com"])
    first = claim_one(app, "w1")
    expire_leases(app, first.id)
    app.jobs.reclaim_expired()
    second = claim_one(app, "w1")
    assert (first.owner, first.attempts) == ("w1", 1) and second.attempts == 2
    assert not app.jobs.complete(first, RESULT)
    assert app.jobs.complete(second, RESULT)


def test_a_claim_before_a_release_cannot_record_after_the_same_worker_claims_again(
    app: Qualify,
) -> None:
    # A release gives the attempt back, so (owner, attempts) repeats; the claim number
    # does not.
    create_run(app, ["acme.com"])
    first = claim_one(app, "w1")
    assert app.jobs.release([first]) == 1
    second = claim_one(app, "w1")
    assert (first.attempts, second.attempts) == (1, 1)
    assert second.claim == first.claim + 1
    assert not app.jobs.fail(first, "x", "a late failure from the first claim")
    assert not app.jobs.complete(first, RESULT)
    assert not app.jobs.release([first])
    assert job_row(app, second.id)["state"] == "running"
    assert app.jobs.complete(second, RESULT)


def test_who_recorded_each_outcome_is_kept(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com", "globex.io", "initech.com"], max_attempts=2)
    done, failed, retried = sorted(app.jobs.claim_next(3, "host-a:1:aa", 30.0)[1],
                                   key=lambda job: job.domain)  # fmt: skip
    assert app.jobs.complete(done, RESULT)
    assert app.jobs.fail(failed, "nope", "cannot")
    assert app.jobs.retry_later(retried, 0, "flaky", "later")
    assert [(r.domain, r.recorded_by, r.attempts) for r in app.runs.records(run_id)] == [
        ("acme.com", "host-a:1:aa", 1),
        ("globex.io", "host-a:1:aa", 1),
        ("initech.com", "host-a:1:aa", 1),
    ]
    app.jobs.promote_due(force=True)
    again = claim_one(app, "host-b:2:bb")
    assert app.runs.job(run_id, "initech.com").recorded_by is None  # running: not yet
    expire_leases(app, again.id)
    app.jobs.reclaim_expired()  # its last attempt's lease expired: no worker recorded it
    record = app.runs.job(run_id, "initech.com")
    assert (record.state, record.error_code, record.recorded_by) == ("failed", "lease_expired",
                                                                     None)  # fmt: skip


def test_the_unique_key_refuses_a_second_result(app: Qualify) -> None:
    import peewee
    import pytest

    create_run(app, ["acme.com"])
    job = claim_one(app, "w1")
    assert app.jobs.complete(job, RESULT)
    with pytest.raises(peewee.IntegrityError):
        raw(app).execute(
            "INSERT INTO results (job_id, run_id, verdict, reasons, evidence, extra, created_at)"
            " VALUES (?, ?, 'qualified', '[]', '{}', '{}', 0)",
            (job.id, job.run_id),
        )


# -- invariant 3: leases are renewed --------------------------------------------------------


def test_renew_extends_only_the_owners_leases(app: Qualify) -> None:
    create_run(app, ["acme.com", "globex.io"])
    mine = claim_one(app, "w1", lease=5)
    theirs = claim_one(app, "w2", lease=5)
    before = raw(app).scalar("SELECT lease_expires_at FROM jobs WHERE id = ?", (mine.id,))
    assert app.jobs.renew("w1", [mine.id, theirs.id], 300) == {mine.id}
    after = raw(app).scalar("SELECT lease_expires_at FROM jobs WHERE id = ?", (mine.id,))
    assert after - before > 290
    assert app.jobs.renew("w1", [theirs.id], 300) == set()


# -- invariant 4: expired leases are reclaimed, poison pills end ----------------------------


def test_reclaim_requeues_expired_and_spares_live_leases(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com", "globex.io"])
    dead = claim_one(app, "dead-worker")
    live = claim_one(app, "live-worker")
    expire_leases(app, dead.id)
    report = app.jobs.reclaim_expired()
    assert (report.requeued, report.failed) == (1, 0)
    assert job_row(app, dead.id)["state"] == "queued"
    assert job_row(app, dead.id)["error_code"] == "lease_expired"
    assert job_row(app, live.id)["state"] == "running"
    assert app.queue.held_job_ids() == {dead.id}
    assert_consistent(app, run_id)


def test_a_poison_pill_fails_after_its_attempts(app: Qualify) -> None:
    run_id = create_run(app, ["poison-x.com", "acme.com"], max_attempts=3)
    for attempt in range(1, 4):
        _taken, claimed = app.jobs.claim_next(1, f"w{attempt}", 30)
        job = claimed[0]
        assert (job.domain, job.attempts) == ("poison-x.com", attempt)
        expire_leases(app, job.id)  # the worker died with it
        report = app.jobs.reclaim_expired()
        if attempt < 3:
            assert report.requeued == 1
            # Behind the other job in the queue now.
            other = claim_one(app, "w-other") if attempt == 1 else None
            if other:
                assert app.jobs.complete(other, RESULT)
    row = job_row(app, job.id)
    assert row["state"] == "failed" and row["error_code"] == "lease_expired"
    assert "attempt 3 of 3" in row["error"]
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 1, 1)
    assert_consistent(app, run_id)


# -- invariant 5: nothing waits on a lost message -------------------------------------------


def test_reconciler_requeues_jobs_whose_message_was_lost(app: Qualify) -> None:
    create_run(app, ["acme.com", "globex.io", "initech.com"])
    claim_one(app, "w1")
    app.queue.flush()  # the two remaining messages are lost
    assert app.jobs.has_orphans() and app.jobs.may_have_lost_messages()
    assert app.jobs.requeue_lost(grace=3600) == 0, "recently changed jobs are left alone"
    assert app.jobs.requeue_lost(grace=0) == 2
    assert sorted(app.queue.held_job_ids()) == [2, 3]
    assert app.jobs.requeue_lost(grace=0) == 0, "jobs the queue holds are not pushed again"


# -- invariant 6: a run's status follows its jobs -------------------------------------------


def test_retry_waits_then_promotes_when_due(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com"])
    job = claim_one(app, "w1")
    assert app.jobs.retry_later(job, 60, "flaky", "try later")
    assert job_row(app, job.id)["state"] == "waiting"
    assert app.queue.is_empty()
    assert app.jobs.promote_due() == 0, "not due for a minute"
    raw(app).execute("UPDATE jobs SET next_attempt_at = {now} - 1 WHERE id = ?", (job.id,))
    assert app.jobs.promote_due() == 1
    again = claim_one(app, "w2")
    assert again.attempts == 2
    assert app.jobs.fail(again, "nope", "gave up")
    run = app.runs.get(run_id)
    assert (run.status, run.failed, run.completed) == ("COMPLETED", 1, 0)
    assert_consistent(app, run_id)


def test_release_hands_jobs_back_without_counting_the_attempt(app: Qualify) -> None:
    create_run(app, ["acme.com"])
    job = claim_one(app, "w1")
    assert app.jobs.release([job]) == 1
    row = job_row(app, job.id)
    assert (row["state"], row["attempts"], row["lease_owner"]) == ("queued", 0, None)
    assert app.queue.held_job_ids() == {job.id}


def test_cancel_ends_unfinished_jobs_and_fences_running_ones(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com", "globex.io", "initech.com"])
    done = claim_one(app, "w1")
    app.jobs.complete(done, RESULT)
    running = claim_one(app, "w1")
    assert app.cancel(run_id) == 2
    assert not app.jobs.complete(running, RESULT)
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.cancelled) == ("CANCELLED", 1, 2)
    assert app.jobs.claim_next(5, "w2", 30)[1] == []
    assert_consistent(app, run_id)


def test_retry_failed_reopens_a_completed_run(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com", "globex.io"])
    for _ in range(2):
        app.jobs.fail(claim_one(app, "w1"), "nope", "bad")
    assert app.runs.get(run_id).status == "COMPLETED"
    assert app.retry(run_id).requeued == 2
    run = app.runs.get(run_id)
    assert (run.status, run.failed, run.finished_at) == ("PROCESSING", 0, None)
    job = claim_one(app, "w2")
    assert job.attempts == 1
    assert_consistent(app, run_id)


def test_counters_track_a_mixed_run(app: Qualify) -> None:
    domains = [f"company{i}.com" for i in range(30)]
    run_id = create_run(app, domains)
    unqualified = check_result({"score": 10, "verdict": "unqualified"})
    for i in range(30):
        job = claim_one(app, "w1")
        if i % 3 == 0:
            app.jobs.complete(job, RESULT)
        elif i % 3 == 1:
            app.jobs.complete(job, unqualified)
        else:
            app.jobs.fail(job, "nope", "bad")
        assert_consistent(app, run_id)
    run = app.runs.get(run_id)
    assert (run.completed, run.qualified, run.failed, run.status) == (20, 10, 10, "COMPLETED")


def test_recover_fail_spares_a_lease_taken_after_the_run_looked_stuck(app: Qualify) -> None:
    run_id = create_run(app, ["acme.com", "globex.io", "initech.com"])
    raw(app).execute("UPDATE runs SET updated_at = {now} - 3600 WHERE id = ?", (run_id,))
    raw(app).execute("UPDATE jobs SET updated_at = {now} - 3600 WHERE run_id = ?", (run_id,))
    assert [run.id for run in app.runs.stuck(60)] == [run_id]  # what `recover` decided on
    held = claim_one(app, "w1")  # ...while a worker took a job
    assert app.jobs.fail_unfinished(run_id, "given up") == 2
    assert job_row(app, held.id)["state"] == "running"
    assert app.jobs.complete(held, RESULT), "the live lease's result is still recorded"
    states = app.runs.count_jobs_by_state(run_id)
    assert states == {"done": 1, "failed": 2}
    assert_consistent(app, run_id)
