"""Counts in messages, with the noun agreeing: ``1 failed job``, ``2 failed jobs``."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, its last word made plural unless ``count`` is 1, with
    thousands separators: ``plural(1200, "invalid line")`` is ``1,200 invalid lines``."""
    if count != 1:
        head, _, last = noun.rpartition(" ")
        if last.endswith(("s", "x", "ch", "sh")):
            last += "es"
        elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
            last = last[:-1] + "ies"
        else:
            last += "s"
        noun = f"{head} {last}" if head else last
    return f"{count:,} {noun}"
