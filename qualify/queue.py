"""The queue: huey storage that delivers job ids to workers, and nothing else.

The queue is never trusted with state (see DESIGN.md): a message is only a hint that a job
may be ready. Its payload is the job id as text, and :func:`decode` accepts nothing else, so a
message planted on a shared queue server can at worst wake a worker for a job that does not
need it; it can never run code (huey's default pickle serializer would).

By default the queue lives in the store's own database (huey's peewee storage, tables
``huey_*``): a job's state change and its message commit in one transaction. With Redis the
message is sent after the commit; a crash in between leaves a queued job without a message,
which the reconciler finds and re-enqueues.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from huey.contrib.sql_huey import SqlStorage

from qualify.errors import BackendUnavailable, ConfigError
from qualify.store.database import Database, redact

log = logging.getLogger(__name__)

QUEUE_NAME = "qualify"
_PREFIX = b"qualify-job:"
_MESSAGE = re.compile(rb"qualify-job:([1-9][0-9]{0,17})")
_BATCH = 5000


class ForgedMessage(ValueError):
    """A queue message that is not one of ours."""


def encode(job_id: int) -> bytes:
    return _PREFIX + str(int(job_id)).encode("ascii")


def decode(data: Any) -> int:
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ForgedMessage(f"refused a queue message of type {type(data).__name__}")
    match = _MESSAGE.fullmatch(bytes(data))
    if match is None:
        raise ForgedMessage(f"refused a queue message that is not a job id: {bytes(data)[:60]!r}")
    return int(match.group(1))


def decode_all(messages: Iterable[Any]) -> list[int]:
    """Decode messages, logging and dropping anything that is not a job id."""
    job_ids = []
    for data in messages:
        try:
            job_ids.append(decode(data))
        except ForgedMessage as exc:
            log.warning("%s", exc)
    return job_ids


class JobQueue(ABC):
    """Where job ids wait for a worker."""

    #: True when pushes and pops join the store's current transaction.
    transactional = False

    @property
    @abstractmethod
    def description(self) -> str: ...

    @abstractmethod
    def push(self, job_ids: Sequence[int]) -> None: ...

    def push_run(self, database: Database, run_id: int) -> None:
        """Enqueue every queued job of a run, in order."""
        rows = database.fetchall(
            "SELECT id FROM jobs WHERE run_id = ? AND state = 'queued' ORDER BY id", (run_id,)
        )
        self.push([row[0] for row in rows])

    @abstractmethod
    def pop(self, limit: int) -> list[int]:
        """Remove and return up to ``limit`` job ids; forged messages are dropped."""

    @abstractmethod
    def size(self) -> int: ...

    def is_empty(self) -> bool:
        return self.size() == 0

    @abstractmethod
    def held_job_ids(self) -> set[int]:
        """Every job id the queue currently holds (for the reconciler)."""

    @abstractmethod
    def flush(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release connections."""


class _PrefixedSqlStorage(SqlStorage):
    """huey's peewee storage with its tables named ``huey_*`` beside ours."""

    def create_models(self) -> tuple:
        models = super().create_models()
        for model in models:
            model._meta.set_table_name("huey_" + model._meta.table_name)
        # huey added this index before the rename, bound to the old table name.
        task = models[2]
        task._meta.indexes = []
        task.add_index(task.priority.desc(), task.id)
        return models


