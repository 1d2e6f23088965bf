"""The queue: huey storage that delivers job ids to workers, and nothing else.

The queue is never trusted with state (see DESIGN.md): a message is only a hint that a job
may be ready. It receives job ids and gives them back; it knows nothing of the store.

By default the queue lives in the store's own database (huey's SQL storage, tables
``huey_*``): a job's state change and its message commit in one transaction. With Redis the
message is sent after the commit; a crash in between leaves a queued job without a message,
which the store's reconciler finds and re-enqueues.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import peewee

from qualify.errors import BackendUnavailable, ConfigError
from qualify.queue.messages import DIGITS as MESSAGE_DIGITS
from qualify.queue.messages import PREFIX as MESSAGE_PREFIX
from qualify.queue.messages import ForgedMessage, decode, decode_all, encode
from qualify.urls import redact, scheme_of

if TYPE_CHECKING:
    # huey (and, through it, the redis client) costs a tenth of a second to import: only a
    # queue that is used pays for it, not `qualify status` or `--help`.
    from qualify.queue.storages import QualifySqlStorage

QUEUE_NAME = "qualify"
T = TypeVar("T")


class JobQueue(ABC):
    """Where job ids wait for a worker."""

    #: True when pushes and pops join the store's current transaction.
    transactional = False

    @property
    @abstractmethod
    def description(self) -> str: ...

    @abstractmethod
    def push(self, job_ids: Sequence[int]) -> None: ...

    @abstractmethod
    def pop(self, limit: int) -> list[int]:
        """Remove and return up to ``limit`` job ids; forged messages are dropped."""

    @abstractmethod
    def size(self) -> int: ...

    @abstractmethod
    def is_empty(self) -> bool: ...

    @abstractmethod
    def held_job_ids(self) -> set[int]:
        """Every job id the queue currently holds (for the reconciler)."""

    @abstractmethod
    def flush(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release connections."""

    def warning(self) -> str | None:
        """A configuration that may lose messages, with the fix; None when there is none."""
        return None


class SqlJobQueue(JobQueue):
    """The queue in the store's database: one transaction for state and message."""

    transactional = True

    def __init__(self, database: peewee.Database, display_url: str) -> None:
        self.display_url = display_url
        self.database = database
        self._storage: QualifySqlStorage | None = None
        self._lock = threading.Lock()

    @property
    def storage(self) -> QualifySqlStorage:
        """huey's storage, opened on first use (its tables are made by a migration,
        m011_queue_tables: huey never runs DDL here)."""
        return self._storage or self._open_storage()

    def _open_storage(self) -> QualifySqlStorage:
        with self._lock:
            if self._storage is None:
                from qualify.queue.storages import QualifySqlStorage

                self._storage = QualifySqlStorage(
                    name=QUEUE_NAME, database=self.database, create_tables=False
                )
            return self._storage

    @property
    def description(self) -> str:
        return f"huey SQL storage in {self.display_url}"

    def push(self, job_ids: Sequence[int]) -> None:
        self.storage.enqueue_many([encode(job_id) for job_id in job_ids])

    def pop(self, limit: int) -> list[int]:
        return decode_all(self.storage.dequeue_many(limit))

    def size(self) -> int:
        return int(self.storage.queue_size())

    def is_empty(self) -> bool:
        return not self.storage.has_messages()

    def held_job_ids(self) -> set[int]:
        return set(decode_all(self.storage.iter_enqueued()))

    def flush(self) -> None:
        self.storage.flush_queue()


class RedisJobQueue(JobQueue):
    """The queue on a Redis server shared by workers on many machines. Every Redis error
    becomes :class:`~qualify.errors.BackendUnavailable` naming the server."""

    def __init__(self, url: str) -> None:
        try:
            from redis import Redis
        except ImportError:
            raise ConfigError(
                "Redis support needs its client: pip install 'qualify[redis]'"
            ) from None
        self.url = url
        try:
            client = Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30)
        except ValueError as exc:
            raise ConfigError(f"queue {redact(url)!r}: {exc}") from None
        with self._unavailable("cannot connect"):
            client.ping()
        from qualify.queue.storages import QualifyRedisStorage

        self.storage = QualifyRedisStorage(
            name=QUEUE_NAME, blocking=False, connection_pool=client.connection_pool
        )
        self.client = client
        self.key = self.storage.queue_key

    @property
    def description(self) -> str:
        return f"huey Redis storage at {redact(self.url)}"

    def push(self, job_ids: Sequence[int]) -> None:
        messages = [encode(job_id) for job_id in job_ids]
        self._call(self.storage.enqueue_many, messages)

    def pop(self, limit: int) -> list[int]:
        return decode_all(self._call(self.storage.dequeue_many, limit))

    def size(self) -> int:
        return int(self._call(self.storage.queue_size))

    def is_empty(self) -> bool:
        return not self._call(self.storage.has_messages)

    def held_job_ids(self) -> set[int]:
        with self._unavailable("cannot list the queue"):
            return set(decode_all(self.storage.iter_enqueued()))

    def flush(self) -> None:
        self._call(self.storage.flush_queue)

    def close(self) -> None:
        self.client.close()

    def warning(self) -> str | None:
        """Redis may evict keys when it runs out of memory: any ``maxmemory-policy`` but
        ``noeviction`` can drop the queue's list. Workers re-enqueue what was lost (the
        reconciler), seconds late; noeviction refuses new messages instead, which `run`
        reports."""
        from redis.exceptions import RedisError

        try:
            policy = self.client.config_get("maxmemory-policy").get("maxmemory-policy")
        except RedisError:
            return None  # CONFIG disabled (a managed Redis): nothing to tell
        if not policy or policy == "noeviction":
            return None
        return (
            f"queue {redact(self.url)}: maxmemory-policy is {policy}, so Redis may drop"
            " queued messages when memory runs short (workers re-enqueue them, seconds late);"
            " fix: redis-cli CONFIG SET maxmemory-policy noeviction (and in redis.conf)"
        )

    def _call(self, operation: Callable[..., T], *args: Any) -> T:
        with self._unavailable():
            return operation(*args)

    @contextmanager
    def _unavailable(self, what: str = "failed") -> Iterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            raise BackendUnavailable(f"queue {redact(self.url)}: {what} ({exc})") from None


def open_queue(target: str | None, database: peewee.Database, display_url: str) -> JobQueue:
    """The queue named by ``target`` (a ``redis://`` URL), or ``database`` (the store's own
    peewee database, shown as ``display_url``) if None."""
    if not target or target in ("sql", "db"):
        return SqlJobQueue(database, display_url)
    if scheme_of(target) in ("redis", "rediss", "unix"):
        return RedisJobQueue(target)
    raise ConfigError(
        f"queue {redact(target)!r}: unsupported; use redis://host:port/db or leave it unset "
        "to keep the queue in the database"
    )


__all__ = [
    "MESSAGE_DIGITS",
    "MESSAGE_PREFIX",
    "QUEUE_NAME",
    "ForgedMessage",
    "JobQueue",
    "RedisJobQueue",
    "SqlJobQueue",
    "decode",
    "decode_all",
    "encode",
    "open_queue",
]
