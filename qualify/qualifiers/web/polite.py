"""Shared, thread-safe politeness state: per-host pacing and a bounded TTL cache."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class HostThrottle:
    """Spaces requests to one host at least ``delay`` apart across all threads.

    A caller reserves the next free slot under the lock and sleeps outside it, so waiting
    for one host never blocks requests to another.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_hosts: int = 50_000):
        self._clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max_hosts = max_hosts

    def reserve(self, host: str, delay: float, latest: float) -> float | None:
        """Seconds to wait before requesting ``host``; None if that would pass ``latest``."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(host, now))
            if slot > latest:
                return None
            self._next[host] = slot + delay
            if len(self._next) > self._max_hosts:
                self._prune(now)
            return slot - now

    def _prune(self, now: float) -> None:
        for host in [h for h, t in self._next.items() if t <= now]:
            del self._next[host]


class TTLCache(Generic[V]):
    """A small LRU cache whose entries also expire; safe to share between threads."""

    def __init__(
        self, max_entries: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._data: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if expires < self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._data[key] = (self._clock() + self._ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)