class SqlJobQueue(JobQueue):
    """The queue in the store's database: one transaction for state and message."""

    transactional = True

    def __init__(self, database: Database) -> None:
        self.database = database
        self.storage = _PrefixedSqlStorage(name=QUEUE_NAME, database=database.db)
        # huey's create_tables closes the connection it used; open ours again.
        database.db.connect(reuse_if_open=True)
        skip_locked = " FOR UPDATE SKIP LOCKED" if database.backend == "postgres" else ""
        self._pop_sql = (
            "DELETE FROM huey_task WHERE id IN (SELECT id FROM huey_task WHERE queue = ? "
            f"ORDER BY priority DESC, id LIMIT ?{skip_locked}) RETURNING data"
        )

    @property
    def description(self) -> str:
        return f"huey SQL storage in {self.database.display_url}"

    def push(self, job_ids: Sequence[int]) -> None:
        for start in range(0, len(job_ids), _BATCH):
            chunk = job_ids[start : start + _BATCH]
            self.database.db.execute_sql(
                self.database.sql("INSERT INTO huey_task (queue, data, priority) VALUES ")
                + ",".join([self.database.sql("(?, ?, 0)")] * len(chunk)),
                [value for job_id in chunk for value in (QUEUE_NAME, encode(job_id))],
            )

    def push_run(self, database: Database, run_id: int) -> None:
        """Enqueue every queued job of a run with one statement (no round trip per job)."""
        payload = (
            "CAST('qualify-job:' || id AS BLOB)"
            if self.database.backend == "sqlite"
            else "convert_to('qualify-job:' || id, 'UTF8')"
        )
        database.execute(
            f"INSERT INTO huey_task (queue, data, priority) SELECT ?, {payload}, 0 "
            "FROM jobs WHERE run_id = ? AND state = 'queued' ORDER BY id",
            (QUEUE_NAME, run_id),
        )

    def pop(self, limit: int) -> list[int]:
        rows = self.database.fetchall(self._pop_sql, (QUEUE_NAME, limit))
        return decode_all(row[0] for row in rows)

    def size(self) -> int:
        return int(self.storage.queue_size())

    def is_empty(self) -> bool:
        # A read, so idle workers polling an empty queue never take the write lock.
        return not self.database.scalar(
            "SELECT 1 FROM huey_task WHERE queue = ? LIMIT 1", (QUEUE_NAME,)
        )

    def held_job_ids(self) -> set[int]:
        rows = self.database.execute(
            "SELECT data FROM huey_task WHERE queue = ?", (QUEUE_NAME,)
        ).fetchall()
        return set(decode_all(row[0] for row in rows))

    def flush(self) -> None:
        self.storage.flush_queue()


class RedisJobQueue(JobQueue):
    """The queue on a Redis server shared by workers on many machines."""

    def __init__(self, url: str) -> None:
        try:
            from huey.storage import RedisStorage
            from redis import Redis
            from redis.exceptions import RedisError
        except ImportError:
            raise ConfigError(
                "Redis support needs its client: pip install 'qualify[redis]'"
            ) from None
        self.url = url
        try:
            client = Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30)
            client.ping()
        except ValueError as exc:
            raise ConfigError(f"queue {redact(url)!r}: {exc}") from None
        except RedisError as exc:
            raise BackendUnavailable(f"queue {redact(url)}: cannot connect ({exc})") from None
        self.storage = RedisStorage(name=QUEUE_NAME, connection_pool=client.connection_pool)
        self.client = client
        self.key = self.storage.queue_key

    @property
    def description(self) -> str:
        return f"huey Redis storage at {redact(self.url)}"

    def push(self, job_ids: Sequence[int]) -> None:
        for start in range(0, len(job_ids), _BATCH):
            chunk = job_ids[start : start + _BATCH]
            # huey's Redis storage pushes on the left and pops on the right: FIFO.
            self.client.lpush(self.key, *[encode(job_id) for job_id in chunk])

    def pop(self, limit: int) -> list[int]:
        messages = self.client.rpop(self.key, limit)
        return decode_all(messages or [])

    def size(self) -> int:
        return int(self.client.llen(self.key))

    def held_job_ids(self) -> set[int]:
        held: set[int] = set()
        length = self.size()
        for start in range(0, length, _BATCH):
            held.update(decode_all(self.client.lrange(self.key, start, start + _BATCH - 1)))
        return held

    def flush(self) -> None:
        self.client.delete(self.key)

    def close(self) -> None:
        self.client.close()


def open_queue(target: str | None, database: Database) -> JobQueue:
    """The queue named by ``target`` (a ``redis://`` URL), or the store's database if None."""
    if not target or target in ("sql", "db"):
        return SqlJobQueue(database)
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("redis", "rediss", "unix"):
        return RedisJobQueue(target)
    raise ConfigError(
        f"queue {redact(target)!r}: unsupported; use redis://host:port/db or leave it unset "
        "to keep the queue in the database"
    )
