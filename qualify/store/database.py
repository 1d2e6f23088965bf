"""Open the store's database from a path or URL, and speak each backend's dialect.

Every timestamp the store writes comes from the database's clock (``{now}`` in SQL), never
from a worker's, so processes on hosts with skewed clocks agree on when a lease expires.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import peewee
from playhouse.shortcuts import ReconnectMixin

from qualify.errors import BackendUnavailable, ConfigError, NotFoundError
from qualify.store.writelock import WriterLock

SQLITE_BUSY_TIMEOUT = 60.0

# Seconds since the epoch, as a double, from the database's own clock.
_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgres": "(extract(epoch from clock_timestamp())::double precision)",
}


class _ReconnectingPostgres(ReconnectMixin, peewee.PostgresqlDatabase):
    """Reconnects when the server dropped an idle connection (restart, failover), outside
    transactions only: a transaction cut in half is an error the caller must see."""

    reconnect_errors = (
        (peewee.OperationalError, "server closed the connection"),
        (peewee.OperationalError, "terminating connection"),
        (peewee.InterfaceError, "connection already closed"),
    )


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc[-1]}"))


@dataclass
class Database:
    """A peewee database plus what the store needs to know about its dialect."""

    db: peewee.Database
    backend: str  # "sqlite" or "postgres"
    url: str

    def __post_init__(self) -> None:
        self._sql_cache: dict[str, str] = {}
        self._writer = WriterLock(self.url) if self.backend == "sqlite" else None

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @cached_property
    def now_sql(self) -> str:
        return _NOW[self.backend]

    def sql(self, text: str) -> str:
        """Turn portable SQL (``?`` parameters, ``{now}``) into this backend's SQL."""
        cached = self._sql_cache.get(text)
        if cached is None:
            cached = text.replace("{now}", self.now_sql)
            if self.backend == "postgres":
                cached = cached.replace("?", "%s")
            self._sql_cache[text] = cached
        return cached

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute_sql(self.sql(text), tuple(params))

    def fetchall(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(text, params).fetchall())

    def fetchone(self, text: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(text, params).fetchone()

    def scalar(self, text: str, params: Sequence[Any] = ()) -> Any:
        row = self.fetchone(text, params)
        return None if row is None else row[0]

    def now(self) -> float:
        return float(self.scalar("SELECT {now}"))

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction. On SQLite: ``BEGIN IMMEDIATE``, so writers queue instead of
        failing when they upgrade a read lock, under the writer lock (see ``writelock``)."""
        if self._writer is None or self.db.in_transaction():
            with self.db.atomic():
                yield
            return
        with self._writer.held(), self.db.atomic("IMMEDIATE"):
            yield

    def after_commit(self, fn: Any) -> None:
        self.db.after_commit(fn)

    def placeholders(self, count: int) -> str:
        return ",".join("?" * count)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], chunk: int = 5000
    ) -> None:
        """Insert many rows with as few round trips as the driver allows."""
        cursor = self.db.cursor()
        names = ", ".join(columns)
        if self.backend == "postgres":
            from psycopg2.extras import execute_values

            sql = f"INSERT INTO {table} ({names}) VALUES %s"
            for batch in _batches(rows, chunk):
                execute_values(cursor, sql, batch, page_size=chunk)
        else:
            sql = f"INSERT INTO {table} ({names}) VALUES ({self.placeholders(len(columns))})"
            for batch in _batches(rows, chunk):
                cursor.executemany(sql, batch)

    def close(self) -> None:
        """Close this thread's connection."""
        if not self.db.is_closed():
            self.db.close()


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def open_database(target: str, *, create: bool = True) -> Database:
    """Open ``target``: a file path, ``sqlite:///path`` or ``postgresql://…``."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("", "sqlite"):
        return _open_sqlite(target, create)
    if scheme in ("postgres", "postgresql"):
        return _open_postgres(target)
    raise ConfigError(
        f"database {redact(target)!r}: unsupported scheme {scheme!r}; "
        "use a file path, sqlite:///path or postgresql://"
    )


def _open_sqlite(target: str, create: bool) -> Database:
    path = target
    if target.lower().startswith("sqlite://"):
        path = unquote(urlsplit(target).path)
        # sqlite:///rel.db has path "/rel.db"; sqlite:////abs.db has "//abs.db".
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigError(f"database {target!r}: no file path after sqlite:///")
    if not create and not os.path.exists(path):
        raise NotFoundError(f"{path}: no such database (`qualify run` creates it)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigError(f"database {path!r}: directory {parent!r} does not exist")
    db = peewee.SqliteDatabase(
        path,
        timeout=SQLITE_BUSY_TIMEOUT,
        pragmas={
            # In WAL mode NORMAL survives any process crash; a power cut may roll back the
            # last commits, which the lease model absorbs (the job is simply run again).
            "synchronous": "normal",
            "busy_timeout": int(SQLITE_BUSY_TIMEOUT * 1000),
            "foreign_keys": 0,
            "cache_size": -32000,
        },
    )
    database = Database(db=db, backend="sqlite", url=path)
    try:
        db.connect(reuse_if_open=True)
        _use_wal(db)
    except peewee.DatabaseError as exc:
        raise ConfigError(f"database {path!r}: not a usable SQLite database ({exc})") from None
    return database


def _use_wal(db: peewee.SqliteDatabase) -> None:
    """Switch the file to WAL (it stays so). Several processes opening a new file at once can
    find it locked: switching the journal does not wait on the busy timeout, so retry."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            db.execute_sql("PRAGMA journal_mode = wal")
            return
        except peewee.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _open_postgres(target: str) -> Database:
    try:
        import psycopg2  # noqa: F401  (peewee picks the driver; fail early with advice)
    except ImportError:
        raise ConfigError(
            "PostgreSQL support needs its driver: pip install 'qualify[postgres]'"
        ) from None
    parts = urlsplit(target)
    if not parts.path.strip("/"):
        raise ConfigError(f"database {redact(target)!r}: no database name in the URL")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"database {redact(target)!r}: invalid port") from None
    db = _ReconnectingPostgres(
        unquote(parts.path.lstrip("/")),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname or None,
        port=port,
        connect_timeout=10,
    )
    database = Database(db=db, backend="postgres", url=target)
    try:
        db.connect(reuse_if_open=True)
    except peewee.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise BackendUnavailable(f"database {redact(target)}: cannot connect ({reason})") from None
    return database
