"""What referential integrity costs on PostgreSQL: a million jobs written by COPY, and
workers' rounds of results, each into a fresh store (its own database), timed in-process.

Run: python tests/bench/bench_integrity.py [--repeat 3] [--domains 1000000] [--rounds 2000]

Three figures, each --repeat times on a database of its own (fkbench_<pid>_<n>, created
and dropped here, on the server the tests use, QUALIFY_TEST_PG): one COPY of the jobs in one
transaction, as bench_scale's raw insert does; the same rows through the store's own
insert_many (COPY in chunks, as `qualify run` writes them); and --rounds transactions of 50
results each, as a worker's rounds insert them (one process, no contention: the
per-statement cost only). Each is timed by the wall clock and by the CPU time of the server
process that ran it (read from /proc when the server is on this machine).
Asserts nothing; compare a branch with main by running this script on each.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import backends  # noqa: E402
from tests.bench.bench_scale import spread  # noqa: E402

RESULT_BATCH = 50
_names = itertools.count()


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A database of this process's own (fkbench_<pid>_<n>), dropped afterwards."""
    import psycopg2

    name = f"fkbench_{os.getpid()}_{next(_names)}"
    admin = psycopg2.connect(backends.PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield backends.PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class ServerCpu:
    """CPU seconds the server process of a connection spent, read from /proc when the server
    runs on this machine (else NaN): on a shared, loaded machine a far steadier figure than
    the wall clock, which also counts the time the server waited for a core."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/stat")
        self.ticks = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        try:
            fields = self.path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime, stime


Timing = tuple[float, float]  # wall seconds, server CPU seconds


def one_copy(db: str, domains: list[str]) -> Timing:
    """The jobs in one COPY statement, in one transaction (bench_scale's raw insert)."""
    import io

    import psycopg2

    from qualify.store import Store

    Store.open(db).close()  # the schema, by qualify's own migrations
    now = time.time()
    conn = psycopg2.connect(db)
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        cpu = ServerCpu(cursor.fetchone()[0])
        cursor.execute("INSERT INTO runs (name, qualifier, icp, status, total, max_attempts,"
                       " backoff, created_at, updated_at) VALUES ('raw', 'x', '{}', 'PENDING',"
                       " %s, 3, 1, %s, %s) RETURNING id", (len(domains), now, now))  # fmt: skip
        (run_id,) = cursor.fetchone()
        conn.commit()
        buffer = io.StringIO("".join(f"{run_id}\t{d}\tqueued\t{now}\n" for d in domains))
        started, busy = time.perf_counter(), cpu.seconds()
        cursor.copy_expert("COPY jobs (run_id, domain, state, updated_at) FROM STDIN", buffer)
    conn.commit()
    took = time.perf_counter() - started, cpu.seconds() - busy
    conn.close()
    return took


def server_cpu(database: object) -> ServerCpu:
    """Of this thread's connection (the pool gives the thread the same one until closed)."""
    from qualify.store.database import Database

    assert isinstance(database, Database)
    return ServerCpu(int(database.db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]))


def store_copy(db: str, domains: list[str]) -> Timing:
    """The jobs through Database.insert_many("insert_jobs") in one transaction; seconds."""
    from qualify.store import open_database
    from qualify.store.migrations import migrate

    database = open_database(db)
    migrate(database)
    with database.write():
        run_id = new_run(database, len(domains))
    now = time.time()
    cpu = server_cpu(database)
    started, busy = time.perf_counter(), cpu.seconds()
    with database.write():
        database.insert_many("insert_jobs", ((run_id, d, "queued", now) for d in domains))
    took = time.perf_counter() - started, cpu.seconds() - busy
    database.close_all()
    return took


def result_rounds(db: str, rounds: int) -> Timing:
    """``rounds`` transactions of RESULT_BATCH results (insert_results); seconds."""
    from qualify.store import open_database
    from qualify.store.migrations import migrate

    database = open_database(db)
    migrate(database)
    count = rounds * RESULT_BATCH
    with database.write():
        run_id = new_run(database, count)
        now = time.time()
        database.insert_many(
            "insert_jobs", ((run_id, f"c{i}.com", "queued", now) for i in range(count))
        )
    ids = [row[0] for row in database.db.execute_sql("SELECT id FROM jobs ORDER BY id")]
    cpu = server_cpu(database)
    started, busy = time.perf_counter(), cpu.seconds()
    for at in range(0, count, RESULT_BATCH):
        with database.write():
            database.insert_many(
                "insert_results",
                ((job_id, run_id, "qualified", 1.0, "[]", "{}", "{}", "w1")
                 for job_id in ids[at : at + RESULT_BATCH]),
            )  # fmt: skip
    took = time.perf_counter() - started, cpu.seconds() - busy
    database.close_all()
    return took


def new_run(database: object, total: int) -> int:
    from qualify.store.database import Database

    assert isinstance(database, Database)
    return int(
        database.value(
            "insert_run", name="bench", qualifier="x:y", icp="{}", total=total,
            max_attempts=3, backoff=1.0, source_run_id=None, max_page_age=None, inputs=None,
        )
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    domains = [f"company{i:07d}.com" for i in range(args.domains)]
    print(f"load average at the start: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    figures: dict[str, list[Timing]] = {"one COPY": [], "insert_many": [], "result rounds": []}
    for _ in range(args.repeat):
        with bench_database() as db:
            figures["one COPY"].append(one_copy(db, domains))
        with bench_database() as db:
            figures["insert_many"].append(store_copy(db, domains))
        with bench_database() as db:
            figures["result rounds"].append(result_rounds(db, args.rounds))
    for name, timings in figures.items():
        wall, cpu = [t[0] for t in timings], [t[1] for t in timings]
        print(
            f"{name:<14} wall {spread(wall, '{:.2f}')} s ({', '.join(f'{t:.2f}' for t in wall)});"
            f" server CPU {spread(cpu, '{:.2f}')} s ({', '.join(f'{t:.2f}' for t in cpu)})"
        )
    print(f"load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
