"""Build ``qualify.db.example``: a small store to try `status`, `show`, `export` and
`recover --dry-run` on, without network. Deterministic: the same code builds the same runs,
jobs and results (timestamps and worker ids aside).

Run: python tests/make_example_db.py [PATH]   (default: qualify.db.example at the top level)

It uses the project's own code throughout: the demo's fictional sites behind the demo's
loopback gateway, the web qualifier, `Qualify.create_run`, a real `Worker`, and the store's
job transitions. Three runs:

1. completed: the demo's companies, every verdict, one retry after a 503;
2. with failures: a site that always answers 503 (failed after max-attempts 2), one that
   answers 404 and a name no server knows (both results with verdict unknown);
3. stuck: a worker took a job and died an hour ago; one job was done before that, the rest
   wait in the queue. The run is PROCESSING, nothing moved for an hour, no lease is live.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from qualify.api import Qualify, prepare_run
from qualify.demo import SITES, DemoGateway, DemoSite, fetch_settings, write_inputs
from qualify.qualifiers import check_result
from qualify.qualifiers.web import WebQualifier
from qualify.settings import Settings
from qualify.worker import WorkerOptions
from tests.support import PortableSql

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "qualify.db.example"

# Sites only this script serves: one always down, one without any page.
DOWN = DemoSite("maintenance.example.net", "always answers 503", unavailable_first=10**9)
EMPTY = DemoSite("moved-away.example.org", "answers 404 for everything")
UNKNOWN_HOST = "no-such-company.example.com"  # the gateway reports dns_nxdomain

CRASHED_WORKER = "example-host:4242:crashed"
# How long ago the stuck run's worker died: far beyond any --stuck-after people try.
AGED = 3600.0


def build(path: Path) -> None:
    """Write the example database at ``path`` (replacing any file there)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with DemoGateway((*SITES, DOWN, EMPTY)) as gateway, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=str(path), fetch=fetch_settings(gateway))
        with Qualify.open(settings=settings) as app:
            app.jobs.shard = 0  # the counter shard is random: the file must not be
            _completed_run(app, Path(tmp))
            _run_with_failures(app, Path(tmp))
            _stuck_run(app, Path(tmp))
    _compact(path)


def _create(app: Qualify, folder: Path, hosts: list[str], name: str, attempts: int) -> int:
    inputs = write_inputs(folder / name.split(":")[0].lower().replace(" ", "-"))
    inputs.domains.write_text("".join(f"{host}\n" for host in hosts), encoding="utf-8")
    prepared = prepare_run(str(inputs.icp), str(inputs.domains), "web")
    return app.create_run(prepared, name=name, max_attempts=attempts, backoff=0.2).run_id


def _work(app: Qualify) -> None:
    options = WorkerOptions(burst=True, handle_signals=False, hostname="example-host", lease=10)
    app.worker(options).run()


def _completed_run(app: Qualify, folder: Path) -> None:
    _create(app, folder, [s.host for s in SITES], "Example 1: the demo's companies", 3)
    _work(app)


def _run_with_failures(app: Qualify, folder: Path) -> None:
    hosts = [SITES[0].host, DOWN.host, EMPTY.host, UNKNOWN_HOST]
    _create(app, folder, hosts, "Example 2: sites that fail", 2)
    _work(app)


def _stuck_run(app: Qualify, folder: Path) -> None:
    hosts = ["fleetwise.example.net", "smallfleet.example.com", "bigfreight.example.org",
             "shoply.example.net"]  # fmt: skip
    run_id = _create(app, folder, hosts, "Example 3: left behind by a crashed worker", 5)
    app.workers.register(
        CRASHED_WORKER, hostname="example-host", pid=4242, concurrency=2, lease=30, version="0"
    )
    plan = app.runs.plan(run_id)
    # The crashed worker finished one job, then died while it held the next.
    _, (first,) = app.jobs.claim_next(1, CRASHED_WORKER, 30)
    with WebQualifier(app.settings.fetch) as qualify:
        app.jobs.complete(first, check_result(qualify(first.domain, plan.icp)))
    app.jobs.claim_next(1, CRASHED_WORKER, 30)
    # An hour has passed since: every timestamp of the run and the worker moves back.
    db = PortableSql(app.database)
    with app.database.write():
        for column in ("created_at", "updated_at", "finished_at"):
            db.execute(f"UPDATE runs SET {column} = {column} - ? WHERE id = ?", (AGED, run_id))
        for column in ("started_at", "finished_at", "updated_at", "lease_expires_at"):
            db.execute(f"UPDATE jobs SET {column} = {column} - ? WHERE run_id = ?", (AGED, run_id))
        db.execute(
            "UPDATE run_counters SET updated_at = updated_at - ? WHERE run_id = ?", (AGED, run_id)
        )
        db.execute(
            "UPDATE results SET created_at = created_at - ? WHERE run_id = ?", (AGED, run_id)
        )
        db.execute(
            "UPDATE workers SET started_at = started_at - ?, heartbeat_at = heartbeat_at - ?"
            " WHERE id = ?",
            (AGED, AGED, CRASHED_WORKER),
        )


def _compact(path: Path) -> None:
    """One self-contained file, as small as it gets: no WAL beside it, free pages dropped."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
    finally:
        conn.close()


def content(path: Path) -> dict[str, Any]:
    """What the example holds, without the run-to-run noise (timestamps, worker ids, the
    build machine's host and process): compare two builds with this."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            "migrations": _rows(conn, "SELECT name FROM qualify_migrations ORDER BY name"),
            "runs": _rows(
                conn,
                "SELECT id, name, qualifier, icp, status, total, completed, failed, qualified,"
                " cancelled, max_attempts, backoff, finished_at IS NULL FROM runs ORDER BY id",
            ),
            "jobs": _rows(
                conn,
                "SELECT id, run_id, domain, state, attempts, lease_owner IS NULL, error_code,"
                " error, next_attempt_at IS NULL, finished_at IS NULL FROM jobs ORDER BY id",
            ),
            "results": _rows(
                conn,
                "SELECT job_id, run_id, verdict, score, reasons, evidence, extra FROM results"
                " ORDER BY job_id",
            ),
            "queued_messages": _rows(conn, "SELECT data FROM huey_task ORDER BY id"),
        }
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return [tuple(row) for row in conn.execute(sql)]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE
    build(target)
    print(f"wrote {target} ({os.path.getsize(target) // 1024} KB)")
