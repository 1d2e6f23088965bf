"""How long `status --json`, `status --check` and one dashboard refresh take on a store with
a million jobs; prints, asserts nothing (target: under 50 ms each).

Run: python tests/bench/bench_status.py [--jobs 1000000] [--runs 20] [--repeat 15] [--db PATH]

Builds the database once (migrated by qualify's own migrations, rows inserted directly with
sqlite3 for speed; about a minute), then times each command in this process, after a warm-up,
and prints the median, plus every dashboard query alone and its SQLite query plan. The mix
of runs is what an operator would see: finished runs, runs in progress with live leases and
retries waiting, stuck runs with expired leases, and new runs still pending.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from click.testing import CliRunner

from qualify.api import Qualify
from qualify.cli import cli
from qualify.dashboard import Dashboard

ERROR_CODES = ("http_5xx", "timeout", "dns_nxdomain", "connect_failed", "lease_expired")
WORKERS = (
    ("bench-a:101:aaaaaa", "bench-a", 101, 0.0),  # alive
    ("bench-b:202:bbbbbb", "bench-b", 202, 0.0),  # alive
    ("bench-c:303:cccccc", "bench-c", 303, 300.0),  # dead: no heartbeat for 5 minutes
)


def build(path: str, jobs: int, runs: int) -> None:
    """Fill a fresh database at ``path``: ``runs`` runs sharing ``jobs`` jobs."""
    Qualify.open(path).close()  # qualify's migrations, and the queue's tables
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time()
    per_run = jobs // runs
    conn.execute("BEGIN")
    job_id = 0
    for run_id in range(1, runs + 1):
        kind = _kind(run_id, runs)
        states = _states(kind, per_run)
        counts = {state: 0 for state in ("done", "failed", "cancelled")}
        qualified = 0
        run_updated = now - (3600 if kind == "stuck" else 7200 if kind == "pending-stuck" else 1)
        job_rows, result_rows = [], []
        for index, state in enumerate(states):
            job_id += 1
            finished = now - (runs - run_id) * 3600 - (per_run - index)
            lease = now + 20 if state == "running" else None
            if state == "running" and kind == "stuck":
                lease = now - 600  # its worker died; nobody reclaimed it
            retry_at = now + 30 + index % 60 if state == "waiting" else None
            code = ERROR_CODES[index % len(ERROR_CODES)] if state in ("failed", "waiting") else None
            owner = WORKERS[index % 2][0] if state == "running" else None
            job_rows.append(
                (
                    job_id, run_id, f"company-{run_id}-{index}.com", state,
                    1 if state != "queued" else 0, owner, lease, retry_at, code,
                    f"{code}: synthetic" if code else None,
                    finished if state in ("done", "failed") else None,
                    run_updated if state == "queued" else finished,
                )
            )  # fmt: skip
            if state == "done":
                verdict = ("qualified", "review", "unqualified", "unknown")[index % 4]
                qualified += verdict == "qualified"
                result_rows.append(
                    (job_id, run_id, verdict, index % 101, "[]", "{}", "{}", "bench", finished)
                )
            if state in counts:
                counts[state] += 1
        conn.executemany(
            "INSERT INTO jobs (id, run_id, domain, state, attempts, lease_owner,"
            " lease_expires_at, next_attempt_at, error_code, error, finished_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            job_rows,
        )
        conn.executemany(
            "INSERT INTO results (job_id, run_id, verdict, score, reasons, evidence, extra,"
            " worker_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            result_rows,
        )
        status = {"done": "COMPLETED", "pending": "PENDING", "pending-stuck": "PENDING"}
        conn.execute(
            "INSERT INTO runs (id, name, qualifier, icp, status, total, completed, failed,"
            " qualified, cancelled, max_attempts, backoff, created_at, updated_at, finished_at)"
            " VALUES (?, ?, 'web', '{}', ?, ?, ?, ?, ?, 0, 5, 10, ?, ?, ?)",
            (
                run_id, f"bench run {run_id} ({kind})", status.get(kind, "PROCESSING"),
                per_run, counts["done"], counts["failed"], qualified,
                now - (runs - run_id + 1) * 3600, run_updated if kind != "done" else now - 60,
                now - 60 if kind == "done" else None,
            ),
        )  # fmt: skip
    for worker_id, host, pid, silent in WORKERS:
        conn.execute(
            "INSERT INTO workers (id, hostname, pid, concurrency, lease, version, started_at,"
            " heartbeat_at, in_flight, processed) VALUES (?, ?, ?, 16, 30, 'bench', ?, ?, 16, 0)",
            (worker_id, host, pid, now - 7200, now - silent),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _kind(run_id: int, runs: int) -> str:
    """The first 60% of runs are finished; then runs in progress, two stuck, two pending."""
    if run_id <= runs * 0.6:
        return "done"
    if run_id > runs - 2:
        return "pending" if run_id == runs else "pending-stuck"
    if run_id > runs - 4:
        return "stuck"
    return "moving"


def _states(kind: str, n: int) -> list[str]:
    """The states of a run's ``n`` jobs, in job order; whatever is not given stays queued."""
    mixes: dict[str, dict[str, float]] = {
        "done": {"done": 0.92, "failed": 0.08},
        "moving": {"done": 0.40, "failed": 0.03, "waiting": 0.01, "running": 16},
        "stuck": {"done": 0.30, "failed": 0.02, "running": 2},
    }
    states: list[str] = []
    for state, amount in mixes.get(kind, {}).items():
        states += [state] * (int(amount) if amount >= 1 else round(n * amount))
    return states[:n] + ["queued"] * (n - len(states))


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm-up: page cache, imports, statement caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def cli_action(path: str, *args: str) -> Callable[[], object]:
    runner = CliRunner()

    def run() -> object:
        result = runner.invoke(cli, ["--db", path, "status", *args])
        if result.exit_code not in (0, 3):
            raise SystemExit(f"status {' '.join(args)} failed: {result.output}")
        return result

    return run


