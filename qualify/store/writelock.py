"""One writer at a time on a SQLite file, handed over at once across threads and processes.

SQLite serialises writers itself, but a writer that finds the file locked sleeps (1, 2, 5,
10 ms…) before it looks again. With several worker processes committing small transactions,
that polling is where the time goes: two workers were slower than one. Holding an ``flock``
on a side file (``<database>-writer.lock``) while writing lets the next writer in the moment
the last one is done. Readers never take it. A process killed while holding it releases it
with its open files; writers that do not use it (another program) are still kept out by
SQLite's own lock.

The holder writes who it is into the side file (pid, host, since when), so that a writer
frozen while holding it (SIGSTOP, a paused VM) is named: writers waiting for it log who
holds it and for how long, and `qualify status` shows it (:func:`holder`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("qualify.store")

_STAMP_BYTES = 160  # the stamp is padded to this, so that one pwrite replaces the last
#: A writer waiting this long says who holds the lock, then again every REPORT_EVERY.
REPORT_AFTER = 5.0
REPORT_EVERY = 30.0


@dataclass(frozen=True)
class LockHolder:
    pid: int
    hostname: str
    since: float  # seconds since the epoch (this host's clock)

    def held_for(self) -> float:
        return max(0.0, time.time() - self.since)


def holder(database_path: str) -> LockHolder | None:
    """Who holds the write lock of the SQLite file at ``database_path`` now, or None. Reads
    only (the side file is never created here)."""
    try:
        fd = os.open(f"{database_path}-writer.lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse(os.pread(fd, _STAMP_BYTES, 0))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _parse(stamp: bytes) -> LockHolder | None:
    try:
        pid, hostname, since = stamp.decode().split()[:3]
        return LockHolder(int(pid), hostname, float(since))
    except (UnicodeDecodeError, ValueError):
        return None  # written by an older qualify, or mid-write: unknown


class WriterLock:
    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writer.lock"
        self._threads = threading.Lock()  # flock does not exclude threads sharing the file
        self._fd: int | None = None
        self._waiting_since: float | None = None
        self._watcher: threading.Thread | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            fd = self._open()
            if fd is None:  # cannot create the side file (read-only directory): SQLite's lock
                yield
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait(fd)
            try:
                os.pwrite(fd, _stamp(), 0)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _wait(self, fd: int) -> None:
        """Wait for the lock (handed over the moment it is free); a watcher thread says who
        holds it when the wait grows long."""
        self._waiting_since = time.monotonic()
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="write-lock-watch", daemon=True
            )
            self._watcher.start()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            self._waiting_since = None

    def _watch(self) -> None:
        reported: float | None = None  # when this wait was last reported
        started: float | None = None
        while True:
            time.sleep(1.0)
            since = self._waiting_since
            if since is None or since != started:
                started, reported = since, None
            if since is None:
                continue
            now = time.monotonic()
            due = REPORT_AFTER if reported is None else reported - since + REPORT_EVERY
            if now - since < due:
                continue
            reported = now
            found = holder(self.path.removesuffix("-writer.lock"))
            if found is None:
                continue
            log.warning(
                "waiting for the write lock held by pid %d on %s for %.0fs (a writer that"
                " is stopped or frozen keeps every other one waiting)",
                found.pid,
                found.hostname,
                found.held_for(),
            )

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


_HOST: tuple[int, str] | None = None


def _stamp() -> bytes:
    global _HOST
    pid = os.getpid()
    if _HOST is None or _HOST[0] != pid:
        name = os.environ.get("QUALIFY_HOSTNAME") or socket.gethostname()
        _HOST = (pid, "".join(name.split()) or "?")
    text = f"{pid} {_HOST[1]} {time.time():.3f}"
    return text.encode()[:_STAMP_BYTES].ljust(_STAMP_BYTES)
