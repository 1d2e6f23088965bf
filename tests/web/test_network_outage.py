"""Our network fails in the middle of a run: real `qualify worker` processes fetch directly
over the simulated internet (its DNS server, its HTTPS hosts on 127.R.x.y) while the test
takes the whole network down and up again.

No job is recorded during the outage, no attempt is charged, the worker pauses and resumes
by itself, and the run completes with every domain exactly once and the right verdicts. A
name that really does not exist, among healthy lookups, is still a result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qualify.api import Qualify, prepare_run
from qualify.store import WorkerInfo
from tests.simnet import SimInternet
from tests.simnet.nameserver import SERVFAIL
from tests.support import Stack, assert_consistent, raw, wait_until, write_inputs
from tests.web.conftest import EXAMPLE_ICP, fresh_names

# Small thresholds so that a few domains show the pattern; probing every second at most.
BREAKER = ("--outage-window", "6", "--outage-threshold", "4", "--probe-every", "1s")
BACKENDS = pytest.mark.parametrize("stack", ["sqlite", "postgres"], indirect=True)


def web_run(app: Qualify, domains: list[str], tmp_path: Path, *, max_attempts: int = 3) -> int:
    icp = json.loads(EXAMPLE_ICP.read_text(encoding="utf-8"))
    icp_path, domains_path = write_inputs(tmp_path, domains, icp)
    prepared = prepare_run(icp_path, domains_path, "web")
    return app.create_run(prepared, max_attempts=max_attempts, backoff=0.2).run_id


def paused_workers(app: Qualify) -> list[WorkerInfo]:
    return [w for w in app.workers.list() if w.state == "paused"]


def snapshot(app: Qualify, run_id: int) -> tuple:
    """What is recorded: job states and results, and every attempt charged to a job not
    running right now (one statement each, so each one moment)."""
    sql = raw(app)
    states = sorted(
        sql.fetchall(
            "SELECT state, COUNT(*) FROM jobs WHERE run_id = ?"
            " AND state NOT IN ('running', 'queued') GROUP BY state",
            (run_id,),
        )
    )
    results = sql.scalar("SELECT COUNT(*) FROM results WHERE run_id = ?", (run_id,))
    charged = sql.scalar(
        "SELECT COUNT(*) FROM jobs WHERE run_id = ? AND state = 'queued' AND attempts > 0",
        (run_id,),
    )
    return tuple(states), results, charged


def assert_all_qualified_once(app: Qualify, run_id: int, domains: list[str]) -> None:
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", len(domains), 0)
    records = {r.domain: r for r in app.runs.records(run_id)}
    assert sorted(records) == sorted(domains)
    assert {r.verdict for r in records.values()} == {"qualified"}
    assert {r.extra.get("error") for r in records.values()} == {None}
    # Jobs handed back during the outage ran again without an attempt charged for it.
    assert {r.attempts for r in records.values()} == {1}
    assert_consistent(app, run_id)


def take_down_mid_run(app: Qualify, net: SimInternet, run_id: int, how: str, done: int) -> None:
    """Once ``done`` jobs are done, take the network down ``how``; wait for the pause and
    check that nothing is recorded while the worker is paused."""
    wait_until(lambda: app.runs.get(run_id).completed >= done, timeout=60)
    net.down(how)
    wait_until(lambda: paused_workers(app), timeout=60)
    (worker,) = paused_workers(app)
    noun = "connections" if how == "refused" else "lookups"
    reason = worker.paused_reason or ""
    assert reason.startswith("network (") and f" {noun} failed" in reason, reason
    # Jobs that were past their lookups when the network went may still finish, with true
    # results; from when none is in flight, nothing may change until the network is back.
    wait_until(lambda: not app.runs.live_leases(run_id), timeout=30)
    before = snapshot(app, run_id)
    assert before[2] == 0, "an attempt was charged to a job handed back"
    assert ("failed", 1) not in before[0] and all(s != "waiting" for s, _ in before[0])
    time.sleep(1.5)  # probes (every second at most) fail meanwhile
    assert snapshot(app, run_id) == before, "something was recorded during the outage"
    net.up()
    wait_until(lambda: not paused_workers(app), timeout=60)


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["dns-silent", "dns-nxdomain", "refused"])
def test_an_outage_mid_run_records_nothing_and_the_worker_resumes_by_itself(
    app: Qualify, stack: Stack, net: SimInternet, workers, tmp_path: Path, how: str
) -> None:
    domains = fresh_names(net, 40)
    run_id = web_run(app, domains, tmp_path)
    worker = workers("--burst", "--concurrency", "4", *BREAKER, env=net.env())
    take_down_mid_run(app, net, run_id, how, done=6)
    assert worker.wait(timeout=120) == 0, worker.output
    assert_all_qualified_once(app, run_id, domains)
    out = worker.output
    assert out.count(" paused: network (") == 1, out
    assert out.count(" resumed: the network answers again") == 1, out


@pytest.mark.parametrize("stack", ["postgres"], indirect=True)
def test_three_outages_in_one_run_on_postgres(
    app: Qualify, stack: Stack, net: SimInternet, workers, tmp_path: Path
) -> None:
    domains = fresh_names(net, 60)
    run_id = web_run(app, domains, tmp_path)
    worker = workers("--burst", "--concurrency", "4", *BREAKER, env=net.env())
    for number, how in enumerate(("dns-nxdomain", "refused", "dns-silent"), start=1):
        take_down_mid_run(app, net, run_id, how, done=6 * number)
    assert worker.wait(timeout=120) == 0, worker.output
    assert_all_qualified_once(app, run_id, domains)
    assert worker.output.count(" paused: network (") == 3
    assert worker.output.count(" resumed: ") == 3


@BACKENDS
def test_a_name_that_does_not_exist_among_healthy_ones_is_still_a_result(
    app: Qualify, stack: Stack, net: SimInternet, workers, tmp_path: Path
) -> None:
    healthy = fresh_names(net, 16)
    broken = "broken-dns.company"
    net.ns.add(broken, net.addresses[0])
    net.ns.behaviour[broken] = SERVFAIL  # its own DNS server is broken, not ours
    domains = [healthy[0], "gone-for-good.company", *healthy[1:8], broken, *healthy[8:]]
    run_id = web_run(app, domains, tmp_path, max_attempts=2)
    worker = workers("--burst", "--concurrency", "4", *BREAKER, env=net.env())
    assert worker.wait(timeout=120) == 4, worker.output  # a job failed
    gone = app.runs.job(run_id, "gone-for-good.company")
    assert (gone.state, gone.verdict, gone.attempts) == ("done", "unknown", 1)
    assert gone.extra["error"] == "dns_nxdomain"
    failed = app.runs.job(run_id, broken)
    assert (failed.state, failed.error_code, failed.attempts) == ("failed", "dns_temporary", 2)
    run = app.runs.get(run_id)
    assert (run.completed, run.failed, run.qualified) == (17, 1, 16)
    assert " paused: " not in worker.output
    assert f"Run {run_id} finished with 1 failed of 18" in worker.output
    assert_consistent(app, run_id)


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_offline_newcomer_gets_a_paused_run_that_completes_when_the_network_returns(
    stack: Stack, net: SimInternet, tmp_path: Path
) -> None:
    # The first paragraph: `run --wait` with no DNS reachable at all.
    domains = fresh_names(net, 8)
    icp = json.loads(EXAMPLE_ICP.read_text(encoding="utf-8"))
    icp_path, domains_path = write_inputs(tmp_path, domains, icp)
    net.down("dns-silent")
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qualify", "run", icp_path, domains_path, "--wait",
             "--backoff", "200ms", *BREAKER],
            env=stack.env(**net.env()), stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        wait_until(lambda: "paused: network (" in stderr.read_text(), timeout=60)
        with Qualify.open(stack.db) as app:
            run = app.runs.get(1)
            assert (run.status, run.completed, run.failed) == ("PROCESSING", 0, 0)
            assert app.runs.count_jobs_by_state(1).keys() <= {"queued", "running"}
        assert proc.poll() is None  # not COMPLETED with wrong results: waiting
        net.up()
        assert proc.wait(timeout=90) == 0, stderr.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = stderr.read_text()
    paused = [line for line in text.splitlines() if "paused: network (" in line]
    assert len(paused) == 1 and "lookups failed" in paused[0]
    assert "resumed: the network answers again" in text
    assert "Run 1 COMPLETED: 8 done (8 qualified), 0 failed." in text
    with Qualify.open(stack.db) as app:
        assert_all_qualified_once(app, 1, domains)


def test_the_probe_hears_the_network_come_back(net: SimInternet) -> None:
    from qualify.qualifiers.web.fetch import Fetcher

    (canary,) = fresh_names(net, 1)
    plain = Fetcher(net.settings(dns_timeout=0.5))
    with_canary = Fetcher(net.settings(canary=canary, dns_timeout=0.5))
    try:
        assert plain.probe("dns", "acme.company") is True  # DNS knows the zone
        assert plain.probe("connect", "acme.company") is None  # no canary: try a job
        assert with_canary.probe("connect", "acme.company") is True
        net.down("refused")
        assert with_canary.probe("connect", "acme.company") is False
        assert with_canary.probe("dns", "acme.company") is True  # names still resolve
        net.up()
        net.down("dns-nxdomain")
        assert plain.probe("dns", "acme.company") is False
        assert with_canary.probe("dns", "acme.company") is False
        net.up()
        assert with_canary.probe("connect", "acme.company") is True
    finally:
        plain.close()
        with_canary.close()
