"""Scale-out: qualify's workers on PostgreSQL (queue in PostgreSQL or Redis) and SQLite against
the queues users would pick instead, and `qualify run` of a million domains against raw inserts.

Run: python tests/bench/bench_scale.py [--repeat 3] [--jobs 10000] [--domains 1000000]
     [--markdown FILE]

Every figure is printed beside the baselines measured in the same invocation, each run
--repeat times (the range is printed: the machine is shared, figures are noisy), each at its
best configuration and timed the same way: the span from the first job taken to the last one
finished, read from the system's own records (qualify's jobs, procrastinate's events, RQ's
job hashes; bare huey and the raw cycles keep none, so they are timed in-process around the
work, start-up excluded as well). Needs PostgreSQL and Redis as the tests use them
(QUALIFY_TEST_PG, QUALIFY_TEST_REDIS), each benchmark in a database / db index of its own;
procrastinate and RQ come from the optional `bench` extra (pip install -e '.[bench]'), and are
skipped, saying so, when they are not installed. With --markdown the tables are also written
as markdown (the README's Performance section is made from that file). Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import backends  # noqa: E402

NOOP = "tests.sample_qualifiers:noop"
SLEEP = "tests.sample_qualifiers:env_sleep"
Lines = list[str]


# -- helpers ------------------------------------------------------------------------------


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if len(values) == 1 else f"{fmt.format(low)}–{fmt.format(high)}"


def env_for(db: str, queue: str | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QUALIFY_DB": db}
    env.pop("QUALIFY_QUEUE", None)
    if queue:
        env["QUALIFY_QUEUE"] = queue
    env.update(extra)
    return env


def qualify(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "qualify", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def make_run(directory: Path, count: int, qualifier: str, env: dict[str, str]) -> None:
    (directory / "icp.json").write_text(json.dumps({"name": "bench"}))
    domains = directory / "domains.txt"
    domains.write_text("".join(f"company{i}.com\n" for i in range(count)))
    qualify("run", str(directory / "icp.json"), str(domains), "--qualifier", qualifier, env=env)


def span_of_jobs(db: str) -> tuple[int, float]:
    """Jobs done, and seconds from the first claim to the last completion (the store's)."""
    query = "SELECT COUNT(*), MIN(started_at), MAX(finished_at) FROM jobs WHERE state = 'done'"
    if db.startswith("postgresql"):
        import psycopg2

        conn = psycopg2.connect(db)
        with conn.cursor() as cursor:
            cursor.execute(query)
            done, first, last = cursor.fetchone()
        conn.close()
    else:
        conn = sqlite3.connect(db)
        done, first, last = conn.execute(query).fetchone()
        conn.close()
    return done, last - first


@contextlib.contextmanager
def fresh_pg() -> Iterator[str]:
    with backends.postgres_database() as url:
        yield url


@contextlib.contextmanager
def fresh_redis() -> Iterator[str]:
    with backends.redis_database() as url:
        yield url


def qualify_workers(
    db: str, queue: str | None, processes: int, args: tuple[str, ...], count: int,
    qualifier: str, directory: Path, extra_env: dict[str, str] | None = None,
) -> float:  # fmt: skip
    env = env_for(db, queue, **(extra_env or {}))
    make_run(directory, count, qualifier, env)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "qualify", "worker", "--burst", "-q", *args], env=env
        )
        for _ in range(processes)
    ]
    for worker in workers:
        if worker.wait() != 0:
            raise RuntimeError("a worker failed")
    done, span = span_of_jobs(db)
    if done != count:
        raise RuntimeError(f"only {done} of {count} jobs done")
    return count / span


# -- PostgreSQL ---------------------------------------------------------------------------


