"""One writer at a time on a SQLite file, handed over at once across threads and processes.

SQLite serialises writers itself, but a writer that finds the file locked sleeps (1, 2, 5,
10 ms…) before it looks again. With several worker processes committing small transactions,
that polling is where the time goes: two workers were slower than one. Holding an ``flock``
on a side file (``<database>-writer.lock``) while writing lets the next writer in the moment
the last one is done. Readers never take it. A process killed while holding it releases it
with its open files; writers that do not use it (another program) are still kept out by
SQLite's own lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriterLock:
    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writer.lock"
        self._threads = threading.Lock()  # flock does not exclude threads sharing the file
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            fd = self._open()
            if fd is None:  # cannot create the side file (read-only directory): SQLite's lock
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                return None
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
