"""The servers the scale-out tests run against: a PostgreSQL database and a Redis db index
that belong to this test session alone, emptied before each test and removed at the end.

Outside CI a missing server skips its tests with the reason; with ``CI=true`` it fails them,
since `.ci/run` makes sure both servers are up.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_DSN = os.environ.get("QUALIFY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("QUALIFY_TEST_REDIS", "redis://127.0.0.1:6379")
# Every table: no foreign key cascades a TRUNCATE to a child table any more (m015).
STORE_TABLES = (
    "result_history",
    "job_inputs",
    "run_counters",
    "results",
    "jobs",
    "runs",
    "workers",
    "pages",
    "page_contents",
    "llm_verdicts",
    "llm_accounts",
)


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not available: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for this session; its URL."""
    import psycopg2

    name = f"qualify_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
    except psycopg2.Error as exc:
        unavailable("PostgreSQL", exc)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def reset_postgres(url: str) -> None:
    """Empty the store and queue tables (they exist once a test has opened the database)."""
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND (tablename LIKE 'huey_%%' OR tablename = ANY(%s))",
            (list(STORE_TABLES),),
        )
        tables = [row[0] for row in cursor.fetchall()]
        if tables:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    conn.close()


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis db index no other test session on this machine is using; its URL."""
    import redis

    lock_owner = f"{os.getpid()}-{secrets.token_hex(3)}"
    try:
        control = redis.Redis.from_url(f"{REDIS_URL}/0", socket_connect_timeout=5)
        control.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    for index in range(1, 16):
        if control.set(f"qualify-test-lock:{index}", lock_owner, nx=True, ex=3600):
            break
    else:
        unavailable("Redis", RuntimeError("every db index 1-15 is taken by other test sessions"))
    url = f"{REDIS_URL}/{index}"
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if control.get(f"qualify-test-lock:{index}") == lock_owner.encode():
            control.delete(f"qualify-test-lock:{index}")


def reset_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()
