"""`qualify ui` page and API latency with a million jobs in the store, under 20 concurrent
clients; prints, asserts nothing (target: median and p95 under 50 ms on SQLite).

Run: python tests/bench/bench_ui.py [--jobs 1000000] [--runs 10] [--clients 20]
                                    [--requests 400] [--db PATH]

Builds the store as bench_status.py does (``--runs`` runs sharing ``--jobs`` jobs: finished
runs, runs in progress, stuck and pending ones), starts ``qualify ui`` as its own process,
and sends each address ``--requests`` times from ``--clients`` threads with keep-alive
connections, after a warm-up. Baselines from the same run: the HTTP floor (a static file
through the same server and clients), and the 1,000th page read with OFFSET instead of a
keyset cursor (the query alone, in this process). Also the first visit of a run page (its
counts are read once, then kept until the run changes).
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.bench.bench_status import build

PAGE = 50


def start_server(path: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "qualify", "--db", path, "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        process.kill()
        raise SystemExit(f"qualify ui did not start: {line}{process.stdout.read()}")
    return process, found.group(0)


def load(url: str, clients: int, requests: int) -> list[float]:
    """Latencies (ms) of ``requests`` GETs of ``url`` spread over ``clients`` threads."""
    latencies: list[float] = []
    lock = threading.Lock()
    left = [requests]
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            http.get(url)  # its own warm-up: connection, page cache
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                started = time.perf_counter()
                response = http.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {url}")
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def timed(action: Callable[[], object], repeat: int = 15) -> float:
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--db", help="reuse or keep the database here")
    args = parser.parse_args()

    directory = None
    path = args.db
    if path is None:
        directory = tempfile.TemporaryDirectory(prefix="qualify-bench-ui-")
        path = os.path.join(directory.name, "bench.db")
    if not os.path.exists(path):
        started = time.perf_counter()
        build(path, args.jobs, args.runs)
        print(f"built {path}: {args.jobs:,} jobs in {args.runs} runs", end="")
        print(f" in {time.perf_counter() - started:.0f}s ({os.path.getsize(path) >> 20} MB)")
    from qualify.api import Qualify

    Qualify.open(path).close()  # this qualify's migrations (the results_run_score index)

    run_id = 1  # finished: 92% done, 8% failed
    per_run = args.jobs // args.runs
    depth = (1000 - 1) * PAGE  # rows before the 1,000th page
    conn = sqlite3.connect(path)
    (after_domain,) = conn.execute(
        "SELECT domain FROM jobs WHERE run_id = ? ORDER BY domain LIMIT 1 OFFSET ?",
        (run_id, depth - 1),
    ).fetchone()
    score, result_id = conn.execute(
        "SELECT score, id FROM results WHERE run_id = ? AND score IS NOT NULL"
        " ORDER BY score DESC, id DESC LIMIT 1 OFFSET ?",
        (run_id, depth - 1),
    ).fetchone()
    domain = f"company-{run_id}-{per_run // 2}.com"

    def offset_page() -> object:
        return conn.execute(
            "SELECT j.id, j.domain, r.verdict, r.score FROM jobs j"
            " LEFT JOIN results r ON r.job_id = j.id WHERE j.run_id = ?"
            " ORDER BY j.domain LIMIT ? OFFSET ?",
            (run_id, PAGE, depth),
        ).fetchall()

    def keyset_page() -> object:
        return conn.execute(
            "SELECT j.id, j.domain, r.verdict, r.score FROM jobs j"
            " LEFT JOIN results r ON r.job_id = j.id WHERE j.run_id = ? AND j.domain > ?"
            " ORDER BY j.domain LIMIT ?",
            (run_id, after_domain, PAGE),
        ).fetchall()

    offset_ms, keyset_ms = timed(offset_page), timed(keyset_page)
    conn.close()

    process, base = start_server(path)
    try:
        cold_started = time.perf_counter()
        httpx.get(f"{base}/runs/2", timeout=60).raise_for_status()
        cold_ms = (time.perf_counter() - cold_started) * 1000
        addresses = [
            ("HTTP floor: a static file", "/static/favicon.svg"),
            ("runs page", "/"),
            ("runs page, live refresh", "/live/runs"),
            ("API: status", "/api/status"),
            ("run page, results page 1 (score)", f"/runs/{run_id}"),
            ("run page, page 1,000 (score)", f"/runs/{run_id}?after=s:{score!r}:{result_id}"),
            ("run page, page 1 (domain)", f"/runs/{run_id}?sort=domain"),
            ("run page, page 1,000 (domain)", f"/runs/{run_id}?sort=domain&after=d:{after_domain}"),
            ("run page, qualified only", f"/runs/{run_id}?outcome=qualified"),
            ("run page, text search", f"/runs/{run_id}?q=company-{run_id}-4242&sort=domain"),
            ("API: results page 1,000",
             f"/api/runs/{run_id}/results?sort=domain&after=d:{after_domain}"),
            ("domain page", f"/runs/{run_id}/domains/{domain}"),
            ("API: domain", f"/api/runs/{run_id}/domains/{domain}"),
        ]  # fmt: skip
        print(
            f"\n{args.clients} concurrent clients, {args.requests} requests per address,"
            f" {args.jobs:,} jobs in the store, runs of {per_run:,} (ms; target < 50)"
        )
        print(f"  {'address':<38}{'median':>9}{'p95':>9}{'req/s':>9}{'1 client':>10}")
        for label, address in addresses:
            alone = load(base + address, 1, 40)
            started = time.perf_counter()
            latencies = load(base + address, args.clients, args.requests)
            rate = len(latencies) / (time.perf_counter() - started)
            print(
                f"  {label:<38}{statistics.median(latencies):9.1f}{p95(latencies):9.1f}"
                f"{rate:9.0f}{statistics.median(alone):10.1f}"
            )
        print("  (1 client: the median of 40 requests one after another, the time a request takes)")
        print(f"\nfirst visit of a run page (its counts read once): {cold_ms:.0f} ms")
        print(
            f"page 1,000 as a query alone, one client: keyset {keyset_ms:.2f} ms,"
            f" OFFSET {offset_ms:.2f} ms ({offset_ms / keyset_ms:.0f}x)"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        if directory is not None:
            directory.cleanup()


if __name__ == "__main__":
    main()
