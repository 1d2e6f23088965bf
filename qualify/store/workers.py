"""The workers table: who is working, where, and whether their heartbeat is still fresh."""

from __future__ import annotations

from qualify.store.database import Database
from qualify.store.values import WorkerInfo


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
                "register_worker",
                {
                    "id": worker_id,
                    "hostname": hostname,
                    "pid": pid,
                    "concurrency": concurrency,
                    "lease": lease,
                    "version": version,
                },
            )

    def heartbeat(self, worker_id: str, *, in_flight: int, processed: int, failed: int) -> None:
        with self.database.write():
            self.database.execute(
                "worker_heartbeat",
                {"id": worker_id, "in_flight": in_flight, "processed": processed, "failed": failed},
            )

    def stopped(self, worker_id: str, *, processed: int, failed: int) -> None:
        with self.database.write():
            self.database.execute(
                "worker_stopped", {"id": worker_id, "processed": processed, "failed": failed}
            )

    def paused(self, worker_id: str, *, reason: str, next_probe_in: float) -> None:
        """The worker stopped taking jobs for an outage (or probes again later)."""
        with self.database.write():
            self.database.execute(
                "worker_paused", {"id": worker_id, "reason": reason, "next_probe_in": next_probe_in}
            )

    def resumed(self, worker_id: str) -> None:
        with self.database.write():
            self.database.execute("worker_resumed", {"id": worker_id})

    def list(self, *, recent: float = 3600.0) -> list[WorkerInfo]:
        """Every worker seen within ``recent`` seconds: alive, dead or stopped."""
        return [
            WorkerInfo.from_row(row) for row in self.database.rows("list_workers", recent=recent)
        ]
