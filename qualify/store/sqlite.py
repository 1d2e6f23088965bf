"""The SQLite backend: one file, WAL, writers queued on a side lock (see ``writelock``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import peewee

from qualify.errors import ConfigError, NotFoundError
from qualify.store.database import Database
from qualify.store.writelock import LockHolder, WriterLock, holder

BUSY_TIMEOUT = 60.0
#: A write lock held this long is shown by `status`.
LONG_HOLD = 2.0


class SqliteDatabase(Database):
    dialect: ClassVar[str] = "sqlite"
    ddl_types: ClassVar[dict[str, str]] = {
        "PK": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "DOUBLE": "REAL",
        "BIGINT": "INTEGER",
        "BLOB": "BLOB",
        # huey\'s id columns (peewee\'s AutoField), for its tables (m011).
        "SERIAL": "INTEGER NOT NULL PRIMARY KEY",
    }

    def __init__(self, db: peewee.Database, url: str) -> None:
        super().__init__(db, url)
        self._writer = WriterLock(url)

    @classmethod
    def open(cls, target: str, *, create: bool = True) -> SqliteDatabase:
        path = _path_of(target)
        if not create and not os.path.exists(path):
            raise NotFoundError(f"{path}: no such database (`qualify run` creates it)")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ConfigError(f"database {path!r}: directory {parent!r} does not exist")
        db = peewee.SqliteDatabase(
            path,
            timeout=BUSY_TIMEOUT,
            pragmas={
                # In WAL mode NORMAL survives any process crash; a power cut may roll back
                # the last commits, which the lease model absorbs (the job simply runs again).
                "synchronous": "normal",
                "busy_timeout": int(BUSY_TIMEOUT * 1000),
                "foreign_keys": 0,
                "cache_size": -32000,
            },
        )
        database = cls(db, path)
        try:
            db.connect(reuse_if_open=True)
            # Reads the file's header (changes nothing): a file that is not SQLite fails here.
            db.execute_sql("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except peewee.DatabaseError as exc:
            raise ConfigError(f"database {path!r}: not a usable SQLite database ({exc})") from None
        return database

    def prepare_for_writes(self) -> None:
        """WAL (the file stays so): only once the file is known to be a qualify store, and
        never for a read-only command."""
        try:
            _use_wal(self.db)
        except peewee.DatabaseError as exc:
            raise ConfigError(
                f"database {self.url!r}: not a usable SQLite database ({exc})"
            ) from None

    @contextmanager
    def write(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE``, so writers queue instead of failing when they upgrade a read
        lock, under the writer lock that hands over at once (see ``writelock``)."""
        if self.db.in_transaction():
            with self.db.atomic():
                yield
            return
        try:
            with self._writer.held(), self.db.atomic("IMMEDIATE"):
                yield
        except peewee.OperationalError as exc:
            # On a full disk or an I/O error SQLite rolls the transaction back itself, and
            # peewee's own ROLLBACK then fails with "no transaction is active", hiding the
            # cause: raise the cause.
            cause: BaseException | None = exc
            while cause is not None and "no transaction is active" in str(cause):
                cause = cause.__context__  # peewee's wrapper, then the driver's own error
            if cause is not None and cause is not exc:
                raise cause from None
            raise

    def write_lock_holder(self) -> LockHolder | None:
        found = holder(self.url)
        # A write takes milliseconds: one held for seconds is a writer stopped or frozen.
        return found if found is not None and found.held_for() >= LONG_HOLD else None

    def _insert_chunk(self, cursor: Any, statement: str, chunk: list[Sequence[Any]]) -> None:
        cursor.executemany(statement, chunk)


def _path_of(target: str) -> str:
    if not target.lower().startswith("sqlite://"):
        return target
    path = unquote(urlsplit(target).path)
    # sqlite:///rel.db has path "/rel.db"; sqlite:////abs.db has "//abs.db".
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise ConfigError(f"database {target!r}: no file path after sqlite:///")
    return path


def _use_wal(db: peewee.Database) -> None:
    """Switch the file to WAL (it stays so). Several processes opening a new file at once can
    find it locked: switching the journal does not wait on the busy timeout, so retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute_sql("PRAGMA journal_mode = wal")
            return
        except peewee.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
