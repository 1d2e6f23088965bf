"""A database that is not a qualify store of this version is never written: another
program's SQLite file, a store written by a newer qualify, and (for read-only commands) an
empty database or an older store."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import backends
from tests.support import ROOT, Stack, create_run, raw, write_inputs

QUALIFIER = ["--qualifier", "tests.sample_qualifiers:by_name"]
READ_ONLY = (["status"], ["status", "--check"], ["status", "--json"], ["show", "1"],
             ["show", "1", "acme.com"], ["export", "1"], ["status", "1"])  # fmt: skip


def qualify(stack_cli: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own (as users run it)."""
    return subprocess.run(
        [sys.executable, "-m", "qualify", *stack_cli, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("CREATE TABLE tags (name TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    return path


WRITING = (["run", "icp.json", "domains.txt", *QUALIFIER], ["worker", "--burst"],
           ["cancel", "1"], ["recover"])  # fmt: skip


@pytest.mark.parametrize("command", [*READ_ONLY, *WRITING], ids=" ".join)
def test_another_programs_sqlite_file_is_refused_untouched(
    tmp_path: Path, command: list[str]
) -> None:
    write_inputs(tmp_path, ["acme.com"])
    path = foreign_file(tmp_path / "notes.db")
    before = digest(path)
    done = qualify(["--db", str(path)], *command, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"Error: {path}: not a qualify store (tables: notes, tags)"
    assert digest(path) == before
    assert not Path(f"{path}-wal").exists()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_read_only_commands_never_create_a_store_in_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # a 0-byte file: SQLite's empty database
    assert path.stat().st_size == 0
    for command in READ_ONLY:
        done = qualify(["--db", str(path)], *command, cwd=tmp_path)
        if command == ["status"]:
            assert (done.returncode, done.stdout) == (0, "No runs yet.\n"), done.stderr
        elif command[:2] in (["status", "--json"], ["status", "--check"]):
            assert done.returncode == 0, done.stderr
        else:
            assert done.returncode == 2, (command, done.stderr)
            assert "no qualify store here yet" in done.stderr
    assert path.stat().st_size == 0


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database no command has touched yet."""
    with backends.postgres_database() as url:
        yield url


def pg_tables(url: str) -> list[str]:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        found = sorted(row[0] for row in cursor.fetchall())
    conn.close()
    return found


def test_read_only_commands_never_create_a_store_on_postgres(
    fresh_postgres: str, tmp_path: Path
) -> None:
    for command in READ_ONLY:
        done = qualify(["--db", fresh_postgres], *command, cwd=tmp_path)
        assert done.returncode in (0, 2), (command, done.stderr)
    assert pg_tables(fresh_postgres) == []


def test_read_only_commands_do_not_upgrade_an_older_store(tmp_path: Path) -> None:
    from qualify.store import open_database
    from qualify.store.migrations import MIGRATIONS
    from tests.support import PortableSql

    path = tmp_path / "old.db"
    database = open_database(str(path))
    sql = PortableSql(database)
    sql.execute("CREATE TABLE qualify_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    MIGRATIONS[0](database)
    sql.execute("INSERT INTO qualify_migrations VALUES ('m001_initial', 0)")
    database.close()
    before = digest(path)
    done = qualify(["--db", str(path)], "status", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"Error: {path} was written by an older qualify (lacks m002_run_lease_indexes); a"
        " writing command (`qualify run`, `qualify worker`) upgrades it"
    )
    assert digest(path) == before


def test_a_store_from_a_newer_qualify_is_refused_by_every_command(
    stack: Stack, tmp_path: Path
) -> None:
    app = stack.open()
    create_run(app, ["acme.com"])
    raw(app).execute("INSERT INTO qualify_migrations VALUES ('m099_from_the_future', 0)")
    stack.close()
    try:
        refused_by_every_command(stack, tmp_path)
    finally:
        forget_the_future(stack)


def forget_the_future(stack: Stack) -> None:
    """The session's PostgreSQL database outlives this test: the record must go."""
    from qualify.store import open_database

    database = open_database(stack.db)
    database.db.execute_sql("DELETE FROM qualify_migrations WHERE name = 'm099_from_the_future'")
    database.close()


def refused_by_every_command(stack: Stack, tmp_path: Path) -> None:
    write_inputs(tmp_path, ["globex.com"])
    before = stack.snapshot()
    for command in [*READ_ONLY, ["run", "icp.json", "domains.txt", *QUALIFIER],
                    ["worker", "--burst"], ["retry", "1"], ["cancel", "1"]]:  # fmt: skip
        done = qualify(stack.cli, *command, cwd=tmp_path)
        assert done.returncode == 2, (command, done.stderr)
        shown = stack.db if stack.backend == "sqlite" else "postgresql://postgres@127.0.0.1"
        assert done.stderr.startswith(f"Error: {shown}"), done.stderr
        assert done.stderr.rstrip().endswith(
            "was written by a newer qualify (m099_from_the_future); upgrade qualify"
        ), done.stderr
    assert stack.snapshot() == before
