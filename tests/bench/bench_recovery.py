"""Recovery: how long until another worker finishes the jobs of a worker killed with -9.

Run: python tests/bench/bench_recovery.py [--jobs 50] [--lease 5]

A worker holding ``--jobs`` jobs (concurrency = jobs; on that worker each job would take a
minute) is killed with SIGKILL once it holds all of them; a second worker, on which the same
jobs take no time, is already running. Prints the time from the kill until all of them are
done, against the lease: its expiry is the earliest moment anyone may take them over.
Target: within lease + 2 s. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--lease", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        db = directory / "qualify.db"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "QUALIFY_DB": str(db)}
        (directory / "icp.json").write_text(json.dumps({"name": "bench"}))
        domains = directory / "domains.txt"
        domains.write_text("".join(f"company{i}.com\n" for i in range(args.jobs)))
        subprocess.run(
            [sys.executable, "-m", "qualify", "run", str(directory / "icp.json"), str(domains),
             "--qualifier", "tests.sample_qualifiers:env_sleep"],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        worker = [sys.executable, "-m", "qualify", "worker", "--lease", f"{args.lease}s", "-q"]
        victim = subprocess.Popen(
            [*worker, "--concurrency", str(args.jobs)], env={**env, "QUALIFY_TEST_SLEEP": "60"}
        )
        while count(db, "SELECT COUNT(*) FROM jobs WHERE state = 'running'") < args.jobs:
            time.sleep(0.01)
        # The survivor starts now, so its start-up is not counted as recovery time.
        survivor = subprocess.Popen([*worker, "--concurrency", str(args.jobs)], env=env)
        time.sleep(1.0)
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.wait()
        while count(db, "SELECT COUNT(*) FROM jobs WHERE state = 'done'") < args.jobs:
            time.sleep(0.01)
        took = time.monotonic() - killed
        survivor.send_signal(signal.SIGTERM)
        survivor.wait()
    print(
        f"{args.jobs} jobs of a killed worker done by another {took:.2f}s after the kill; "
        f"lease {args.lease:g}s; "
        f"target lease + 2s = {args.lease + 2:g}s; margin {args.lease + 2 - took:+.2f}s"
    )


if __name__ == "__main__":
    main()
