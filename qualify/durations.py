"""Durations as people write them: ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``, ``250ms``."""

from __future__ import annotations

import re

from qualify.errors import InputError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Return seconds for ``text``; a bare number means seconds."""
    cleaned = text.strip().lower()
    try:
        seconds = float(cleaned)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _PART.finditer(cleaned):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(cleaned) or not cleaned:
            raise InputError(
                f"invalid duration {text!r}: expected a number with a unit, like 30s, 5m, 2h, 1d"
            ) from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise InputError(f"invalid duration {text!r}: must be a finite, non-negative time")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse, rounded to whole units: ``90`` -> ``1m30s``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
