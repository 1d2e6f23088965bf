"""Telling a store that is down from a statement the store refused.

A full disk, a read-only file system, a lost connection or a server shutting down make
every statement fail, whatever it carries: such an error is never a job's (the worker holds
its outcomes and tries again). An error about one statement's data (a constraint, a value
the database cannot store) is that statement's, and only its job pays for it.
"""

from __future__ import annotations

import sys
from typing import Any

# PostgreSQL error classes (SQLSTATE's first two characters) that say the server or the
# connection, not the statement, is the trouble: connection exceptions, insufficient
# resources (disk full, out of memory, too many connections), operator intervention
# (shutdown, admin termination), system errors.
_PG_OUTAGE_CLASSES = {"08": "connection", "53": "out of resources", "57": "server shutting down",
                      "58": "server system error"}  # fmt: skip
_SWAPPED_SESSION = (
    "the server session changed under the connection (behind a transaction-mode pooler, add"
    " ?prepared_statements=off to the database URL)"
)
# Statements that waited too long for a lock or lost a race: the next try may pass.
_PG_TRANSIENT = {"40001": "serialization failure", "40P01": "deadlock", "55P03": "lock timeout",
                 "57014": "statement timeout", "25006": "read-only transaction",
                 "25P03": "idle in transaction timeout",
                 # The session lost or already had qualify's prepared statements: a server
                 # connection swapped under the client, as transaction pooling does.
                 "26000": _SWAPPED_SESSION, "42P05": _SWAPPED_SESSION}  # fmt: skip


def outage_cause(error: BaseException) -> str | None:
    """Why the whole store is unavailable, when ``error`` says it is (``disk full``,
    ``connection lost: …``); None when the error is about one statement."""
    from qualify.errors import BackendUnavailable

    if isinstance(error, BackendUnavailable):
        return str(error)
    # peewee wraps the driver's error and keeps it as ``orig`` (twice, around a connect).
    original = error
    while isinstance(getattr(original, "orig", None), BaseException):
        original = original.orig  # type: ignore[attr-defined]
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(original, sqlite3.Error):
        return _sqlite_cause(original)
    psycopg2 = sys.modules.get("psycopg2")
    if psycopg2 is not None and isinstance(original, psycopg2.Error):
        return _postgres_cause(original, psycopg2)
    return None


def _sqlite_cause(error: BaseException) -> str | None:
    name = str(getattr(error, "sqlite_errorname", "") or "")
    text = str(error)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return "disk full"
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return "the database file is read-only"
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return f"disk I/O error ({name})" if name else "disk I/O error"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database file" in text:
        return "cannot open the database file"
    if name.startswith("SQLITE_BUSY") or "database is locked" in text:
        return "the database is locked by another process"
    return None


def _postgres_cause(error: BaseException, psycopg2: Any) -> str | None:
    code = getattr(error, "pgcode", None)
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if code is None:
        # No SQLSTATE: the client lost or could not use the connection.
        connection_errors = (psycopg2.InterfaceError, psycopg2.OperationalError)
        if isinstance(error, connection_errors):
            return f"connection lost: {first}"
        return None
    if code in _PG_TRANSIENT:
        return f"{_PG_TRANSIENT[code]}: {first}"
    kind = _PG_OUTAGE_CLASSES.get(code[:2])
    return f"{kind}: {first}" if kind else None
