"""Timestamps as the store keeps them (epoch seconds) and as people and JSON read them."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC, to the second: ``2026-11-28T20:43:25Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: float) -> str:
    """A short age for tables: ``42s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def span(seconds: float) -> str:
    """A duration to two units, for ETAs: ``42s``, ``3m 05s``, ``2h 10m``, ``3d 4h``."""
    total = int(max(0.0, seconds) + 0.5)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def rate(per_second: float | None) -> str:
    """A throughput: ``12.5/s``, or ``40/min`` when under one a second; ``…`` if unknown."""
    if per_second is None:
        return "…"
    if per_second >= 1:
        return f"{per_second:,.1f}/s"
    return f"{per_second * 60:,.0f}/min"
