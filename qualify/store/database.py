"""The store's database: named queries run against one backend, rows returned by name.

:class:`Database` holds what every backend shares; one subclass per backend holds what
differs (how to connect, how a write transaction starts, how many rows go in at once, the
words of its DDL), as huey's ``SqliteStorage`` and ``PostgresqlStorage`` do. The SQL itself
lives in ``qualify/store/sql/<dialect>.sql`` and is run by name::

    database.rows("claim_jobs", ids=..., owner=..., lease=30.0)

Every timestamp the store writes comes from the database's clock (the ``now`` in each
query), never from a worker's, so processes on hosts with skewed clocks agree on when a
lease expires.
"""

from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import peewee

from qualify.errors import ConfigError
from qualify.store import sql
from qualify.store.writelock import LockHolder
from qualify.urls import redact, scheme_of

Row = dict[str, Any]
_INSERT_CHUNK = 5000


class Database(ABC):
    #: Names the ``qualify/store/sql/<dialect>.sql`` file.
    dialect: ClassVar[str]
    #: Words that differ between dialects in the migrations' DDL (``{PK}``, ``{DOUBLE}``...).
    ddl_types: ClassVar[Mapping[str, str]]

    def __init__(self, db: peewee.Database, url: str) -> None:
        self.db = db
        self.url = url
        self.queries = sql.queries(self.dialect)

    @property
    def display_url(self) -> str:
        return redact(self.url)

    # -- running named queries --------------------------------------------------------------

    def execute(self, query: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run the query called ``query``; return the driver's cursor."""
        return self.db.execute_sql(self.queries[query], params or {})

    def rows(self, query: str, /, **params: Any) -> list[Row]:
        cursor = self.execute(query, params)
        return _named(cursor, cursor.fetchall())

    def row(self, query: str, /, **params: Any) -> Row | None:
        cursor = self.execute(query, params)
        found = cursor.fetchone()
        return None if found is None else _named(cursor, [found])[0]

    def value(self, query: str, /, **params: Any) -> Any:
        """The first column of the first row, or None."""
        found = self.execute(query, params).fetchone()
        return None if found is None else found[0]

    def count(self, query: str, /, **params: Any) -> int:
        """How many rows the statement changed."""
        return int(self.execute(query, params).rowcount)

    def stream(self, query: str, /, batch: int = 1000, **params: Any) -> Iterator[Row]:
        """Rows one batch at a time, so a million never sit in memory at once."""
        cursor = self.execute(query, params)
        while chunk := cursor.fetchmany(batch):
            yield from _named(cursor, chunk)

    def column(self, query: str, /, batch: int = 5000, **params: Any) -> Iterator[Any]:
        """The first column of every row, streamed: no dict per row, for a million ids."""
        cursor = self.execute(query, params)
        while chunk := cursor.fetchmany(batch):
            for found in chunk:
                yield found[0]

    def insert_many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run the multi-row insert ``query`` over ``rows`` in as few round trips as the
        driver allows."""
        cursor = self.db.cursor()
        statement = self.queries[query]
        iterator = iter(rows)
        while chunk := list(itertools.islice(iterator, _INSERT_CHUNK)):
            self._insert_chunk(cursor, statement, chunk)

    @abstractmethod
    def _insert_chunk(self, cursor: Any, statement: str, chunk: list[Sequence[Any]]) -> None: ...

    def run_ddl(self, *statements: str) -> None:
        """Run DDL templates, with this dialect's words for ``{PK}``, ``{DOUBLE}``..."""
        for statement in statements:
            self.db.execute_sql(statement.format_map(self.ddl_types))

    def has_table(self, name: str) -> bool:
        return bool(self.db.table_exists(name))

    def table_names(self) -> list[str]:
        return sorted(self.db.get_tables())

    def write_lock_holder(self) -> LockHolder | None:
        """A process that has held the store's write lock for seconds (frozen, stopped),
        where the backend has one lock for the whole store (SQLite); else None."""
        return None

    def bound_transactions(self, lease: float) -> None:  # noqa: B027 - a hook
        """Bound how long this process's transactions may hold or wait for locks, from the
        lease: a process frozen inside a transaction must not freeze every other one."""

    def prepare_for_writes(self) -> None:  # noqa: B027 - a hook, not an abstract method
        """Settings a store needs before it is written (never run by read-only commands)."""

    # -- transactions and time --------------------------------------------------------------

    @abstractmethod
    def write(self) -> AbstractContextManager[None]:
        """A write transaction (nested: joins the one already open)."""

    def after_commit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once the current transaction commits (at once outside one)."""
        self.db.after_commit(fn)

    def now(self) -> float:
        return float(self.value("now"))

    def close(self) -> None:
        """Close this thread's connection (pooled backends: give it back to the pool)."""
        if not self.db.is_closed():
            self.db.close()

    def release(self) -> None:
        """Called by a thread that uses the store only now and then, after each use: a
        pooled backend takes its connection back for other threads. SQLite keeps it (a
        file handle, no server connection)."""
        return None

    def bound_connections(self, count: int) -> None:
        """At most ``count`` connections for this thread and the threads it starts (beyond
        what other threads use now): PostgreSQL's pool bounds them; SQLite opens no server
        connections."""
        return None

    def close_all(self) -> None:
        """Close every connection of this process (the pool's too)."""
        self.close()


def json_array(values: Iterable[Any]) -> str:
    """A list as the one JSON parameter the named queries read lists from."""
    return json.dumps(list(values), separators=(",", ":"))


def json_ids(ids: Iterable[int]) -> str:
    """:func:`json_array` of integers, faster (a worker sends a few every round)."""
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def _named(cursor: Any, found: list[tuple[Any, ...]]) -> list[Row]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in found]


def open_database(target: str, *, create: bool = True) -> Database:
    """Open ``target``: a file path, ``sqlite:///path`` or ``postgresql://…``."""
    scheme = scheme_of(target)
    if scheme in ("", "sqlite"):
        from qualify.store.sqlite import SqliteDatabase

        return SqliteDatabase.open(target, create=create)
    if scheme in ("postgres", "postgresql"):
        from qualify.store.postgres import PostgresDatabase

        return PostgresDatabase.open(target)
    raise ConfigError(
        f"database {redact(target)!r}: unsupported scheme {scheme!r}; "
        "use a file path, sqlite:///path or postgresql://"
    )
