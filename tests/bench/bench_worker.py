"""Worker overhead: no-op jobs through `qualify worker` against two baselines.

Run: python tests/bench/bench_worker.py [--jobs 20000]

In the same run, on the same disk:
- (a) raw sqlite3 claim cycle: per job an `UPDATE … RETURNING` claim and a completing
  `UPDATE`, one autocommit each, one thread: the floor of a lease-based queue on SQLite;
- (b) a bare huey `SqliteHuey` consumer (huey's defaults) running no-op tasks;
- `qualify worker --burst --concurrency 4` (a no-op MODULE:CALLABLE qualifier), one process,
  then two processes.
Throughput for qualify is measured from the store: first claim to last completion. Prints
jobs/s and the ratios. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOOP = "tests.sample_qualifiers:noop"


def raw_claim_cycle(directory: Path, count: int) -> float:
    path = directory / "raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=normal")
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, lease_owner TEXT,"
        " lease_expires_at REAL, attempts INTEGER DEFAULT 0)"
    )
    conn.executemany("INSERT INTO jobs (state) VALUES (?)", [("queued",)] * count)
    started = time.perf_counter()
    for job_id in range(1, count + 1):
        conn.execute(
            "UPDATE jobs SET state = 'running', lease_owner = 'w', lease_expires_at = ?,"
            " attempts = attempts + 1 WHERE id = ? AND state = 'queued' RETURNING id",
            (time.time() + 30, job_id),
        ).fetchall()
        conn.execute("UPDATE jobs SET state = 'done' WHERE id = ? AND lease_owner = 'w'", (job_id,))
    took = time.perf_counter() - started
    conn.close()
    return count / took


HUEY_APP = """
from huey import SqliteHuey
huey = SqliteHuey(filename={path!r})

@huey.task()
def noop(n):
    return None
"""


def bare_huey(directory: Path, count: int) -> float:
    module = directory / "huey_bench_app.py"
    module.write_text(HUEY_APP.format(path=str(directory / "huey.db")))
    env = {**os.environ, "PYTHONPATH": str(directory)}
    enqueue = f"import huey_bench_app as a\nfor i in range({count}): a.noop(i)"
    subprocess.run([sys.executable, "-c", enqueue], env=env, check=True)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "huey.bin.huey_consumer", "huey_bench_app.huey"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    conn = sqlite3.connect(directory / "huey.db")
    started = time.perf_counter()
    try:
        while conn.execute("SELECT COUNT(*) FROM task").fetchone()[0]:
            time.sleep(0.05)
        took = time.perf_counter() - started
    finally:
        consumer.terminate()
        consumer.wait()
        conn.close()
    return count / took


def qualify_workers(directory: Path, count: int, processes: int) -> tuple[float, float]:
    """Jobs/s measured in the store (first claim to last completion), and wall seconds."""
    db = directory / f"qualify-{processes}.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QUALIFY_DB": str(db)}
    (directory / "icp.json").write_text(json.dumps({"name": "bench"}))
    domains = directory / "domains.txt"
    domains.write_text("".join(f"company{i}.com\n" for i in range(count)))
    subprocess.run(
        [sys.executable, "-m", "qualify", "run", str(directory / "icp.json"), str(domains),
         "--qualifier", NOOP],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "qualify", "worker", "--burst", "--concurrency", "4", "-q"],
            env=env,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.wait()
    wall = time.perf_counter() - started
    conn = sqlite3.connect(db)
    first, last, done = conn.execute(
        "SELECT MIN(started_at), MAX(finished_at), COUNT(*) FROM jobs WHERE state = 'done'"
    ).fetchone()
    conn.close()
    assert done == count, f"only {done} of {count} jobs done"
    return count / (last - first), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    args = parser.parse_args()
    count = args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        raw = raw_claim_cycle(directory, count)
        huey = bare_huey(directory, count)
        one, one_wall = qualify_workers(directory, count, 1)
        two, two_wall = qualify_workers(directory, count, 2)
    print(f"{count:,} no-op jobs")
    print(f"  raw sqlite3 claim cycle     {raw:>9,.0f} jobs/s")
    print(f"  bare huey consumer          {huey:>9,.0f} jobs/s")
    print(f"  qualify, 1 worker x4        {one:>9,.0f} jobs/s  ({one_wall:.1f}s wall)  "
          f"{one / raw:.2f} of raw, {one / huey:.2f}x huey")  # fmt: skip
    print(f"  qualify, 2 workers x4       {two:>9,.0f} jobs/s  ({two_wall:.1f}s wall)  "
          f"{two / raw:.2f} of raw, {two / one:.2f}x one worker")  # fmt: skip


if __name__ == "__main__":
    main()
