"""Whether the store is down for this worker, as its roles find out: one line when it goes,
one when it is back, whichever role (dispatcher, heartbeat, maintenance) notices first and
last, and never a traceback per thread.

While it is down the dispatcher holds finished outcomes in memory and maintenance reclaims
no expired lease (this worker's own leases lapse in an outage; they are renewed, and its
outcomes recorded, before it would take them for a dead worker's).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("qualify.worker")


@dataclass(eq=False)
class StoreHealth:
    #: Role -> why the store failed it, for each role that has not worked since.
    _down: dict[str, str] = field(default_factory=dict)
    _since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def down(self) -> bool:
        return bool(self._down)

    def failed(self, role: str, cause: str, detail: str) -> None:
        """``role`` found the store down; the first role of an outage says so."""
        with self._lock:
            first = not self._down
            self._down[role] = cause
            if first:
                self._since = time.monotonic()
        if first:
            log.error("store unavailable (%s); %s", cause, detail)

    def worked(self, role: str, detail: str = "") -> None:
        """``role`` worked with the store; the last role back ends the outage."""
        if role not in self._down:  # the common case, without the lock
            return
        with self._lock:
            self._down.pop(role, None)
            back = not self._down and self._since is not None
            seconds = time.monotonic() - (self._since or 0.0)
            if back:
                self._since = None
        if back:
            log.warning("store available again after %.0fs%s", seconds, detail)
