"""The PostgreSQL backend, for stores shared by workers on many machines."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase
from playhouse.shortcuts import ReconnectMixin

from qualify.errors import BackendUnavailable, ConfigError
from qualify.store.database import Database
from qualify.urls import redact

#: How long a thread waits for a pooled connection once a worker bounds them.
_POOL_WAIT = 60
#: The worker's default lease, for the bounds of processes that hold none (`run`, `status`).
DEFAULT_LEASE = 30.0


class _ReconnectingPostgres(ReconnectMixin, PooledPostgresqlDatabase):
    """Reconnects when the server dropped an idle connection (restart, failover), outside
    transactions only: a transaction cut in half is an error the caller must see.

    Pooled: a thread's connection goes back to the pool when the thread closes it, so
    threads that use the store now and then (a worker's executors keeping pages) share a
    few connections; unbounded until :meth:`PostgresDatabase.bound_connections` bounds it."""

    reconnect_errors = (
        (peewee.OperationalError, "server closed the connection"),
        (peewee.OperationalError, "terminating connection"),
        (peewee.InterfaceError, "connection already closed"),
    )


class PostgresDatabase(Database):
    db: _ReconnectingPostgres

    dialect: ClassVar[str] = "postgres"
    pops_and_claims_at_once: ClassVar[bool] = True
    ddl_types: ClassVar[dict[str, str]] = {
        "PK": "BIGSERIAL PRIMARY KEY",
        "DOUBLE": "DOUBLE PRECISION",
        "BIGINT": "BIGINT",
        "BLOB": "BYTEA",
        # huey\'s id columns (peewee\'s AutoField), for its tables (m011).
        "SERIAL": "SERIAL NOT NULL PRIMARY KEY",
    }

    @classmethod
    def open(cls, target: str) -> PostgresDatabase:
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
            # Names the process on the server (pg_stat_activity), e.g. to count its
            # connections; PgBouncer passes it on.
            application_name=f"qualify:{os.getpid()}",
            max_connections=None,
            stale_timeout=None,
            timeout=_POOL_WAIT,
        )
        database = cls(db, target)
        database.bound_transactions(DEFAULT_LEASE)
        try:
            db.connect(reuse_if_open=True)
        except peewee.OperationalError as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else "connection failed"
            raise BackendUnavailable(
                f"database {redact(target)}: cannot connect ({reason})"
            ) from None
        return database

    def release(self) -> None:
        """This thread's connection back to the pool (outside a transaction only)."""
        if not self.db.is_closed() and not self.db.in_transaction():
            self.db.close()

    def bound_connections(self, count: int) -> None:
        """At most ``count`` connections for this thread and those it starts, beyond what
        other threads use now (never lowering a bound already set): a thread past it waits
        for one to be released."""
        db = self.db
        mine = 0 if db.is_closed() else 1
        with db._pool_lock:
            bound = len(db._in_use) - mine + count
            db._max_connections = max(bound, db._max_connections or 0)

    def close_all(self) -> None:
        self.db.close_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    def bound_transactions(self, lease: float) -> None:
        """The server ends a session idle inside a transaction for a whole lease (a process
        frozen, stopped or cut off mid-transaction: its leases expire then too, and its
        locks go with it), and a statement waits at most half a lease for a lock (then the
        worker holds its outcomes and tries again). Set for every connection this process
        opens from now on; this thread's is reopened with them."""
        idle_ms = max(1000, int(lease * 1000))
        lock_ms = max(500, int(lease * 500))
        self.db.connect_params["options"] = (
            f"-c idle_in_transaction_session_timeout={idle_ms} -c lock_timeout={lock_ms}"
        )
        if not self.db.is_closed() and not self.db.in_transaction():
            self.db.manual_close()  # really closed: back in the pool it would keep the old
        self.db.close_idle()  # and so would the pool's idle ones

    def insert_many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        statement = self.queries[query]
        if not statement.startswith("COPY "):
            super().insert_many(query, rows)
            return
        # One COPY for all the rows, read from a stream: the server inserts one chunk while
        # this process writes the next (a COPY per chunk waited for each to finish).
        self.db.cursor().copy_expert(statement, _CopyStream(rows), size=_COPY_READ)

    def _insert_chunk(self, cursor: Any, statement: str, chunk: list[Sequence[Any]]) -> None:
        from psycopg2.extras import execute_values

        execute_values(cursor, statement, chunk, page_size=len(chunk))


_COPY_ROWS = 5000  # rows a read of the stream formats at once
_COPY_READ = 1 << 16
# COPY's text format: a tab between columns, \N for NULL, and these characters escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _CopyStream:
    """Rows as COPY's text format, a chunk at a time, for ``copy_expert`` to read."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)

    def read(self, size: int = -1) -> str:  # size: the chunk is the unit, whatever it asks
        chunk = list(itertools.islice(self._rows, _COPY_ROWS))
        return _copy_text(chunk) if chunk else ""


def _copy_text(rows: list[Sequence[Any]]) -> str:
    """Most rows hold no NULL and no character COPY must escape (a domain never does): they
    are joined as they are, which costs a third of escaping each value. A chunk that has one
    is escaped value by value."""
    if rows:
        width = len(rows[0])
        plain = "".join(["\t".join(map(str, row)) + "\n" for row in rows])
        if (
            plain.count("\t") == len(rows) * (width - 1)
            and plain.count("\n") == len(rows)
            and "\\" not in plain
            and "\r" not in plain
            and all(len(row) == width and None not in row for row in rows)
        ):
            return plain
    return "".join(_copy_lines(rows))


def _copy_lines(rows: list[Sequence[Any]]) -> Iterator[str]:
    for row in rows:
        yield (
            "\t".join(
                "\\N" if value is None else str(value).translate(_COPY_ESCAPES) for value in row
            )
            + "\n"
        )
