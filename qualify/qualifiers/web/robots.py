"""robots.txt per RFC 9309, read by protego: longest match wins, allow wins a tie,
``*`` and ``$`` patterns, percent-encoding normalised on both sides (``/%7Ejoe`` is
``/~joe``; ``/a%2Fb`` is not ``/a/b``).

One thing is done here before protego sees the file: choosing the group. RFC 9309 2.2.1
matches a crawler's *product token* case-insensitively against the token a ``User-agent``
line names, which is that line's leading letters, ``_`` and ``-`` (``qualify/1.0`` names
``qualify``). protego instead looks for the line's whole value inside the crawler's name,
so ``User-agent: q`` would govern ``qualify`` and ``User-agent: qualify/1.0`` would not.
Each ``User-agent`` line is therefore rewritten to our token when it names our token, and to
a token no crawler has otherwise; ``*`` stays. Everything else is protego's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from protego import Protego

# Our product token (the User-Agent header is "qualify/<version> (...)").
AGENT = "qualify"
# What a group for another crawler is renamed to: no product token contains "~".
_OTHER = "~other"
_USER_AGENT_LINE = re.compile(r"^(\s*user[- ]?agent\s*:?\s*)([^#\r\n]*)(.*)$", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z_-]+")


@dataclass(frozen=True)
class RobotsRules:
    """What one origin's robots.txt says to us. ``unavailable`` (a reason) disallows
    everything: the file could not be read (RFC 9309: assume complete disallow)."""

    parser: Protego | None = field(default=None, compare=False)
    crawl_delay: float | None = None
    unavailable: str | None = None

    def allowed(self, path: str) -> bool:
        """Whether we may fetch ``path`` (with its query) or a whole URL."""
        if self.unavailable is not None:
            return path.split("?", 1)[0].endswith("/robots.txt")
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(path, AGENT))


ALLOW_ALL = RobotsRules()


def unavailable(reason: str) -> RobotsRules:
    return RobotsRules(unavailable=reason)


def parse(text: str, agent: str = AGENT) -> RobotsRules:
    """The rules ``text`` gives the crawler whose product token is ``agent``."""
    agent = agent.lower()
    parser = Protego.parse(_name_groups(text, agent))
    delay = parser.crawl_delay(AGENT)
    return RobotsRules(parser=parser, crawl_delay=None if delay is None else float(delay))


def _name_groups(text: str, agent: str) -> str:
    lines = text.splitlines()
    for number, line in enumerate(lines):
        found = _USER_AGENT_LINE.match(line)
        if found is None:
            continue
        prefix, value, rest = found.groups()
        value = value.strip()
        if not value or value == "*":
            continue
        token = _TOKEN.match(value)
        named = AGENT if token is not None and token.group().lower() == agent else _OTHER
        lines[number] = f"{prefix}{named}{rest}"
    return "\n".join(lines)