def query_plans(app: Qualify, dashboard: Dashboard) -> list[tuple[str, list[str]]]:
    """Every statement one refresh runs, with SQLite's plan for it."""
    statements: list[str] = []
    raw = app.database.db.connection()
    raw.set_trace_callback(statements.append)
    dashboard.refresh()
    raw.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            rows = raw.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            plans.append((" ".join(sql.split()), [row[3] for row in rows]))
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", help="reuse or keep the database here")
    args = parser.parse_args()

    directory = None
    path = args.db
    if path is None:
        directory = tempfile.TemporaryDirectory(prefix="qualify-bench-")
        path = os.path.join(directory.name, "bench.db")
    if not os.path.exists(path):
        started = time.perf_counter()
        build(path, args.jobs, args.runs)
        print(f"built {path}: {args.jobs:,} jobs in {args.runs} runs", end="")
        print(f" in {time.perf_counter() - started:.0f}s ({os.path.getsize(path) >> 20} MB)")

    print(f"\nmedian of {args.repeat}, after a warm-up (ms; target < 50):")
    for label, action in (
        ("status --json", cli_action(path, "--json")),
        ("status --check", cli_action(path, "--check")),
    ):
        print(f"  {label:<28}{median_ms(action, args.repeat):8.1f}")
    with Qualify.open(path, create=False) as app:
        dashboard = Dashboard(app)
        activity = app.activity
        print(f"  {'dashboard refresh (all)':<28}{median_ms(dashboard.refresh, args.repeat):8.1f}")

        def current_runs() -> object:
            return app.runs.current(stuck_after=300, finished_within=600)

        for label, action in (
            ("  runs (active + recent)", current_runs),
            ("  workers", app.workers.list),
            ("  leases close to expiry", lambda: activity.leases_expiring(15)),
            ("  error codes, last 200", activity.recent_failures),
            ("  retries waiting", activity.retrying),
        ):  # fmt: skip
            print(f"  {label:<28}{median_ms(action, args.repeat):8.1f}")
        snapshot = dashboard.refresh()
        print(
            f"\none refresh saw {len(snapshot.runs)} runs ({len(snapshot.stuck)} stuck),"
            f" {len(snapshot.workers)} workers, {len(snapshot.expiring)} leases close to expiry,"
            f" {len(snapshot.failures)} error codes"
        )
        print("\nquery plans of one refresh:")
        full_scans = 0
        for sql, plan in query_plans(app, dashboard):
            print(f"  {sql[:110]}{'…' if len(sql) > 110 else ''}")
            for step in plan:
                scan = step.startswith("SCAN jobs") and "USING INDEX jobs_" not in step
                full_scans += scan
                print(f"      {step}{'   <-- FULL SCAN OF JOBS' if scan else ''}")
        print(f"\nfull scans of jobs per refresh: {full_scans}")
    if directory is not None:
        directory.cleanup()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
