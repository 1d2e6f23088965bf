"""Operating runs from the CLI: status with STUCK runs and why, --check for cron, show,
export filters and columns, and what a worker says while it works."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qualify import export
from qualify.api import Qualify
from qualify.worker import WorkerOptions
from tests.support import Stack, create_run, raw, wait_until, write_inputs
from tests.test_cli import age_run, invoke, work_all


def _stuck_run(app: Qualify, domains: list[str], *, dead_worker: bool = False) -> int:
    run_id = create_run(app, domains)
    if dead_worker:
        _, (held,) = app.jobs.claim_next(1, "crashed-host:99:dead00", 30)
        raw(app).execute("UPDATE jobs SET lease_expires_at = {now} - 300 WHERE id = ?", (held.id,))
    age_run(app, run_id, 900)
    return run_id


# -- status -----------------------------------------------------------------------------------


def test_status_table_marks_stuck_runs_and_says_why(app: Qualify, stack: Stack) -> None:
    done = create_run(app, ["acme.com"])
    work_all(app)
    stuck = _stuck_run(app, ["globex.io", "initech.com"], dead_worker=True)
    result = invoke("--db", stack.db, "status")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    row = {line.split()[0]: line for line in lines if line.split() and line.split()[0].isdigit()}
    assert "COMPLETED" in row[str(done)] and "STUCK" not in row[str(done)]
    assert "PROCESSING STUCK" in row[str(stuck)]
    assert f"Run {stuck} is STUCK: nothing moved for 15m" in result.stdout
    # The only worker seen stopped normally: nobody is alive to pick the run up.
    assert "No worker is alive: start one with qualify worker" in result.stdout
    assert "STOPPED" in result.stdout


def test_stuck_hint_with_a_live_worker_points_to_recover(app: Qualify, stack: Stack) -> None:
    stuck = _stuck_run(app, ["globex.io"])
    app.workers.register("busy:1:ab", hostname="busy", pid=1, concurrency=1, lease=30, version="t")
    result = invoke("--db", stack.db, "status", "--stuck-after", "10m")
    assert f"Run {stuck} is STUCK" in result.stdout
    assert "qualify recover --older-than 10m" in result.stdout


def test_status_check_prints_one_line_per_stuck_run(app: Qualify, stack: Stack) -> None:
    create_run(app, ["moving.com"])
    first = _stuck_run(app, ["a.com", "b.com"])
    second = _stuck_run(app, ["c.com"], dead_worker=True)
    result = invoke("--db", stack.db, "status", "--check")
    assert result.exit_code == 3
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["STUCK", "run", str(second)],
        ["STUCK", "run", str(first)],
    ]
    assert "0/1 finished, no change for 15m" in lines[0]
    assert result.stderr == ""
    # --json with --check: the document, and still the exit code for the monitor.
    checked = invoke("--db", stack.db, "status", "--check", "--json")
    assert checked.exit_code == 3
    assert [r["id"] for r in json.loads(checked.stdout)["runs"] if r["stuck"]] == [second, first]
    # Recovered and worked, nothing is stuck any more.
    assert invoke("--db", stack.db, "recover", "--older-than", "5m").exit_code == 0
    work_all(app)
    ok = invoke("--db", stack.db, "status", "--check")
    assert (ok.exit_code, ok.stdout.strip()) == (0, "OK: no stuck runs among 3")


def test_status_check_on_an_empty_store(stack: Stack) -> None:
    result = invoke("--db", stack.db, "status", "--check")
    assert result.exit_code == 0


# -- show -------------------------------------------------------------------------------------


def test_show_run_counts_verdicts_and_errors(app: Qualify, stack: Stack) -> None:
    domains = [f"company{i}.com" for i in range(12)] + ["permanent-a.com", "permanent-b.com"]
    run_id = create_run(app, domains)
    work_all(app)
    out = invoke("--db", stack.db, "show", str(run_id)).stdout
    verdicts = app.runs.count_verdicts(run_id)
    expected = ", ".join(
        f"{verdicts[v]} {v}" for v in ("qualified", "review", "unqualified") if v in verdicts
    )
    assert f"Verdicts     {expected}" in out
    assert "Errors       2 nope" in out
    assert "Failed       2" in out


def test_show_stuck_run_says_how_to_resume(app: Qualify, stack: Stack) -> None:
    run_id = _stuck_run(app, ["a.com"])
    out = invoke("--db", stack.db, "show", str(run_id)).stdout
    assert "STUCK" in out
    assert "qualify recover --older-than 5m" in out


def test_show_domain_in_flight_and_finished(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "globex.io"])
    _, (held,) = app.jobs.claim_next(1, "busy:1:ab", 30)
    running = invoke("--db", stack.db, "show", str(run_id), held.domain).stdout
    assert "running after 1 attempt" in running and "Held by  busy:1:ab until" in running
    app.jobs.release([held])  # as "busy" would on shutdown; the burst worker takes it over
    work_all(app)
    done = invoke("--db", stack.db, "show", str(run_id), "acme.com").stdout
    assert f"acme.com  (run {run_id})" in done
    record = app.runs.job(run_id, "acme.com")
    assert f"{record.verdict}  score {record.score:g}, tier" in done
    assert "CRITERION" in done and "domain 'acme.com'" in done and "https://acme.com/" in done


# -- export -----------------------------------------------------------------------------------


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_csv_columns_are_the_same_for_every_run(app: Qualify, stack: Stack) -> None:
    # A CRM import maps columns by name: they must not come and go with what a run holds.
    pending = create_run(app, ["acme.com"])
    header = invoke("--db", stack.db, "export", str(pending)).stdout.splitlines()[0]
    assert header.split(",") == ["input", *export.RESULT_COLUMNS]
    run_id = create_run(app, ["acme.com"])
    work_all(app)
    header = invoke("--db", stack.db, "export", str(run_id)).stdout.splitlines()[0]
    assert header.split(",") == ["input", *export.RESULT_COLUMNS]
    (row,) = _csv(invoke("--db", stack.db, "export", str(run_id)).stdout)
    # tests.sample_qualifiers gives a tier but no confidence.
    assert row["tier"] in ("A", "C") and "." not in row["score"] and row["confidence"] == ""


def test_export_several_verdicts(app: Qualify, stack: Stack) -> None:
    domains = [f"company{i}.com" for i in range(30)] + ["permanent-x.com"]
    run_id = create_run(app, domains)
    work_all(app)
    verdicts = {r.domain: r.verdict for r in app.runs.records(run_id)}
    wanted = {"qualified", "review"}
    result = invoke(
        "--db", stack.db, "export", str(run_id), "--verdict", "qualified", "--verdict", "review"
    )
    rows = _csv(result.stdout)
    assert [r["domain"] for r in rows] == [d for d in domains if verdicts[d] in wanted]
    assert {r["verdict"] for r in rows} == wanted  # both kinds exist among 30 domains
    with_failed = invoke(
        "--db", stack.db, "export", str(run_id), "--verdict", "failed", "--verdict", "review",
        "--format", "jsonl",
    )  # fmt: skip
    domains_out = [json.loads(line)["domain"] for line in with_failed.stdout.splitlines()]
    assert domains_out == [d for d in domains if verdicts[d] == "review"] + ["permanent-x.com"]


# -- worker output ----------------------------------------------------------------------------


def test_worker_start_line_and_one_line_per_job(app: Qualify, stack: Stack, workers) -> None:  # type: ignore[no-untyped-def]
    run_id = create_run(app, ["acme.com", "permanent-x.com", "transient1-y.com"], backoff=0.05)
    worker = workers("--burst", "-v", "--concurrency", "2")
    assert worker.wait() == 4  # a job of the run it worked on failed
    out = worker.output
    assert (
        out.strip().splitlines()[-1]
        == f"Run {run_id} finished with 1 failed of 3; qualify show {run_id}"
    )
    assert f"started: database {app.database.display_url}, queue {app.queue.description}" in out
    assert "concurrency 2, lease 30s; exits when no work is left (--burst)" in out
    record = app.runs.job(run_id, "acme.com")
    assert f"job {record.job_id} acme.com (" in out
    assert f"s): done: {record.verdict}, score {record.score:g}" in out
    assert (
        "permanent-x.com (" in out and "s): failed: nope: permanent-x.com cannot be judged" in out
    )
    assert "transient1-y.com (" in out and "s): retry in " in out
    assert "stopped: 2 done, 1 failed, 1 retried" in out
    quiet = workers("--burst", "-q")
    assert quiet.wait() == 0 and quiet.output == ""


def test_worker_summary_says_what_happened_and_idle_once(
    app: Qualify, caplog: pytest.LogCaptureFixture
) -> None:
    create_run(app, ["slow300-a.com", "slow300-b.com", "permanent-c.com"])
    options = WorkerOptions(lease=0.6, summary_interval=0.2, handle_signals=False)
    worker = app.worker(options)
    caplog.set_level(logging.INFO, logger="qualify.worker")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: any("idle" in r.getMessage() for r in caplog.records), timeout=10)
        time.sleep(0.7)  # three more summary intervals with nothing to do
    finally:
        worker.stop()
        thread.join(timeout=10)
    summaries = [
        r.getMessage()
        for r in caplog.records
        if r.name == "qualify.worker" and r.getMessage().startswith(("last ", "idle"))
    ]
    counted = [re.match(r"last \d+s: (\d+) done, (\d+) failed", line) for line in summaries]
    done = sum(int(m.group(1)) for m in counted if m)
    failed = sum(int(m.group(2)) for m in counted if m)
    assert (done, failed) == (2, 1), summaries
    assert sum(line.startswith("idle") for line in summaries) == 1, summaries
    assert summaries[-1].startswith("idle: no jobs for") and "(2 done since start)" in summaries[-1]


def test_run_wait_reports_how_it_ended(tmp_path: Path, stack: Stack) -> None:
    icp, domains = write_inputs(tmp_path, ["acme.com", "permanent-x.com"])
    result = invoke(
        "--db", stack.db, "run", icp, domains, "--qualifier", "tests.sample_qualifiers:by_name",
        "--wait",
    )  # fmt: skip
    assert result.exit_code == 4  # finished, but not every job with a result
    # acme.com scores 64 with tests.sample_qualifiers:by_name: review.
    assert result.stderr.strip().splitlines()[-2:] == [
        f"Run 1 COMPLETED: 1 done (0 qualified), 1 failed."
        f" Export: qualify --db {stack.db} export 1",
        f"Run 1 finished with 1 failed of 2; qualify --db {stack.db} show 1",
    ]
    icp, domains = write_inputs(tmp_path, ["acme.com", "globex.io"])
    clean = invoke(
        "--db", stack.db, "run", icp, domains, "--qualifier", "tests.sample_qualifiers:by_name",
        "--wait",
    )  # fmt: skip
    assert clean.exit_code == 0, clean.stderr


def test_watch_takes_neither_json_nor_check(stack: Stack) -> None:
    for flag in ("--json", "--check"):
        result = invoke("--db", stack.db, "status", "--watch", flag)
        assert result.exit_code == 2 and "--watch draws a live dashboard" in result.stderr


def test_watch_piped_to_a_file_prints_one_frame_per_refresh(app: Qualify, stack: Stack) -> None:
    create_run(app, ["acme.com"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "qualify", "status", "--watch"],
        env=stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        frames = 0
        for line in proc.stdout:  # type: ignore[union-attr]
            frames += line.startswith("qualify status --watch")
            if frames == 2:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert frames == 2
