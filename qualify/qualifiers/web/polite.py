"""Shared, thread-safe politeness state: per-host pacing, per-IP pacing that slows down when
an address pushes back, per-IP connection slots, and a bounded TTL cache.

Many domains live on one address (a shop platform, a hosting provider), so pacing each host
is not enough: the address itself gets a cap on open connections and a spacing between
request starts, as Scrapy's CONCURRENT_REQUESTS_PER_IP and DOWNLOAD_DELAY do per slot, and a
429 or 503 from it slows it down for every domain it serves (AutoThrottle-like: the spacing
doubles, then eases back by a quarter per good answer).
"""

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


class IpPacing:
    """Spaces request starts to one IP address apart, where each address's spacing starts
    at ``base_delay`` and grows when the address answers 429 or 503."""

    def __init__(
        self,
        base_delay: float,
        max_delay: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 50_000,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max(max_delay, base_delay)
        self._clock = clock
        self._next: dict[str, float] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max_addresses = max_addresses

    def delay(self, ip: str) -> float:
        with self._lock:
            return self._delays.get(ip, self.base_delay)

    def reserve(self, ip: str, latest: float) -> float | None:
        """Seconds to wait before a request to ``ip``; None if that would pass ``latest``."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(ip, now))
            if slot > latest:
                return None
            self._next[ip] = slot + self._delays.get(ip, self.base_delay)
            if len(self._next) > self._max_addresses:
                for key in [k for k, t in self._next.items() if t <= now]:
                    del self._next[key]
            return slot - now

    def unused(self, ip: str) -> None:
        """A request reserved for ``ip`` never reached it (the connection failed): give its
        place in the spacing back, so that the next try (http after https) need not wait."""
        with self._lock:
            if ip in self._next:
                delay = self._delays.get(ip, self.base_delay)
                self._next[ip] = max(self._clock(), self._next[ip] - delay)

    def pushed_back(self, ip: str, retry_after: float | None = None) -> float:
        """``ip`` answered 429 or 503: double its spacing (at least 1 s) and hold its next
        request back for the Retry-After it gave, both capped at ``max_delay``. Returns the
        new spacing."""
        with self._lock:
            delay = min(max(self._delays.get(ip, self.base_delay) * 2, 1.0), self.max_delay)
            self._delays[ip] = delay
            now = self._clock()
            hold = min(max(retry_after or 0.0, delay), self.max_delay)
            self._next[ip] = max(self._next.get(ip, now), now + hold)
            if len(self._delays) > self._max_addresses:
                self._delays.clear()
            return delay

    def answered(self, ip: str) -> None:
        """A good answer from ``ip``: ease its spacing back towards the base."""
        with self._lock:
            delay = self._delays.get(ip)
            if delay is None:
                return
            eased = delay * 0.75
            if eased <= self.base_delay:
                del self._delays[ip]
            else:
                self._delays[ip] = eased


class ConnectionSlots:
    """At most ``per_ip`` open connections to one IP address, across every thread."""

    def __init__(self, per_ip: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = per_ip
        self._clock = clock
        self._open: dict[str, int] = {}
        self._cond = threading.Condition()

    def acquire(self, ip: str, timeout: float) -> bool:
        """Take a slot for ``ip``, waiting up to ``timeout`` seconds for one to free."""
        end = self._clock() + timeout
        with self._cond:
            while self._open.get(ip, 0) >= self.per_ip:
                remaining = end - self._clock()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self._open[ip] = self._open.get(ip, 0) + 1
            return True

    def release(self, ip: str) -> None:
        with self._cond:
            left = self._open.get(ip, 0) - 1
            if left > 0:
                self._open[ip] = left
            else:
                self._open.pop(ip, None)
            self._cond.notify_all()

    def open(self, ip: str) -> int:
        with self._cond:
            return self._open.get(ip, 0)


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

    def put_for(self, key: str, value: V, ttl: float) -> None:
        """``put`` with this entry's own time to live."""
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)
