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

#: The worker's default lease, for the bounds of processes that hold none (`run`, `status`).
DEFAULT_LEASE = 30.0


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
            self.db.close()

    def _insert_chunk(self, cursor: Any, statement: str, chunk: list[Sequence[Any]]) -> None:
        from psycopg2.extras import execute_values

        execute_values(cursor, statement, chunk, page_size=len(chunk))
