"""Migrations are append-only, applied once, and bring an older database forward, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import inspect
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from qualify.store import open_database
from qualify.store.migrations import MIGRATIONS, migrate
from tests import backends
from tests.support import ROOT, PortableSql, raw, write_inputs

# Released migrations, in order, with the first 16 hex digits of the SHA-256 of their
# source. Never rename, reorder, remove or edit one: append.
RELEASED = {
    "m001_initial": "a9b748f951a6e2a3",
    "m002_run_lease_indexes": "07cf906b64de6ced",
    "m003_unindex_queued_jobs": "a93e1b605c453e0d",
    "m004_results_by_score": "d7609af24efed6ae",
    "m005_page_store": "9cf8c66c0f695f2c",
    "m006_run_lineage_and_page_age": "4d423479c5ea3841",
    "m007_job_inputs": "4b47ab63ce03e72e",
    "m008_unknown_counter": "653f176d10e31e33",
    "m009_worker_pause": "a9772283d8cc1a43",
    "m010_result_history": "4157b1ed92c3badd",
    "m011_queue_tables": "2573f204f596ceb5",
    "m012_claim_numbers": "ce4d3d8b5175ca4f",
    "m013_llm_cache": "eaa189df347f4d7c",
    "m014_run_counters": "8e42c3cdf33e6a69",
    "m015_statement_level_integrity": "34850d468691a447",
}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no qualify has opened yet, on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "q.db")
        return
    with backends.postgres_database() as url:
        yield url


def test_released_migrations_are_never_rewritten() -> None:
    found = {
        m.__name__: hashlib.sha256(inspect.getsource(m).encode()).hexdigest()[:16]
        for m in MIGRATIONS
    }
    assert list(found)[: len(RELEASED)] == list(RELEASED)
    assert {name: found[name] for name in RELEASED} == RELEASED


def test_a_fresh_database_gets_every_migration_once(fresh_db: str) -> None:
    database = open_database(fresh_db)
    assert migrate(database) == [m.__name__ for m in MIGRATIONS]
    assert migrate(database) == []
    rows = PortableSql(database).fetchall("SELECT name FROM qualify_migrations ORDER BY name")
    assert [r[0] for r in rows] == sorted(m.__name__ for m in MIGRATIONS)
    database.close()


def test_concurrent_first_opens_migrate_once(fresh_db: str) -> None:
    path = fresh_db
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        try:
            barrier.wait()
            Qualify.open(path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    database = open_database(path)
    count = PortableSql(database).scalar("SELECT COUNT(*) FROM qualify_migrations")
    assert count == len(MIGRATIONS)
    database.close()


def test_a_database_from_the_first_release_keeps_working(fresh_db: str) -> None:
    path = fresh_db
    database = open_database(path)
    sql = PortableSql(database)
    sql.execute("CREATE TABLE qualify_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    MIGRATIONS[0](database)
    sql.execute("INSERT INTO qualify_migrations VALUES ('m001_initial', 0)")
    sql.execute(
        "INSERT INTO runs (name, qualifier, icp, status, total, max_attempts, backoff,"
        " created_at, updated_at) VALUES ('old', 'x:y', '{}', 'PENDING', 0, 5, 10, 0, 0)"
    )
    database.close()
    with Qualify.open(path) as app:
        assert app.runs.get(1).name == "old"
        applied = raw(app).fetchall("SELECT name FROM qualify_migrations")
        assert {r[0] for r in applied} == {m.__name__ for m in MIGRATIONS}


def test_four_runs_started_at_once_on_a_fresh_database_all_succeed(
    fresh_db: str, tmp_path: Path
) -> None:
    icp, domains = write_inputs(tmp_path, ["acme.com", "globex.com", "initech.com"])
    command = [sys.executable, "-m", "qualify", "--db", fresh_db, "run", icp, domains,
               "--qualifier", "tests.sample_qualifiers:by_name"]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    started = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in started]
    assert [p.returncode for p in started] == [0, 0, 0, 0], errors
    with Qualify.open(fresh_db) as app:
        runs = app.runs.list(limit=10)
        assert sorted(run.total for run in runs) == [3, 3, 3, 3]
        assert app.queue.size() == 12


def test_no_ddl_runs_when_a_current_store_is_opened(fresh_db: str) -> None:
    Qualify.open(fresh_db).close()
    database = open_database(fresh_db)
    statements: list[str] = []
    execute = database.db.execute_sql

    def watched(sql: str, params: object = None, *args: object, **kwargs: object) -> object:
        statements.append(sql)
        return execute(sql, params, *args, **kwargs)

    database.db.execute_sql = watched  # type: ignore[method-assign]
    from qualify.queue import open_queue
    from qualify.store import Store
    from qualify.store.migrations import check_readable

    check_readable(database)
    queue = open_queue(None, database.db, database.display_url)
    migrate(database)
    store = Store(database, queue)
    store.queue.is_empty()
    store.queue.push([1])
    ddl = [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP"))]
    assert ddl == []
    database.close()
