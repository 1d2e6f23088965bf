"""huey's storages, extended with the batch operations qualify's workers need.

huey's storages move one message at a time (``enqueue``, ``dequeue``); a worker taking
thousands of jobs a second moves them in batches. These subclasses add ``enqueue_many`` and
``dequeue_many`` in each storage's own terms, the way huey's storages are meant to be
extended, and use huey's own API for everything else (size, listing, flushing).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import peewee
from huey.contrib.sql_huey import BytesBlobField, SqlStorage
from huey.storage import RedisStorage

_LIST_CHUNK = 5000
# A limit no caller asks for, to find the limit's place among the statement's parameters.
_LIMIT_MARK = 987_654_321


class QualifySqlStorage(SqlStorage):
    """huey's SQL storage in the store's own database, its tables named ``huey_*`` so they
    sit beside the store's, and never creating them itself unless asked."""

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

        Task.add_index(Task.priority.desc(), Task.id, name="task_priority_id")

        class Counter(Base):
            queue = peewee.CharField()
            key = peewee.CharField()
            value = peewee.IntegerField()

            class Meta:
                table_name = "huey_counter"
                primary_key = peewee.CompositeKey("queue", "key")

        return (KV, Schedule, Task, Counter)

    def create_tables(self) -> None:
        # huey's version opens and closes the connection around it (`with database:`), which
        # would close the store's own connection in this thread; this one leaves it open.
        self.database.create_tables([self.KV, self.Schedule, self.Task, self.Counter])

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
        sql, params = self._dequeue_statement()
        params = [limit if value == _LIMIT_MARK else value for value in params]
        cursor = self.database.execute_sql(sql, params)
        return [bytes(row[0]) for row in cursor.fetchall()]

    def _dequeue_statement(self) -> tuple[str, list[Any]]:
        # Built once with peewee, in huey's own row order and with FOR UPDATE SKIP LOCKED
        # where the database has it; building it per round would cost more than running it.
        cached: tuple[str, list[Any]] | None = getattr(self, "_dequeue_sql", None)
        if cached is None:
            task = self.Task
            oldest = self.tasks(task.id).order_by(task.priority.desc(), task.id)
            oldest = oldest.limit(_LIMIT_MARK)
            if self.for_update:
                oldest = oldest.for_update(self.for_update)
            query = task.delete().where(task.id.in_(oldest)).returning(task.data)
            sql, params = query.sql()
            cached = (sql, list(params))
            self._dequeue_sql = cached
        return cached

    def has_messages(self) -> bool:
        """A read: idle workers polling an empty queue never take a write lock."""
        return bool(self.tasks().exists())

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
