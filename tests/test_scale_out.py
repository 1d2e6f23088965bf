"""Many workers on many "hosts" share runs: distinct identities, skewed clocks, a lost queue."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from qualify.api import Qualify
from qualify.cli import cli
from tests.sample_qualifiers import calls
from tests.support import ROOT, Stack, WorkerProcess, assert_consistent, create_run, raw, wait_until

SKEW_DIR = Path(__file__).resolve().parent / "skew"
SKEWS = {"host-a": -3600.0, "host-b": 0.0, "host-c": 5400.0}


def host_env(host: str, skew: float) -> dict[str, str]:
    return {
        "QUALIFY_HOSTNAME": host,
        "QUALIFY_TEST_CLOCK_SKEW": str(skew),
        "QUALIFY_TEST_JITTER_MS": "60",
        "PYTHONPATH": os.pathsep.join((str(SKEW_DIR), str(ROOT))),
    }


def test_three_hosts_with_skewed_clocks_one_killed_record_each_domain_once(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"company{i}.com" for i in range(240)]
    run_id = create_run(app, domains, qualifier="tests.sample_qualifiers:jittery")
    args = ("--lease", "1s", "--concurrency", "4")
    fleet = {host: workers(*args, env=host_env(host, skew)) for host, skew in SKEWS.items()}

    def busy_hosts() -> set[str]:
        rows = raw(app).fetchall("SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running'")
        return {owner.split(":")[0] for (owner,) in rows}

    def recorded_by(host: str) -> int:
        return raw(app).scalar(
            "SELECT COUNT(*) FROM results WHERE worker_id LIKE ?", (f"{host}:%",)
        )

    # Kill host-b while it holds jobs, once every host has recorded results.
    wait_until(lambda: all(recorded_by(host) for host in SKEWS), timeout=30, interval=0.02)
    wait_until(lambda: "host-b" in busy_hosts(), timeout=30, interval=0.01)
    fleet["host-b"].kill9()
    wait_until(lambda: not app.runs.get(run_id).active, timeout=60)
    for host in ("host-a", "host-c"):
        fleet[host].signal(signal.SIGTERM)
        assert fleet[host].wait() == 0

    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 240, 0)
    assert_consistent(app, run_id)
    assert set(calls(str(stack.log))) == set(domains)
    # The skew was real: host-c's log lines are stamped 90 minutes ahead.
    first_line = fleet["host-c"].output.splitlines()[0]
    stamped = datetime.strptime(first_line[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert stamped.timestamp() - time.time() > 3000
    # Every host is listed, the killed one as dead once its heartbeat is a lease old.
    time.sleep(1.2)
    status = CliRunner().invoke(cli, ["--db", stack.db, "status", "--json"], env=stack.env())
    states = {w["hostname"]: w["state"] for w in json.loads(status.stdout)["workers"]}
    assert states == {"host-a": "stopped", "host-b": "dead", "host-c": "stopped"}
    recorders = raw(app).fetchall("SELECT worker_id FROM results WHERE run_id = ?", (run_id,))
    by_host = Counter(worker_id.split(":")[0] for (worker_id,) in recorders)
    assert set(by_host) == set(SKEWS), "each host recorded results"


def test_a_queue_that_loses_its_data_mid_run_loses_no_work(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    """A Redis restarted without persistence, or FLUSHDB; the same for the SQL queue."""
    domains = [f"slow15-company{i}.com" for i in range(200)]
    run_id = create_run(app, domains)
    fleet = [workers("--lease", "0.5s", "--concurrency", "4") for _ in range(2)]
    wait_until(lambda: app.runs.get(run_id).completed >= 30)
    app.queue.flush()
    flushed_at = app.runs.get(run_id).completed
    assert flushed_at < 190, "the flush came too late to matter"
    wait_until(lambda: not app.runs.get(run_id).active, timeout=60)
    for worker in fleet:
        worker.signal(signal.SIGTERM)
    outputs = "".join(w.output for w in fleet)
    assert "whose queue message was lost" in outputs
    assert app.runs.get(run_id).completed == 200
    assert Counter(calls(str(stack.log))) == Counter(domains)
    assert_consistent(app, run_id)
