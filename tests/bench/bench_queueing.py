"""Queueing: `qualify run` on generated domain lists against a raw SQLite baseline.

Run: python tests/bench/bench_queueing.py [--sizes 200000 1000000] [--csv]

For each size, in the same run on the same disk:
- baseline: plain sqlite3, one transaction, `executemany` of N job rows (WAL,
  synchronous=NORMAL, no index): the physical limit for writing that many rows;
- `qualify run` as a real process: read and normalise the file, check it, then write the run,
  its N jobs and N queue messages in one transaction (and the input lines that were URLs,
  which their jobs carry).
With --csv, the list is also written as a CRM export (Record ID, Company, Website, Owner,
Country; quoted commas) and `qualify run` of that file is measured too: every job then
carries its row of five cells.
Prints domains/s for each, the ratio to the baseline, and each run's peak RSS. Asserts
nothing.
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

ICP = {"name": "Benchmark ICP"}
TLDS = ("com", "de", "io", "co.uk", "ch", "at", "net", "org")


def write_domains(path: Path, count: int) -> None:
    """Realistic lines: mixed TLDs, some URLs and www., 1% duplicates."""
    with path.open("w") as out:
        for i in range(count):
            tld = TLDS[i % len(TLDS)]
            if i % 100 == 99:
                out.write(f"company{i - 1}.{TLDS[(i - 1) % len(TLDS)]}\n")  # a duplicate
            elif i % 10 == 0:
                out.write(f"https://www.company{i}.{tld}/about\n")
            else:
                out.write(f"company{i}.{tld}\n")


def write_crm_export(path: Path, count: int) -> None:
    """The same companies as a CRM export would give them: a header, five columns, quoted
    fields with commas, the website as a URL one time in ten."""
    with path.open("w") as out:
        out.write("Record ID,Company,Website,Owner,Country\n")
        for i in range(count):
            tld = TLDS[i % len(TLDS)]
            site = f"https://www.company{i}.{tld}/" if i % 10 == 0 else f"company{i}.{tld}"
            out.write(f'{1000 + i},"Company {i}, Inc.",{site},owner{i % 50},DE\n')


def raw_baseline(directory: Path, count: int) -> float:
    """Seconds for sqlite3 to write ``count`` job rows in one transaction."""
    path = directory / "raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=normal")
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, run_id INTEGER, domain TEXT, state TEXT)"
    )
    rows = [(1, f"company{i}.com", "queued") for i in range(count)]
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO jobs (run_id, domain, state) VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")
    took = time.perf_counter() - started
    conn.close()
    return took


def qualify_run(directory: Path, domains: Path) -> tuple[float, float, dict]:
    """Seconds and peak RSS (MB) of `qualify run` as a process, and its JSON output."""
    icp = directory / "icp.json"
    icp.write_text(json.dumps(ICP))
    command = [
        sys.executable, "-m", "qualify", "--db", str(directory / "qualify.db"), "run",
        str(icp), str(domains), "--qualifier", "qualify.examples.name_match:qualify", "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else b""
    if status != 0:
        raise SystemExit(f"qualify run failed: {proc.stderr.read() if proc.stderr else ''}")
    return took, usage.ru_maxrss / 1024, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--csv", action="store_true", help="also a CRM export as CSV")
    args = parser.parse_args()
    print(f"{'input':>5} {'domains':>9} {'raw rows/s':>11} {'qualify/s':>10} {'ratio':>6} "
          f"{'run time':>9} {'peak RSS':>9}")  # fmt: skip
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            inputs = [("list", directory / "domains.txt", write_domains)]
            if args.csv:
                inputs.append(("csv", directory / "leads.csv", write_crm_export))
            raw = raw_baseline(directory, count)
            for label, path, write in inputs:
                write(path, count)
                took, rss, created = qualify_run(directory, path)
                for suffix in ("", "-wal", "-shm", "-writer.lock"):
                    Path(f"{directory / 'qualify.db'}{suffix}").unlink(missing_ok=True)
                assert created["queued"] + created["duplicates"] == count
                print(
                    f"{label:>5} {count:>9,} {count / raw:>11,.0f} {count / took:>10,.0f} "
                    f"{raw / took:>6.3f} {took:>8.1f}s {rss:>7.0f}MB"
                )


if __name__ == "__main__":
    main()
