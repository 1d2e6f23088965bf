"""The PostgreSQL backend, for stores shared by workers on many machines."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import peewee
from playhouse.shortcuts import ReconnectMixin

from qualify.errors import BackendUnavailable, ConfigError
from qualify.store.database import Database
from qualify.urls import redact


class _ReconnectingPostgres(ReconnectMixin, peewee.PostgresqlDatabase):
    """Reconnects when the server dropped an idle connection (restart, failover), outside
    transactions only: a transaction cut in half is an error the caller must see."""

    reconnect_errors = (
        (peewee.OperationalError, "server closed the connection"),
        (peewee.OperationalError, "terminating connection"),
        (peewee.InterfaceError, "connection already closed"),
    )


class PostgresDatabase(Database):
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
        db = _ReconnectingPostgres(
            unquote(parts.path.lstrip("/")),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or None,
            port=port,
            connect_timeout=10,
        )
        database = cls(db, target)
        try:
            db.connect(reuse_if_open=True)
        except peewee.OperationalError as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else "connection failed"
            raise BackendUnavailable(
                f"database {redact(target)}: cannot connect ({reason})"
            ) from None
        return database

    @contextmanager
    def write(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    def _insert_chunk(self, cursor: Any, statement: str, chunk: list[Sequence[Any]]) -> None:
        from psycopg2.extras import execute_values

        execute_values(cursor, statement, chunk, page_size=len(chunk))
