"""SIGINT and SIGTERM: stop taking jobs, give in-flight jobs the grace to finish, then hand
the rest back. A second signal hands them back at once."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from qualify.worker.state import WorkerState

log = logging.getLogger("qualify.worker")


def install(state: WorkerState, on_signal: Callable[[], None]) -> Callable[[], None] | None:
    """Handle both signals until the returned function restores the previous handlers
    (None: not the main thread, where Python delivers signals, so nothing was installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(signum: int, frame: FrameType | None) -> None:
        on_signal()
        if state.stopping.is_set():
            log.warning("second signal: handing in-flight jobs back now")
            state.stop(release_now=True)
            return
        log.warning(
            "%s: no new jobs; %d in flight get %.0fs to finish, then go back to the queue"
            " (signal again to hand them back now)",
            signal.Signals(signum).name,
            len(state.flights.held),
            state.options.grace,
        )
        state.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
