"""Migrations are append-only, applied once, and bring an older database forward."""

from __future__ import annotations

import threading
from pathlib import Path

from qualify.api import Qualify
from qualify.store import open_database
from qualify.store.migrations import MIGRATIONS, migrate
from tests.support import PortableSql, raw

# Released migrations, in order. Never rename, reorder or remove one: append.
RELEASED = ["m001_initial", "m002_run_lease_indexes", "m003_unindex_queued_jobs"]


def test_released_migrations_are_never_rewritten() -> None:
    assert [m.__name__ for m in MIGRATIONS][: len(RELEASED)] == RELEASED


def test_a_fresh_database_gets_every_migration_once(tmp_path: Path) -> None:
    database = open_database(str(tmp_path / "q.db"))
    assert migrate(database) == [m.__name__ for m in MIGRATIONS]
    assert migrate(database) == []
    rows = PortableSql(database).fetchall("SELECT name FROM qualify_migrations ORDER BY name")
    assert [r[0] for r in rows] == sorted(m.__name__ for m in MIGRATIONS)
    database.close()


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = str(tmp_path / "q.db")
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


def test_a_database_from_the_first_release_keeps_working(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
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
