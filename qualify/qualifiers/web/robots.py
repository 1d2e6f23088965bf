"""robots.txt per RFC 9309: group selection by product token, longest match wins.

The standard library's parser uses first-match order and ignores ``*`` and ``$``, which
gets real-world files wrong, hence this small one.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from functools import lru_cache


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(regex + (r"\Z" if anchored else ""))


def _match_length(pattern: str, path: str) -> int:
    """Length of ``pattern`` if it matches ``path`` (its priority), else -1."""
    if "*" not in pattern and not pattern.endswith("$"):
        return len(pattern) if path.startswith(pattern) else -1
    return len(pattern) if _compile(pattern).match(path) else -1


@dataclass(frozen=True)
class RobotsRules:
    rules: tuple[tuple[bool, str], ...] = ()  # (allow, path pattern)
    crawl_delay: float | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    def allowed(self, path: str) -> bool:
        if path.startswith("/robots.txt"):
            return True
        best_len, best_allow = -1, True
        for allow, pattern in self.rules:
            length = _match_length(pattern, path)
            # Longest match wins; on a tie the least restrictive rule (allow) wins.
            if length > best_len or (length == best_len and allow and not best_allow):
                best_len, best_allow = length, allow
        return best_allow


ALLOW_ALL = RobotsRules()


def parse(text: str, agent: str) -> RobotsRules:
    """Rules that apply to ``agent`` (a product token such as ``qualify``)."""
    agent = agent.lower()
    groups: list[tuple[list[str], list[tuple[bool, str]], list[float]]] = []
    agents: list[str] = []
    rules: list[tuple[bool, str]] = []
    delays: list[float] = []
    in_rules = False
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                groups.append((agents, rules, delays))
                agents, rules, delays, in_rules = [], [], [], False
            agents.append(value.lower())
        elif key in ("allow", "disallow"):
            in_rules = True
            if value:  # an empty Disallow allows everything: no rule
                rules.append((key == "allow", value))
        elif key == "crawl-delay":
            in_rules = True
            with contextlib.suppress(ValueError):
                delays.append(float(value))
    if agents:
        groups.append((agents, rules, delays))

    def pick(match: str | None) -> RobotsRules | None:
        chosen = [
            g
            for g in groups
            if any((a == "*") if match is None else (a != "*" and a in match) for a in g[0])
        ]
        if not chosen:
            return None
        merged = tuple(r for g in chosen for r in g[1])
        delay = next((d for g in chosen for d in g[2]), None)
        return RobotsRules(merged, delay)

    return pick(agent) or pick(None) or ALLOW_ALL