def raw_skip_locked(db: str, count: int, batch: int) -> float:
    """The floor of a lease queue on PostgreSQL: claim with SKIP LOCKED, complete, autocommit,
    ``batch`` jobs per claim and per completion, one connection."""
    import psycopg2

    conn = psycopg2.connect(db)
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute("DROP TABLE IF EXISTS raw_jobs")
    cursor.execute(
        "CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL,"
        " lease_owner TEXT, lease_expires_at DOUBLE PRECISION, attempts INT DEFAULT 0)"
    )
    cursor.execute("CREATE INDEX raw_jobs_queued ON raw_jobs (id) WHERE state = 'queued'")
    cursor.execute("INSERT INTO raw_jobs (state) SELECT 'queued' FROM generate_series(1, %s)",
                   (count,))  # fmt: skip
    cursor.execute("VACUUM ANALYZE raw_jobs")
    started = time.perf_counter()
    done = 0
    while done < count:
        cursor.execute(
            "UPDATE raw_jobs SET state = 'running', lease_owner = 'w', attempts = attempts + 1,"
            " lease_expires_at = extract(epoch from now()) + 30"
            " WHERE id IN (SELECT id FROM raw_jobs WHERE state = 'queued' ORDER BY id"
            " LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
            (batch,),
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "UPDATE raw_jobs SET state = 'done', lease_owner = NULL"
            " WHERE id = ANY(%s) AND lease_owner = 'w'",
            (ids,),
        )
        done += len(ids)
    took = time.perf_counter() - started
    conn.close()
    return count / took


PROCRASTINATE_APP = """
from procrastinate import App, PsycopgConnector
app = App(connector=PsycopgConnector(conninfo={dsn!r}))

@app.task(name="noop")
def noop(n):
    return None
"""


def procrastinate(db: str, count: int, directory: Path, concurrency: int = 4) -> float:
    module = directory / "procrastinate_bench_app.py"
    module.write_text(PROCRASTINATE_APP.format(dsn=db))
    env = {**os.environ, "PYTHONPATH": str(directory)}
    setup = textwrap.dedent(f"""
        import procrastinate_bench_app as m
        with m.app.open():
            m.app.schema_manager.apply_schema()
            m.noop.batch_defer(*({{"n": i}} for i in range({count})))
        """)
    subprocess.run([sys.executable, "-c", setup], env=env, check=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "procrastinate", "--app", "procrastinate_bench_app.app",
         "worker", "--concurrency", str(concurrency)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import psycopg2

    conn = psycopg2.connect(db)
    conn.autocommit = True
    deadline = time.monotonic() + 600
    with conn.cursor() as cursor:
        while time.monotonic() < deadline:  # it has no burst mode: stopped once all are done
            cursor.execute("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
            if cursor.fetchone()[0] >= count:
                break
            time.sleep(0.05)
        worker.terminate()
        worker.wait()
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE type = 'succeeded'),"
            " EXTRACT(EPOCH FROM MAX(at) FILTER (WHERE type = 'succeeded')"
            "   - MIN(at) FILTER (WHERE type = 'started')) FROM procrastinate_events"
        )
        done, span = cursor.fetchone()
    conn.close()
    if done != count:
        raise RuntimeError(f"procrastinate: {done} of {count} done")
    return count / float(span)


RQ_TASKS = """
def noop(n):
    return None
"""


