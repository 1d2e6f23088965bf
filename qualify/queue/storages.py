"""huey's storages, extended with the batch operations qualify's workers need.

huey's storages move one message at a time (``enqueue``, ``dequeue``); a worker taking
thousands of jobs a second moves them in batches. These subclasses add ``enqueue_many`` and
``dequeue_many`` in each storage's own terms, the way huey's storages are meant to be
extended, and use huey's own API for everything else (size, listing, flushing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import peewee
from huey.contrib.sql_huey import BytesBlobField, SqlStorage
from huey.storage import RedisStorage

_LIST_CHUNK = 5000
# A limit no caller asks for, to find the limit's place among the statement's parameters.
_LIMIT_MARK = 987_654_321


class QualifySqlStorage(SqlStorage):
    """huey's SQL storage in the store's own database, its tables named ``huey_*`` so they
    sit beside the store's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._statements: dict[str, tuple[str, list[Any]]] = {}
        super().__init__(*args, **kwargs)

    def create_models(self) -> tuple[Any, ...]:
        # huey's own models, under names of our own: the same columns and indexes (named as
        # in the databases qualify has written since its first release).
        class Base(peewee.Model):
            class Meta:
                database = self.database

        class KV(Base):
            queue = peewee.CharField()
            key = peewee.CharField()
            value = BytesBlobField()

            class Meta:
                table_name = "huey_kv"
                primary_key = peewee.CompositeKey("queue", "key")

        class Schedule(Base):
            queue = peewee.CharField()
            data = BytesBlobField()
            timestamp = peewee.TimestampField(resolution=1000)

            class Meta:
                table_name = "huey_schedule"

        Schedule.add_index(Schedule.queue, Schedule.timestamp, name="schedule_queue_timestamp")

        class Task(Base):
            queue = peewee.CharField()
            data = BytesBlobField()
            priority = peewee.FloatField(default=0.0)

            class Meta:
                table_name = "huey_task"

        Task.add_index(Task.priority.desc(), Task._meta.primary_key, name="task_priority_id")

        class Counter(Base):
            queue = peewee.CharField()
            key = peewee.CharField()
            value = peewee.IntegerField()

            class Meta:
                table_name = "huey_counter"
                primary_key = peewee.CompositeKey("queue", "key")

        return (KV, Schedule, Task, Counter)

    def create_tables(self) -> None:
        # The store's migration m011_queue_tables makes these tables, under the migration
        # lock; DDL here, on every start, raced between processes and waited on locks.
        raise NotImplementedError("huey's tables are made by the store's migrations")

    def enqueue_many(self, messages: Sequence[bytes]) -> None:
        """Enqueue many messages in one statement per chunk (joins an open transaction)."""
        for start in range(0, len(messages), _LIST_CHUNK):
            rows = [
                {"queue": self.name, "data": data, "priority": 0}
                for data in messages[start : start + _LIST_CHUNK]
            ]
            self.Task.insert_many(rows).execute()

    def dequeue_many(self, limit: int) -> list[bytes]:
        """Remove and return up to ``limit`` messages in queue order, in one statement
        (joins an open transaction, so the pop commits with whatever the caller does)."""
        sql, params = self._statement("dequeue_many", self._dequeue_many_query)
        params = [limit if value == _LIMIT_MARK else value for value in params]
        cursor = self.database.execute_sql(sql, params)
        return [bytes(row[0]) for row in cursor.fetchall()]

    def _dequeue_many_query(self) -> Any:
        # huey's own row order, and FOR UPDATE SKIP LOCKED where the database has it.
        task: Any = self.Task
        oldest = self.tasks(task.id).order_by(task.priority.desc(), task.id).limit(_LIMIT_MARK)
        if self.for_update:
            oldest = oldest.for_update(self.for_update)
        return task.delete().where(task.id.in_(oldest)).returning(task.data)

    def has_messages(self) -> bool:
        """A read: idle workers polling an empty queue never take a write lock."""
        sql, params = self._statement("has_messages", lambda: self.tasks(self.Task.id).limit(1))
        return self.database.execute_sql(sql, params).fetchone() is not None

    def _statement(self, name: str, build: Callable[[], Any]) -> tuple[str, list[Any]]:
        # Built once with peewee: building a query costs more than running it, and a worker
        # runs these every round.
        cached = self._statements.get(name)
        if cached is None:
            sql, params = build().sql()
            cached = self._statements[name] = (sql, list(params))
        return cached

    def iter_enqueued(self) -> Iterator[bytes]:
        for (data,) in self.tasks(self.Task.data).tuples().iterator():
            yield bytes(data)


class QualifyRedisStorage(RedisStorage):
    """huey's Redis storage: it pushes on the left of one list and pops on the right (FIFO);
    the batch operations do the same with many messages per round trip."""

    def enqueue_many(self, messages: Sequence[bytes]) -> None:
        for start in range(0, len(messages), _LIST_CHUNK):
            self.conn.lpush(self.queue_key, *messages[start : start + _LIST_CHUNK])

    def dequeue_many(self, limit: int) -> list[bytes]:
        return list(self.conn.rpop(self.queue_key, limit) or [])

    def has_messages(self) -> bool:
        return bool(self.queue_size())

    def iter_enqueued(self) -> Iterator[bytes]:
        """Every message, a chunk at a time (a million do not come back in one reply)."""
        length = self.queue_size()
        for start in range(0, length, _LIST_CHUNK):
            yield from self.conn.lrange(self.queue_key, start, start + _LIST_CHUNK - 1)
