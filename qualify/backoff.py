"""How long a job waits before its next attempt after a transient failure."""

from __future__ import annotations

import random

MAX_DELAY = 3600.0


def retry_delay(
    base: float, attempt: int, retry_after: float | None = None, *, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, capped at an hour, then
    spread over [50%, 100%] so that jobs failing together do not retry together. A server's
    ``Retry-After`` is a floor."""
    exponential = min(MAX_DELAY, base * 2 ** max(0, attempt - 1))
    delay: float = exponential * (0.5 + 0.5 * (rng or random).random())
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_DELAY))
    return delay