def rq_simple(redis_url: str, count: int, directory: Path, processes: int) -> float:
    import redis
    from rq import Queue

    (directory / "rq_bench_tasks.py").write_text(RQ_TASKS)
    sys.path.insert(0, str(directory))
    conn = redis.Redis.from_url(redis_url)
    queue = Queue("bench", connection=conn)
    jobs = [Queue.prepare_data("rq_bench_tasks.noop", args=(i,)) for i in range(count)]
    queue.enqueue_many(jobs)
    env = {**os.environ, "PYTHONPATH": str(directory)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--burst",
                "-q",
                "--url",
                redis_url,
                "-w",
                "rq.worker.SimpleWorker",
                "bench",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.wait()
    from rq.job import Job

    started, ended = [], []
    ids = queue.finished_job_registry.get_job_ids()
    for start in range(0, len(ids), 1000):
        for job in Job.fetch_many(ids[start : start + 1000], connection=conn):
            if job is not None and job.started_at and job.ended_at:
                started.append(job.started_at.timestamp())
                ended.append(job.ended_at.timestamp())
    if len(ended) != count:
        raise RuntimeError(f"RQ: {len(ended)} of {count} done")
    return count / (max(ended) - min(started))


def bench_postgres_noop(args: argparse.Namespace, out: Lines, md: Lines) -> None:
    count, repeat = args.jobs, args.repeat
    figures: dict[str, list[float]] = {}

    def add(label: str, measure: Callable[[Path], float]) -> None:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    figures.setdefault(label, []).append(measure(Path(tmp)))
                except ImportError as exc:
                    figures[label] = []
                    print(f"  {label}: not installed ({exc.name}): pip install -e '.[bench]'")
                    return

    def pg_run(processes: int, redis: bool) -> Callable[[Path], float]:
        def measure(directory: Path) -> float:
            with fresh_pg() as db, fresh_redis() if redis else contextlib.nullcontext() as q:
                return qualify_workers(db, q, processes, ("--concurrency", "16"), count, NOOP,
                                       directory)  # fmt: skip

        return measure

    for processes in (1, 2, 4):
        add(f"qualify, queue in PostgreSQL, {processes} process(es) × 16", pg_run(processes, False))
    for processes in (1, 2, 4):
        add(f"qualify, Redis queue, {processes} process(es) × 16", pg_run(processes, True))

    def raw(batch: int) -> Callable[[Path], float]:
        def measure(directory: Path) -> float:
            with fresh_pg() as db:
                return raw_skip_locked(db, count, batch)

        return measure

    add("raw SKIP LOCKED claim+complete, 1 job a statement", raw(1))
    add("raw SKIP LOCKED claim+complete, 64 jobs a statement", raw(64))

    def proc(directory: Path) -> float:
        import procrastinate as _  # noqa: F401

        with fresh_pg() as db:
            return procrastinate(db, count, directory)

    add("procrastinate worker, concurrency 4", proc)

    def rq(processes: int) -> Callable[[Path], float]:
        def measure(directory: Path) -> float:
            import rq as _  # noqa: F401

            with fresh_redis() as url:
                return rq_simple(url, count, directory, processes)

        return measure

    add("RQ SimpleWorker, 1 process", rq(1))
    add("RQ SimpleWorker, 2 processes", rq(2))

    best = {label: max(values) for label, values in figures.items() if values}
    title = f"PostgreSQL, {count:,} no-op jobs, jobs/s (range of {repeat} runs)"
    out.append(title)
    md.append(f"**{title}**\n\n| system | jobs/s |\n|---|---|")
    for label, values in figures.items():
        shown = spread(values) if values else "not installed"
        out.append(f"  {label:<58}{shown:>16}")
        md.append(f"| {label} | {shown} |")
    qualify_best = max(v for k, v in best.items() if k.startswith("qualify"))
    checks = [
        ("≥ 3× procrastinate", "procrastinate worker, concurrency 4", 3.0),
        ("≥ 5× RQ", "RQ SimpleWorker, 2 processes", 5.0),
        ("≥ 0.25 of raw batched", "raw SKIP LOCKED claim+complete, 64 jobs a statement", 0.25),
    ]
    md.append("")
    for name, label, target in checks:
        if label not in best:
            line = f"{name}: baseline not installed"
        else:
            ratio = qualify_best / best[label]
            line = (f"qualify's best {qualify_best:,.0f} jobs/s is {ratio:.2f}× {label}'s best "
                    f"({name}: {'met' if ratio >= target else 'missed'})")  # fmt: skip
        out.append("  " + line)
        md.append(f"- {line}")
    for queue in ("queue in PostgreSQL", "Redis queue"):
        series = [best.get(f"qualify, {queue}, {p} process(es) × 16") for p in (1, 2, 4)]
        if None not in series:
            grows = all(b >= a * 0.95 for a, b in itertools.pairwise(series))
            line = (
                f"{queue}: best of 1/2/4 processes "
                f"{' / '.join(f'{v:,.0f}' for v in series)} jobs/s "
                f"(more processes never slower, within 5 %: {'met' if grows else 'missed'})"
            )
            out.append("  " + line)
            md.append(f"- {line}")
    md.append("")


def bench_postgres_io(args: argparse.Namespace, out: Lines, md: Lines) -> None:
    """I/O-bound jobs: a qualifier sleeping 50 ms, --concurrency 32."""
    concurrency, sleep = 32, 0.05
    title = (
        f"PostgreSQL, jobs sleeping {sleep * 1000:.0f} ms, --concurrency {concurrency}: "
        f"jobs/s and share of the ideal (processes × {concurrency} / {sleep * 1000:.0f} ms)"
    )
    out.append(title)
    md.append(f"**{title}**\n\n| queue | processes | jobs/s | share of ideal |\n|---|---|---|---|")
    for redis in (False, True):
        queue_name = "Redis" if redis else "PostgreSQL"
        previous = 0.0
        for processes in args.io_processes:
            ideal = processes * concurrency / sleep
            count = int(ideal * 3)  # about 3 s of work at the ideal
            values = []
            for _ in range(args.repeat):
                with (
                    tempfile.TemporaryDirectory() as tmp,
                    fresh_pg() as db,
                    fresh_redis() if redis else contextlib.nullcontext() as q,
                ):
                    values.append(qualify_workers(
                        db, q, processes, ("--concurrency", str(concurrency)), count, SLEEP,
                        Path(tmp), {"QUALIFY_TEST_SLEEP": str(sleep)},
                    ))  # fmt: skip
            shares = [v / ideal for v in values]
            target = 0.8 if processes == 1 else 0.6 if processes == 8 else None
            verdict = ""
            if target is not None:
                verdict = f" (≥ {target:.0%}: {'met' if max(shares) >= target else 'missed'})"
            slower = " SLOWER than fewer processes" if max(values) < previous else ""
            previous = max(values)
            out.append(
                f"  {queue_name:<11}{processes:>2} processes  {spread(values):>14} jobs/s"
                f"  {spread([s * 100 for s in shares], '{:.0f}')} %{verdict}{slower}"
            )
            md.append(
                f"| {queue_name} | {processes} | {spread(values)} | "
                f"{spread([s * 100 for s in shares], '{:.0f}')} %{verdict}{slower} |"
            )
    md.append("")


# -- SQLite -------------------------------------------------------------------------------

HUEY_APP = """
from huey import SqliteHuey
from huey.storage import SqliteStorage

class NormalSync(SqliteStorage):
    # qualify's setting: WAL with synchronous=NORMAL
    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn

huey = SqliteHuey(filename={path!r}, storage_class=NormalSync)

@huey.task()
def noop(n):
    return None
"""


def bare_huey(directory: Path, count: int, workers: int) -> float:
    """A huey consumer over huey's SQLite storage; timed by watching its task table (huey keeps
    no record of when a task ran): from the first task taken to the last, polled every ms."""
    name = f"huey_bench_{workers}"
    (directory / f"{name}.py").write_text(HUEY_APP.format(path=str(directory / f"{name}.db")))
    env = {**os.environ, "PYTHONPATH": str(directory)}
    enqueue = f"import {name} as a\nfor i in range({count}): a.noop(i)"
    subprocess.run([sys.executable, "-c", enqueue], env=env, check=True)
    conn = sqlite3.connect(directory / f"{name}.db")
    consumer = subprocess.Popen(
        [sys.executable, "-m", "huey.bin.huey_consumer", f"{name}.huey", "-w", str(workers),
         "-k", "thread", "-d", "0.001"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while conn.execute("SELECT COUNT(*) FROM task").fetchone()[0] == count:
            time.sleep(0.001)
        started = time.perf_counter()
        while conn.execute("SELECT COUNT(*) FROM task").fetchone()[0]:
            time.sleep(0.001)
        took = time.perf_counter() - started
    finally:
        consumer.terminate()
        consumer.wait()
        conn.close()
    return count / took


def bench_sqlite_noop(args: argparse.Namespace, out: Lines, md: Lines) -> None:
    count = args.jobs
    figures: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            db = str(directory / "qualify.db")
            figures.setdefault("qualify worker, default options (--concurrency 4)", []).append(
                qualify_workers(db, None, 1, (), count, NOOP, directory)
            )
            for workers in (1, 4):
                figures.setdefault(f"bare huey consumer -w {workers}", []).append(
                    bare_huey(directory, count, workers)
                )
    title = f"SQLite, {count:,} no-op jobs, synchronous=NORMAL everywhere, jobs/s"
    out.append(title)
    md.append(f"**{title}**\n\n| system | jobs/s |\n|---|---|")
    for label, values in figures.items():
        out.append(f"  {label:<58}{spread(values):>16}")
        md.append(f"| {label} | {spread(values)} |")
    ours = max(figures["qualify worker, default options (--concurrency 4)"])
    huey = max(max(figures["bare huey consumer -w 1"]), max(figures["bare huey consumer -w 4"]))
    line = (
        f"qualify's best is {ours / huey:.2f}× the best bare huey consumer "
        f"(≥ 1.5×: {'met' if ours / huey >= 1.5 else 'missed'})"
    )
    out.append("  " + line)
    md.append(f"\n- {line}\n")


# -- qualify run of a million domains -----------------------------------------------------

# The peak RSS of this process's own memory (VmHWM, kB): ru_maxrss would also count the
# benchmark's, which Linux carries over the fork and exec that started it (a `qualify run`
# of 1M domains read 753 MB after the benchmark had built a list of 5M).
RSS_WRAPPER = """
import runpy, sys
sys.argv = ["qualify", *sys.argv[1:]]
try:
    runpy.run_module("qualify", run_name="__main__")
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print("maxrss", peak, file=sys.stderr)
"""


def timed_run(db: str, domains: Path, icp: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of `qualify run`, in a fresh process."""
    env = env_for(db)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, "run", str(icp), str(domains), "--qualifier", NOOP],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines()
               if line.startswith("maxrss"))  # fmt: skip
    return took, rss / 1024


def raw_insert(db: str, domains: list[str]) -> float:
    """Raw inserts of the same rows into the same (migrated) schema: executemany on SQLite,
    COPY on PostgreSQL, in one transaction; seconds."""
    from qualify.store import Store

    Store.open(db).close()  # the schema, by qualify's own migrations
    now = time.time()
    if db.startswith("postgresql"):
        import io

        import psycopg2

        conn = psycopg2.connect(db)
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute("INSERT INTO runs (name, qualifier, icp, status, total, max_attempts,"
                           " backoff, created_at, updated_at) VALUES ('raw', 'x', '{}', 'PENDING',"
                           " %s, 3, 1, %s, %s) RETURNING id", (len(domains), now, now))  # fmt: skip
            (run_id,) = cursor.fetchone()
            buffer = io.StringIO("".join(f"{run_id}\t{d}\tqueued\t{now}\n" for d in domains))
            cursor.copy_expert("COPY jobs (run_id, domain, state, updated_at) FROM STDIN", buffer)
        conn.commit()
        took = time.perf_counter() - started
        conn.close()
        return took
    conn = sqlite3.connect(db)
    started = time.perf_counter()
    with conn:
        run_id = conn.execute(
            "INSERT INTO runs (name, qualifier, icp, status, total, max_attempts, backoff,"
            " created_at, updated_at) VALUES ('raw', 'x', '{}', 'PENDING', ?, 3, 1, ?, ?)"
            " RETURNING id", (len(domains), now, now)).fetchone()[0]  # fmt: skip
        conn.executemany(
            "INSERT INTO jobs (run_id, domain, state, updated_at) VALUES (?, ?, 'queued', ?)",
            ((run_id, d, now) for d in domains),
        )
    took = time.perf_counter() - started
    conn.close()
    return took


def query_times(db: str, repeat: int = 7) -> dict[str, float]:
    """Median ms of status --json, status --check, show RUN and a dashboard refresh, in this
    process after a warm-up (what the queries cost, not Python's start-up)."""
    import statistics

    from click.testing import CliRunner

    from qualify.api import Qualify
    from qualify.cli import cli
    from qualify.dashboard import Dashboard

    runner = CliRunner()
    env = {"QUALIFY_DB": db}

    def cli_action(*argv: str) -> Callable[[], object]:
        def action() -> object:
            result = runner.invoke(cli, ["--db", db, *argv], env=env)
            if result.exit_code not in (0, 3):
                raise RuntimeError(result.output)
            return result

        return action

    def median_ms(action: Callable[[], object]) -> float:
        action()
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            action()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    with Qualify.open(db, create=False) as app:
        run_id = app.runs.list(limit=1)[0].id
        dashboard = Dashboard(app)
        return {
            "status --json": median_ms(cli_action("status", "--json")),
            "status --check": median_ms(cli_action("status", "--check")),
            f"show {run_id}": median_ms(cli_action("show", str(run_id))),
            "dashboard refresh": median_ms(dashboard.refresh),
        }


def bench_run(args: argparse.Namespace, out: Lines, md: Lines) -> None:
    sizes = sorted(args.domains)
    title = (f"`qualify run` of {' and '.join(f'{n:,}' for n in sizes)} domains (time, peak RSS;"
             " raw insert of the same rows into the same schema)")  # fmt: skip
    out.append(title)
    md.append(f"**{title}**\n\n| store | domains | order | qualify run | µs per domain | "
              f"peak RSS | raw | share of raw |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    timings: dict[str, dict[str, float]] = {}
    per_domain: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for backend in ("sqlite", "postgres"):
        for count in sizes:
            sorted_domains = [f"company{i:07d}.com" for i in range(count)]
            shuffled = sorted_domains[:]
            random.Random(11).shuffle(shuffled)
            for order, domains in (("sorted", sorted_domains), ("shuffled", shuffled)):
                took, rss, raw = [], [], []
                for _ in range(args.run_repeat):
                    with tempfile.TemporaryDirectory() as tmp:
                        directory = Path(tmp)
                        path = directory / "domains.txt"
                        path.write_text("\n".join(domains) + "\n")
                        icp = directory / "icp.json"
                        icp.write_text(json.dumps({"name": "bench"}))
                        lite = contextlib.nullcontext(str(directory / "q.db"))
                        with fresh_pg() if backend == "postgres" else lite as db:
                            seconds, peak = timed_run(db, path, icp)
                            took.append(seconds)
                            rss.append(peak)
                            if order == "shuffled" and count == sizes[-1]:
                                timings[backend] = query_times(db)
                        raw_db = contextlib.nullcontext(str(directory / "raw.db"))
                        with fresh_pg() if backend == "postgres" else raw_db as db:
                            raw.append(raw_insert(db, domains))
                share = min(raw) / min(took)
                per_domain.setdefault((backend, order), []).append(
                    (count, min(took) / count * 1e6, min(rss))
                )
                raw_name = "COPY" if backend == "postgres" else "executemany"
                target = ""
                if backend == "postgres":
                    target = " (≥ 0.8: met)" if share >= 0.8 else " (≥ 0.8: missed)"
                out.append(
                    f"  {backend:<9}{count:>10,} {order:<9} {spread(took, '{:.1f}')} s "
                    f"({spread([count / t / 1000 for t in took], '{:.0f}')}k/s), "
                    f"peak RSS {spread(rss, '{:.0f}')} MB; raw {raw_name} "
                    f"{spread(raw, '{:.1f}')} s; {share:.2f} of raw{target}"
                )
                md.append(
                    f"| {backend} | {count:,} | {order} | {spread(took, '{:.1f}')} s | "
                    f"{min(took) / count * 1e6:.1f} | {spread(rss, '{:.0f}')} MB | "
                    f"{raw_name} {spread(raw, '{:.1f}')} s | {share:.2f}{target} |"
                )
    md.append("")
    if len(sizes) > 1:
        md.append(
            f"Growth from {sizes[0]:,} to {sizes[-1]:,} domains (time per domain at the"
            " largest over the smallest: 1.00 is linear; peak RSS added per million):"
        )
        md.append("")
        for (backend, order), points in per_domain.items():
            (n0, us0, rss0), (n1, us1, rss1) = points[0], points[-1]
            rss_per_million = (rss1 - rss0) / ((n1 - n0) / 1e6)
            line = (f"{backend} {order}: {us0:.1f} → {us1:.1f} µs per domain ({us1 / us0:.2f}×),"
                    f" RSS +{rss_per_million:.0f} MB per million")  # fmt: skip
            out.append("  " + line)
            md.append(f"- {line}")
        md.append("")
    title = f"Query time at {sizes[-1]:,} jobs (one run, all queued; median ms, in-process)"
    out.append(title)
    md.append(f"**{title}**\n\n| command | SQLite | PostgreSQL |\n|---|---|---|")
    for (label, lite_ms), pg in zip(timings["sqlite"].items(), timings["postgres"].values(),
                                    strict=True):  # fmt: skip
        out.append(
            f"  {label:<22}{lite_ms:8.1f}{pg:8.1f}  (< 50 ms: "
            f"{'met' if max(lite_ms, pg) < 50 else 'missed'})"
        )
        md.append(
            f"| `{label.split(' ')[0]} {label.split(' ')[1] if ' ' in label else ''}` | "
            f"{lite_ms:.1f} | {pg:.1f} |"
        )
    md.append("")


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}; load average at the start "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--domains", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--run-repeat", type=int, default=1)
    parser.add_argument("--io-processes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--only", nargs="+", default=["pg", "io", "sqlite", "run"])
    parser.add_argument("--markdown", type=Path)
    parser.add_argument(
        "--readme", type=Path, help="paste the markdown (--markdown FILE) into this README"
    )
    parser.add_argument(
        "--paste-only", action="store_true", help="measure nothing: paste --markdown FILE"
    )
    args = parser.parse_args()
    if args.paste_only:
        paste(args.markdown, args.readme)
        return
    out: Lines = [machine()]
    md: Lines = [f"Measured by `python tests/bench/bench_scale.py "
                 f"{' '.join(sys.argv[1:])}`".rstrip() + f" on {machine()}.", ""]  # fmt: skip
    print(out[0], flush=True)
    steps = {"pg": bench_postgres_noop, "io": bench_postgres_io, "sqlite": bench_sqlite_noop,
             "run": bench_run}  # fmt: skip
    for name in args.only:
        before = len(out)
        started = time.perf_counter()
        steps[name](args, out, md)
        print("\n".join(out[before:]), f"\n  ({time.perf_counter() - started:.0f} s)\n",
              flush=True)  # fmt: skip
    load = os.getloadavg()
    md.append(f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.")
    if args.markdown:
        args.markdown.write_text("\n".join(md) + "\n")
        if args.readme:
            paste(args.markdown, args.readme)


def paste(markdown: Path, readme: Path) -> None:
    """The benchmark's markdown between the README's bench_scale markers."""
    start, end = "<!-- bench_scale:start -->\n", "<!-- bench_scale:end -->"
    text = readme.read_text()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + start + markdown.read_text() + end + tail)


if __name__ == "__main__":
    main()
