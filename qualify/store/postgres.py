"""The PostgreSQL backend, for stores shared by workers on many machines."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

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

#: The statements a worker runs every round and every heartbeat, prepared on the server
#: once per connection (PREPARE) and then run by name (EXECUTE): psycopg2 sends each
#: statement as text, which the server parses and plans again every time, and a worker's
#: dispatcher spent most of its time waiting on that (issue 11). A name added here must
#: prepare (tests/test_prepared_pg.py prepares every one).
PREPARED_STATEMENTS = frozenset({
    "pop_and_claim_jobs", "claim_jobs", "mark_run_started", "finish_jobs_done", "retry_jobs",
    "fail_jobs", "count_finished_jobs", "finish_done_runs", "touch_run", "renew_leases",
    "worker_heartbeat",
})  # fmt: skip
#: The URL's query parameter that turns them off (``?prepared_statements=off``), for a
#: transaction-mode pooler (PgBouncer's ``pool_mode = transaction``), which hands each
#: transaction whichever server connection is free: one without the statement prepared.
PREPARED_PARAMETER = "prepared_statements"
#: SQLSTATEs of EXECUTE without the statement and of PREPARE of one already there.
PREPARED_STATEMENT_MISSING = "26000"
PREPARED_STATEMENT_EXISTS = "42P05"
_SWITCH = {"on": True, "off": False}


@dataclass(frozen=True)
class PreparedStatement:
    """A named query in its prepared form: ``prepare`` makes it on a connection, then
    ``execute`` (with the parameters in the order of ``params``) runs it."""

    name: str
    prepare: str
    execute: str
    params: tuple[str, ...]


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")


def prepared_form(query: str, text: str) -> PreparedStatement:
    """``text`` with each ``%(name)s`` turned into ``$k`` (numbered in the order of first
    appearance), as PREPARE takes it. ``%%`` is left for psycopg2, which sends it as ``%``:
    the PREPARE statement goes through the driver's parameter formatting like any other."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%%"
        if match.group(1) is None:
            raise ValueError(f"query {query!r}: a bare % (a literal one is written %%)")
        return f"${order.setdefault(match.group(1), len(order) + 1)}"

    body = _PLACEHOLDER.sub(number, text)
    name = f"qualify_{query}"
    arguments = f"({', '.join(['%s'] * len(order))})" if order else ""
    return PreparedStatement(
        name=name,
        prepare=f"PREPARE {name} AS {body}",
        execute=f"EXECUTE {name}{arguments}",
        params=tuple(order),
    )


@cache
def _connection_class() -> type:
    import psycopg2.extensions

    class PreparingConnection(psycopg2.extensions.connection):
        """A driver connection that knows which statements its server session has
        prepared: a session's prepared statements end with it, so a connection the pool
        opens later, or one opened again after the server dropped this one, has none."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.prepared: set[str] = set()

    return PreparingConnection


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

    def execute_prepared(self, statement: PreparedStatement, params: Mapping[str, Any]) -> Any:
        """Run ``statement`` by name, preparing it first on this thread's connection if that
        connection has not. A reconnect (outside a transaction) runs the whole of it again,
        on the new connection: prepared again there."""
        arguments = tuple(params[name] for name in statement.params)
        return self._reconnect(self._execute_prepared, statement, arguments)

    def _execute_prepared(self, statement: PreparedStatement, arguments: tuple[Any, ...]) -> Any:
        # PooledPostgresqlDatabase's execute_sql, not ours: ReconnectMixin's retry is the
        # caller's, around both statements.
        prepared = self.connection().prepared
        try:
            if statement.name not in prepared:
                PooledPostgresqlDatabase.execute_sql(self, statement.prepare)
                # A prepared statement outlives the transaction it was made in, even one
                # that rolls back (tests/test_prepared_pg.py holds the server to it): it is
                # there once PREPARE succeeded, and not when PREPARE failed.
                prepared.add(statement.name)
            return PooledPostgresqlDatabase.execute_sql(self, statement.execute, arguments)
        except peewee.DatabaseError as exc:
            # The session is not the one this connection prepared on (a transaction-mode
            # pooler handed over another): believe the server, so the next try (the
            # worker's, in a new transaction) prepares or runs as the session needs.
            code = getattr(getattr(exc, "orig", None), "pgcode", None)
            if code == PREPARED_STATEMENT_MISSING:
                prepared.discard(statement.name)
            elif code == PREPARED_STATEMENT_EXISTS:
                prepared.add(statement.name)
            raise


class PostgresDatabase(Database):
    db: _ReconnectingPostgres

    dialect: ClassVar[str] = "postgres"
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
        prepare = _prepared_statements_setting(target, parts.query)
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
            connection_factory=_connection_class(),
        )
        database = cls(db, target, prepare=prepare)
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

    def __init__(self, db: peewee.Database, url: str, *, prepare: bool = True) -> None:
        super().__init__(db, url)
        self.prepared: dict[str, PreparedStatement] = (
            {name: prepared_form(name, self.queries[name]) for name in PREPARED_STATEMENTS}
            if prepare
            else {}
        )

    def execute(self, query: str, params: Mapping[str, Any] | None = None) -> Any:
        statement = self.prepared.get(query)
        if statement is None:
            return super().execute(query, params)
        return self.db.execute_prepared(statement, params or {})

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


def _prepared_statements_setting(target: str, query: str) -> bool:
    values = parse_qs(query, keep_blank_values=True).get(PREPARED_PARAMETER, ["on"])
    if len(values) != 1 or values[0].lower() not in _SWITCH:
        shown = ", ".join(repr(value) for value in values)
        raise ConfigError(
            f"database {redact(target)!r}: {PREPARED_PARAMETER} must be on or off, not {shown}"
        )
    return _SWITCH[values[0].lower()]


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
