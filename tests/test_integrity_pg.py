"""Referential integrity on PostgreSQL without foreign keys (m015): every statement that
writes a child row whose run or job does not exist fails with foreign_key_violation and
writes nothing, whether by INSERT or by COPY; a run or job that rows refer to cannot be
deleted, nor its id changed."""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import psycopg2
import pytest

from qualify.api import Qualify
from qualify.store import open_database
from qualify.store.database import Database
from qualify.store.migrations import MIGRATIONS, migrate
from tests import backends
from tests.support import PortableSql, create_run

pytestmark = pytest.mark.parametrize("stack", ["postgres"], indirect=True)

MISSING = 987654321
FOREIGN_KEY_VIOLATION = "23503"

#: (table, column, parent): every reference the store keeps.
REFERENCES = [
    ("jobs", "run_id", "runs"),
    ("results", "job_id", "jobs"),
    ("results", "run_id", "runs"),
    ("job_inputs", "job_id", "jobs"),
    ("result_history", "job_id", "jobs"),
    ("result_history", "run_id", "runs"),
    ("llm_accounts", "run_id", "runs"),
]


def pgcode(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, or of the one peewee wrapped."""
    return getattr(getattr(exc, "orig", exc), "pgcode", None)


def count(database: Database, table: str) -> int:
    return int(database.db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def run(app: Qualify) -> Iterator[tuple[int, list[int]]]:
    """A run of three jobs; its id and its jobs' ids."""
    run_id = create_run(app, ["acme.com", "globex.com", "initech.com"])
    ids = [
        row[0]
        for row in app.database.db.execute_sql(
            "SELECT id FROM jobs WHERE run_id = %s ORDER BY id", (run_id,)
        )
    ]
    yield run_id, ids


def rows_for(table: str, run_id: int, job_ids: list[int], dangling: str | None) -> list[str]:
    """VALUES rows for ``table``, one a job of ``job_ids``, every reference real but the
    ``dangling`` column of the last row."""
    made = []
    for n, job_id in enumerate(job_ids):
        last = n == len(job_ids) - 1
        run = MISSING if last and dangling == "run_id" else run_id
        job = MISSING if last and dangling == "job_id" else job_id
        made.append(
            {
                "jobs": f"({run}, 'new{n}.com', 'queued', 0)",
                "results": f"({job}, {run}, 'qualified', '[]', '{{}}', '{{}}', 0)",
                "job_inputs": f"({job}, '[]')",
                "result_history": f"({job}, {run}, 'done', 1, 0)",
                "llm_accounts": f"({run})",
            }[table]
        )
    return made


COLUMNS = {
    "jobs": "run_id, domain, state, updated_at",
    "results": "job_id, run_id, verdict, reasons, evidence, extra, created_at",
    "job_inputs": "job_id, input",
    "result_history": "job_id, run_id, state, attempts, replaced_at",
    "llm_accounts": "run_id",
}


@pytest.mark.parametrize(("table", "column", "parent"), REFERENCES)
def test_a_multi_row_insert_with_one_missing_parent_fails_and_writes_nothing(
    app: Qualify, run: tuple[int, list[int]], table: str, column: str, parent: str
) -> None:
    run_id, job_ids = run
    database = app.database
    before = count(database, table)
    # Two rows (the jobs the run has no result or input row for yet: unique keys), the
    # second one dangling.
    values = ", ".join(rows_for(table, run_id, job_ids[1:], column))
    with pytest.raises(peewee.IntegrityError) as caught, database.write():
        database.db.execute_sql(f"INSERT INTO {table} ({COLUMNS[table]}) VALUES {values}")
    assert pgcode(caught.value) == FOREIGN_KEY_VIOLATION
    message = str(caught.value)
    assert table in message and str(MISSING) in message and parent in message
    assert count(database, table) == before


def test_copy_of_jobs_with_a_missing_run_fails_and_writes_nothing(
    app: Qualify, run: tuple[int, list[int]]
) -> None:
    run_id, _ = run
    database = app.database
    rows = [(run_id, "fine.com", "queued", 0), (MISSING, "orphan.com", "queued", 0)]
    with pytest.raises(psycopg2.Error) as caught, database.write():
        database.insert_many("insert_jobs", rows)
    assert pgcode(caught.value) == FOREIGN_KEY_VIOLATION
    assert f"run_id {MISSING}" in str(caught.value)
    assert count(database, "jobs") == 3


def test_results_and_inputs_for_a_missing_job_fail_through_the_store_s_inserts(
    app: Qualify, run: tuple[int, list[int]]
) -> None:
    run_id, job_ids = run
    database = app.database
    result = ("qualified", 1.0, "[]", "{}", "{}", "w1")
    for query, rows in (
        ("insert_results", [(job_ids[0], run_id, *result), (MISSING, run_id, *result)]),
        ("insert_results", [(job_ids[0], MISSING, *result)]),
        ("insert_job_inputs", [(job_ids[0], "[]"), (MISSING, "[]")]),
    ):
        with pytest.raises(psycopg2.Error) as caught, database.write():
            database.insert_many(query, rows)
        assert pgcode(caught.value) == FOREIGN_KEY_VIOLATION, query
        assert str(MISSING) in str(caught.value)
    assert count(database, "results") == 0
    assert count(database, "job_inputs") == 0


def test_the_store_s_own_writes_of_children_still_succeed(
    app: Qualify, run: tuple[int, list[int]]
) -> None:
    run_id, job_ids = run
    database = app.database
    with database.write():
        database.insert_many(
            "insert_results", [(job_ids[0], run_id, "qualified", 1.0, "[]", "{}", "{}", "w1")]
        )
        database.insert_many("insert_job_inputs", [(job_ids[1], "[]")])
        database.insert_many("insert_jobs", [(run_id, "more.com", "queued", 0)])
    assert (count(database, "results"), count(database, "job_inputs")) == (1, 1)
    assert count(database, "jobs") == 4


@pytest.mark.parametrize(("table", "column", "parent"), REFERENCES)
def test_changing_a_reference_to_a_missing_parent_fails(
    app: Qualify, run: tuple[int, list[int]], table: str, column: str, parent: str
) -> None:
    run_id, job_ids = run
    database = app.database
    other_run = create_run(app, ["other.com"])
    (values,) = rows_for(table, run_id, job_ids[:1], None)
    with database.write():
        database.db.execute_sql(f"INSERT INTO {table} ({COLUMNS[table]}) VALUES {values}")
    with pytest.raises(peewee.IntegrityError) as caught, database.write():
        database.db.execute_sql(f"UPDATE {table} SET {column} = {MISSING}")
    assert pgcode(caught.value) == FOREIGN_KEY_VIOLATION
    assert f"{column} {MISSING}" in str(caught.value)
    real = other_run if parent == "runs" else job_ids[-1]
    with database.write():  # to a parent that exists: allowed, as with a foreign key
        database.db.execute_sql(f"UPDATE {table} SET {column} = {real}")


def test_a_run_or_job_that_rows_refer_to_cannot_be_deleted_or_renumbered(
    app: Qualify, run: tuple[int, list[int]]
) -> None:
    run_id, job_ids = run
    database = app.database
    with database.write():
        database.insert_many(
            "insert_results", [(job_ids[0], run_id, "qualified", 1.0, "[]", "{}", "{}", "w1")]
        )
    for statement in (
        f"DELETE FROM runs WHERE id = {run_id}",
        f"UPDATE runs SET id = {MISSING} WHERE id = {run_id}",
        f"DELETE FROM jobs WHERE id = {job_ids[0]}",  # its result refers to it
        f"UPDATE jobs SET id = {MISSING} WHERE id = {job_ids[0]}",
    ):
        with pytest.raises(peewee.IntegrityError) as caught, database.write():
            database.db.execute_sql(statement)
        assert pgcode(caught.value) == FOREIGN_KEY_VIOLATION, statement
        assert "still referenced" in str(caught.value)
    assert (count(database, "runs"), count(database, "jobs")) == (1, 3)
    # Rows nothing refers to go, as with a foreign key.
    with database.write():
        database.db.execute_sql(f"DELETE FROM jobs WHERE id = {job_ids[2]}")
        database.db.execute_sql(f"UPDATE jobs SET id = {MISSING} WHERE id = {job_ids[1]}")
    assert count(database, "jobs") == 2


def _integrity_schema(database: Database) -> tuple[list[tuple], list[tuple]]:
    """Foreign keys left on the store's tables, and the triggers: (table, name, level)."""
    sql = PortableSql(database)
    keys = sql.fetchall(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'"
    )
    triggers = sql.fetchall(
        "SELECT tgrelid::regclass::text, tgname,"
        " CASE WHEN tgtype::int & 1 = 1 THEN 'row' ELSE 'statement' END"
        " FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"
    )
    return keys, triggers


def test_a_store_upgraded_from_the_first_release_checks_like_a_fresh_one(app: Qualify) -> None:
    fresh = _integrity_schema(app.database)
    keys, triggers = fresh
    assert keys == []
    inserts = [t for t in triggers if t[1].endswith("_parent")]
    assert sorted(t[:2] for t in inserts) == sorted(
        (table, f"{table}_{column}_parent") for table, column, _ in REFERENCES
    )
    assert {t[2] for t in inserts} == {"statement"}  # never a check per inserted row
    with backends.postgres_database() as url:
        database = open_database(url)
        sql = PortableSql(database)
        sql.execute("CREATE TABLE qualify_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        MIGRATIONS[0](database)
        sql.execute("INSERT INTO qualify_migrations VALUES ('m001_initial', 0)")
        migrate(database)
        assert _integrity_schema(database) == fresh
        database.close_all()


def test_writing_a_run_s_children_takes_no_lock_on_the_run_row(
    app: Qualify, run: tuple[int, list[int]]
) -> None:
    # A foreign key locks the parent row (KEY SHARE) for every child row: all workers of a
    # run on its one row. Held FOR UPDATE elsewhere, that lock would wait, here until
    # lock_timeout.
    run_id, job_ids = run
    database = app.database
    holder = psycopg2.connect(app.database.url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run_id,))
        with database.write():
            database.db.execute_sql("SET LOCAL lock_timeout = '2s'")
            database.insert_many(
                "insert_results",
                [(job_ids[0], run_id, "qualified", 1.0, "[]", "{}", "{}", "w1")],
            )
            database.insert_many("insert_jobs", [(run_id, "more.com", "queued", 0)])
    finally:
        holder.close()
    assert (count(database, "results"), count(database, "jobs")) == (1, 4)
