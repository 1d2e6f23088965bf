"""The workers table: who is working, where, and whether their heartbeat is still fresh."""

from __future__ import annotations

from dataclasses import dataclass

from qualify.store.database import Database

# A worker heartbeats every lease/3; missing a whole lease means it is dead or hung.
_ALIVE = "(stopped_at IS NULL AND heartbeat_at >= {now} - lease)"


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    concurrency: int
    lease: float
    version: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    in_flight: int
    processed: int
    failed: int
    alive: bool

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return "stopped"
        return "alive" if self.alive else "dead"


class Workers:
    def __init__(self, database: Database) -> None:
        self.database = database

    def register(
        self,
        worker_id: str,
        *,
        hostname: str,
        pid: int,
        concurrency: int,
        lease: float,
        version: str,
    ) -> None:
        with self.database.write():
            self.database.execute(
                "INSERT INTO workers (id, hostname, pid, concurrency, lease, version, started_at,"
                " heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, {now}, {now})",
                (worker_id, hostname, pid, concurrency, lease, version),
            )

    def heartbeat(self, worker_id: str, *, in_flight: int, processed: int, failed: int) -> None:
        with self.database.write():
            self.database.execute(
                "UPDATE workers SET heartbeat_at = {now}, in_flight = ?, processed = ?,"
                " failed = ? WHERE id = ?",
                (in_flight, processed, failed, worker_id),
            )

    def stopped(self, worker_id: str, *, processed: int, failed: int) -> None:
        with self.database.write():
            self.database.execute(
                "UPDATE workers SET stopped_at = {now}, heartbeat_at = {now}, in_flight = 0,"
                " processed = ?, failed = ? WHERE id = ?",
                (processed, failed, worker_id),
            )

    def list(self, *, recent: float = 3600.0) -> list[WorkerInfo]:
        """Every worker seen within ``recent`` seconds: alive, dead or stopped."""
        rows = self.database.fetchall(
            "SELECT id, hostname, pid, concurrency, lease, version, started_at, heartbeat_at,"
            f" stopped_at, in_flight, processed, failed, CASE WHEN {_ALIVE} THEN 1 ELSE 0 END"
            " FROM workers WHERE heartbeat_at >= {now} - ?"
            " ORDER BY hostname, started_at",
            (recent,),
        )
        return [WorkerInfo(*row[:12], alive=bool(row[12])) for row in rows]
