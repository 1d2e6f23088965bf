"""Real worker processes, really killed: every domain still ends with exactly one result."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from qualify.api import Qualify
from tests.sample_qualifiers import calls
from tests.support import (
    BY_NAME,
    Stack,
    WorkerProcess,
    assert_consistent,
    create_run,
    raw,
    wait_until,
    write_inputs,
)

LEASE = "1s"


def running_owners(app: Qualify, run_id: int) -> list[str]:
    rows = raw(app).fetchall(
        "SELECT lease_owner FROM jobs WHERE run_id = ? AND state = 'running'", (run_id,)
    )
    return [row[0] for row in rows]


def live_worker_pids(app: Qualify) -> set[int]:
    return {w.pid for w in app.workers.list() if w.state == "alive"}


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])


def test_kill_9_at_random_moments_then_restart(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"company{i}.com" for i in range(400)]
    run_id = create_run(app, domains, qualifier="tests.sample_qualifiers:jittery")
    rng = random.Random(2026)
    args = ("--lease", LEASE, "--concurrency", "4", "-q")
    env = {"QUALIFY_TEST_JITTER_MS": "150"}
    fleet = [workers(*args, env=env) for _ in range(3)]
    kills_with_work_in_flight = 0
    deadline = time.monotonic() + 60
    while app.runs.get(run_id).active and kills_with_work_in_flight < 12:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(rng.uniform(0.05, 0.4))
        # Kill a worker that holds at least one job right now, mid-qualification.
        busy = {pid_of(owner) for owner in running_owners(app, run_id)}
        victims = [w for w in fleet if w.pid in busy and w.proc.poll() is None]
        if not victims:
            continue
        victim = rng.choice(victims)
        victim.kill9()
        kills_with_work_in_flight += 1
        fleet[fleet.index(victim)] = workers(*args, env=env)
    # SIGTERM once every worker is up (a signal during Python's start-up just kills it).
    wait_until(lambda: {w.pid for w in fleet} <= live_worker_pids(app))
    for worker in fleet:
        worker.signal(signal.SIGTERM)
    for worker in fleet:
        assert worker.wait() == 0, worker.output
    # Whatever the kills left behind, a fresh worker finishes it. Every job a killed worker
    # held is a suspect now, run apart in a process of its own (about a second each, longer
    # on a loaded machine): 16 side by side, and time for a hundred of them.
    final = workers("--burst", "--lease", LEASE, "--concurrency", "16", "-q")
    assert final.wait(timeout=120) == 0, final.output

    assert kills_with_work_in_flight >= 3
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 400, 0)
    assert_consistent(app, run_id)
    exported = [record.domain for record in app.runs.records(run_id)]
    assert sorted(exported) == sorted(domains)
    # Kills interrupted work, so some domains were qualified more than once (at-least-once
    # delivery) while each was recorded exactly once.
    started = Counter(calls(str(stack.log)))
    assert set(started) == set(domains)
    assert sum(started.values()) > len(domains)


def test_a_job_slower_than_its_lease_is_never_run_twice(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = ["slow3500-acme.com", "slow3500-globex.io"] + [f"c{i}.com" for i in range(20)]
    run_id = create_run(app, domains)
    fleet = [workers("--burst", "--lease", LEASE, "--concurrency", "2") for _ in range(2)]
    for worker in fleet:
        assert worker.wait(timeout=60) == 0, worker.output
    started = Counter(calls(str(stack.log)))
    assert started["slow3500-acme.com"] == 1 and started["slow3500-globex.io"] == 1
    assert max(started.values()) == 1
    assert all("lease lost" not in w.output for w in fleet)
    assert app.runs.get(run_id).completed == 22
    assert_consistent(app, run_id)


def test_a_dead_workers_job_is_taken_over_only_after_its_lease_expires(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    run_id = create_run(app, ["slow60000-acme.com"])
    doomed = workers("--lease", "3s")
    wait_until(lambda: running_owners(app, run_id))
    doomed.kill9()
    killed_at = time.monotonic()
    rescuer = workers("--burst", "--lease", "3s", "--grace", "0.2s")
    # The lease is still live: the rescuer must not take the job yet.
    time.sleep(1.0)

    def held_by(worker: WorkerProcess) -> bool:
        owners = running_owners(app, run_id)
        return bool(owners) and pid_of(owners[0]) == worker.pid

    assert held_by(doomed)
    wait_until(lambda: held_by(rescuer), timeout=10)
    taken_over_after = time.monotonic() - killed_at
    assert taken_over_after >= 1.5
    record = app.runs.job(run_id, "slow60000-acme.com")
    assert (record.state, record.attempts, record.error_code) == ("running", 2, "lease_expired")
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait() == 0


def test_a_poison_pill_fails_without_blocking_the_rest(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = ["poison-acme.com"] + [f"company{i}.com" for i in range(30)]
    run_id = create_run(app, domains, max_attempts=3)
    deaths = 0
    # A supervisor restarting workers, as systemd would.
    while app.runs.get(run_id).active:
        worker = workers("--burst", "--lease", "0.6s", "--concurrency", "2", "-q")
        code = worker.wait(timeout=60)
        if code == -signal.SIGKILL:
            deaths += 1
        assert deaths <= 1, "a suspect killed a worker: it should have run apart"
    # The first death made it a suspect; then it ran apart, in a process of its own, and
    # killed only that, twice: three deaths for three attempts, no one else charged.
    assert deaths == 1
    record = app.runs.job(run_id, "poison-acme.com")
    assert (record.state, record.attempts, record.error_code) == (
        "failed", 3, "qualifier_crashed")  # fmt: skip
    assert "the qualifier killed the process running it (signal 9)" in record.error
    assert Counter(calls(str(stack.log)))["poison-acme.com"] == 3
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 30, 1)
    assert_consistent(app, run_id)


def test_recovery_after_a_crash_runs_the_suspects_side_by_side(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    """16 jobs of 3 s running when their worker is killed: the restarted worker runs them
    again, each apart (a child process: a crash implicates only its job) and all at once,
    not one at a time."""
    domains = [f"slow3000-company{i}.com" for i in range(16)]
    run_id = create_run(app, domains)
    doomed = workers("--concurrency", "16", "--lease", "2s")
    wait_until(lambda: len(calls(str(stack.log))) == 16, timeout=30)
    doomed.kill9()
    restarted_at = time.monotonic()
    worker = workers("--burst", "--concurrency", "16", "--lease", "2s")
    assert worker.wait(timeout=120) == 0, worker.output
    took = time.monotonic() - restarted_at
    print(f"16 reclaimed 3 s jobs done {took:.1f}s after the restart (lease 2 s; one at a"
          " time would take 50 s)")  # fmt: skip
    run = app.runs.get(run_id)
    assert (run.status, run.completed) == ("COMPLETED", 16)
    assert_consistent(app, run_id)
    # Side by side: every second start came before any second end (the log is in order).
    with open(stack.log) as log:
        events = [line.split()[:2] for line in log]
    second_run = events[16:]
    first_end = next(i for i, (event, _) in enumerate(second_run) if event == "end")
    assert [event for event, _ in second_run[:first_end]] == ["start"] * 16
    # ...each in a process of its own.
    with open(stack.log) as log:
        pids = {line.split()[2] for line in list(log)[16:] if line.startswith("start")}
    assert len(pids) == 16 and str(worker.pid) not in pids


def test_duplicated_queue_messages_run_each_job_once(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"slow20-company{i}.com" for i in range(40)]
    run_id = create_run(app, domains)
    app.queue.push(list(range(1, 41)) * 3)  # every message three more times
    fleet = [workers("--burst", "--concurrency", "4") for _ in range(2)]
    for worker in fleet:
        assert worker.wait(timeout=60) == 0
    assert Counter(calls(str(stack.log))) == Counter(domains)
    assert app.queue.is_empty()
    assert_consistent(app, run_id)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_hands_in_flight_jobs_back_and_exits_0(
    app: Qualify, workers: Callable[..., WorkerProcess], sig: int
) -> None:
    run_id = create_run(app, ["hang-acme.com", "hang-globex.io", "initech.com"])
    worker = workers("--concurrency", "2", "--grace", "0.3s", "--lease", "30s")
    wait_until(lambda: len(running_owners(app, run_id)) == 2)
    sent = time.monotonic()
    worker.signal(sig)
    assert worker.wait(timeout=15) == 0, worker.output
    assert time.monotonic() - sent < 10, "nobody should wait for the 30s lease"
    assert app.runs.count_jobs_by_state(run_id) == {"queued": 3}
    assert app.queue.held_job_ids() >= {1, 2}
    for domain in ("hang-acme.com", "hang-globex.io"):
        assert app.runs.job(run_id, domain).attempts == 0
    assert "handed 2 in-flight jobs back" in worker.output


def test_a_signal_lets_short_jobs_finish_within_the_grace(
    app: Qualify, workers: Callable[..., WorkerProcess]
) -> None:
    run_id = create_run(app, ["slow800-acme.com"])
    worker = workers("--grace", "10s")
    wait_until(lambda: running_owners(app, run_id))
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert app.runs.job(run_id, "slow800-acme.com").state == "done"
    assert app.runs.get(run_id).status == "COMPLETED"


def run_in_subprocess(stack: Stack, tmp_path: Path, domains: list[str], **env: str) -> int:
    icp, domains_file = write_inputs(tmp_path, domains)
    command = [sys.executable, "-m", "qualify", "run", icp, domains_file, "--qualifier", BY_NAME]
    proc = subprocess.run(command, env=stack.env(**env), capture_output=True, text=True)
    return proc.returncode


def test_a_crash_between_commit_and_enqueue_loses_nothing(
    stack: Stack, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"company{i}.com" for i in range(100)]
    app = stack.open()
    if app.queue.transactional:
        # Store and queue commit together: a crash before the enqueue is a crash before the
        # commit, and leaves nothing behind.
        code = run_in_subprocess(stack, tmp_path, domains, QUALIFY_CRASH_AT="run.before_enqueue")
        assert code == -signal.SIGKILL
        assert app.runs.list() == []
        assert raw(app).scalar("SELECT COUNT(*) FROM jobs") == 0
        assert app.queue.is_empty()
        return
    # A queue outside the database: the run is committed, its messages never sent.
    code = run_in_subprocess(stack, tmp_path, domains, QUALIFY_CRASH_AT="run.after_commit")
    assert code == -signal.SIGKILL
    assert app.runs.get(1).total == 100 and app.queue.is_empty()
    worker = workers("--burst", "--lease", "0.5s")
    assert worker.wait(timeout=60) == 0, worker.output
    assert "re-enqueued 100 queued jobs whose queue message was lost" in worker.output
    assert app.runs.get(1).completed == 100
    assert Counter(calls(str(stack.log))) == Counter(domains)
    assert_consistent(app, 1)


def test_a_worker_killed_between_pop_and_claim_loses_nothing(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"company{i}.com" for i in range(20)]
    run_id = create_run(app, domains)
    crashing = workers(
        "--burst", "--concurrency", "4", "--lease", "0.5s",
        env={"QUALIFY_CRASH_AT": "worker.after_pop"},
    )  # fmt: skip
    code = crashing.wait(timeout=60)
    assert code == -signal.SIGKILL
    if app.queue.transactional:
        # Pop and claim are one transaction here: dying between them pops nothing.
        assert app.queue.size() == 20
        assert app.runs.count_jobs_by_state(run_id) == {"queued": 20}
        worker = workers("--burst", "--lease", "0.5s")
        assert worker.wait(timeout=60) == 0, worker.output
        assert "re-enqueued" not in worker.output
    else:
        assert code == -signal.SIGKILL
        assert app.queue.size() == 16, "four messages died with the worker"
        worker = workers("--burst", "--lease", "0.5s")
        assert worker.wait(timeout=60) == 0, worker.output
        assert "re-enqueued 4 queued jobs whose queue message was lost" in worker.output
    assert app.runs.get(run_id).completed == 20
    assert Counter(calls(str(stack.log))) == Counter(domains)
    assert_consistent(app, run_id)


def test_a_crash_between_the_results_and_the_counters_leaves_neither(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"company{i}.com" for i in range(20)]
    run_id = create_run(app, domains)
    crashing = workers(
        "--burst", "--concurrency", "4", "--lease", "0.5s",
        env={"QUALIFY_CRASH_AT": "worker.before_counters"},
    )  # fmt: skip
    assert crashing.wait(timeout=60) == -signal.SIGKILL
    # The round died whole: no result without its counter, no counter without its result.
    assert raw(app).scalar("SELECT COUNT(*) FROM results") == 0
    assert app.runs.get(run_id).completed == 0
    worker = workers("--burst", "--lease", "0.5s")
    assert worker.wait(timeout=60) == 0, worker.output
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed, run.qualified) == (
        "COMPLETED", 20, 0, sum(1 for d in domains if _qualifies(d)))  # fmt: skip
    assert raw(app).scalar("SELECT COUNT(*) FROM results") == 20
    assert_consistent(app, run_id)


def _qualifies(domain: str) -> bool:
    from tests.sample_qualifiers import by_name

    return bool(by_name(domain, {})["verdict"] == "qualified")


def test_messages_lost_after_the_commit_are_recovered(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    """What a crash between the store's commit and the enqueue leaves (on a queue outside the
    database): jobs queued in the store, no message for them. The reconciler re-enqueues."""
    domains = [f"company{i}.com" for i in range(50)]
    run_id = create_run(app, domains)
    app.queue.flush()
    time.sleep(1.1)  # the jobs must look settled: older than two leases of 0.5s
    worker = workers("--burst", "--lease", "0.5s")
    assert worker.wait(timeout=60) == 0, worker.output
    assert "re-enqueued 50 queued jobs whose queue message was lost" in worker.output
    assert app.runs.get(run_id).completed == 50
    assert Counter(calls(str(stack.log))) == Counter(domains)
    assert_consistent(app, run_id)
