"""How ``qualify ui`` is served: where it listens, who may use it, what it accepts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from qualify.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class UiConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: Required on every request when set; required to serve anything but loopback.
    token: str | None = None
    #: A run with no movement and no live lease for this long is STUCK (as in `status`).
    stuck_after: float = 300.0
    #: The largest upload the New run form accepts, both files together.
    max_upload_bytes: int = 64 * 1024 * 1024
    #: Qualifiers the New run form offers besides ``web`` and those of earlier runs.
    qualifiers: tuple[str, ...] = ()
    #: Seconds between live refreshes in the browser; the store is read at most once a
    #: second whatever the number of browsers.
    poll_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"host {self.host!r} is not a loopback address: serving it needs a token"
            )
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"token: at least {MIN_TOKEN_LENGTH} characters")
        if self.max_upload_bytes < 1024:
            raise ConfigError("max_upload_bytes: at least 1024")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or a name for them: reachable from this machine only."""
    name = host.strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
