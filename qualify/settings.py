"""Settings: resolved once, from arguments or the environment, and passed down.

:meth:`Settings.resolve` is the only place qualify reads its environment variables
(``QUALIFY_DB``, ``QUALIFY_QUEUE``, ``QUALIFY_FETCH_VIA``, ``QUALIFY_ALLOW_PRIVATE_NETWORKS``,
``QUALIFY_USER_AGENT``). Everything below it takes a :class:`Settings` (or its
:class:`FetchSettings`) as an argument. Light on purpose: the CLI imports it at start-up, so
it must not pull in httpx, selectolax or the web qualifier.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from qualify import __version__
from qualify.errors import ConfigError

if TYPE_CHECKING:
    from qualify.qualifiers.web.netguard import Resolver

DEFAULT_DB = "qualify.db"
DB_ENV = "QUALIFY_DB"
QUEUE_ENV = "QUALIFY_QUEUE"
FETCH_VIA_ENV = "QUALIFY_FETCH_VIA"
ALLOW_PRIVATE_ENV = "QUALIFY_ALLOW_PRIVATE_NETWORKS"
USER_AGENT_ENV = "QUALIFY_USER_AGENT"

DEFAULT_USER_AGENT = (
    f"qualify/{__version__} (ICP qualification bot; respects robots.txt; "
    "set QUALIFY_USER_AGENT to add your contact)"
)


@dataclass(frozen=True)
class FetchSettings:
    """How the web qualifier fetches. Invalid values raise :class:`ConfigError` at once."""

    fetch_via: str | None = None  # gateway URL template with {url}; None fetches directly
    allow_private_networks: bool = False
    resolver: Resolver | None = None  # host -> IP strings; None uses getaddrinfo
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 30.0  # wall clock for one domain, all pages and redirects included
    max_redirects: int = 5
    max_bytes: int = 3_000_000  # decoded bytes of one HTML page
    max_extra_pages: int = 3  # same-site pages beyond the homepage
    host_delay: float = 0.5  # seconds between two requests to one host
    max_crawl_delay: float = 5.0  # cap on a robots.txt Crawl-delay we honour
    # Requests in flight at once for one qualifier (all of a worker's threads share it);
    # the worker's --concurrency bounds it first.
    max_concurrent_fetches: int = 256
    respect_robots: bool = True
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if self.fetch_via is not None:
            check_gateway_template(self.fetch_via)
        for name in ("connect_timeout", "read_timeout", "deadline"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: expected a positive number of seconds")
        if self.max_concurrent_fetches < 1 or self.max_bytes < 1024:
            raise ConfigError("max_concurrent_fetches and max_bytes must be positive")
        if not 0 <= self.max_redirects <= 20 or not 0 <= self.max_extra_pages <= 10:
            raise ConfigError("max_redirects (0-20) or max_extra_pages (0-10) out of range")


@dataclass(frozen=True)
class Settings:
    """``db``: a path or URL for the store; ``queue``: a Redis URL, or None for the store's
    own database; ``fetch``: how the web qualifier fetches."""

    db: str = DEFAULT_DB
    queue: str | None = None
    fetch: FetchSettings = field(default_factory=FetchSettings)

    @classmethod
    def resolve(
        cls,
        db: str | None = None,
        queue: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Arguments first, then the environment (``os.environ`` unless given), then defaults."""
        env = os.environ if environ is None else environ
        return cls(
            db=db or env.get(DB_ENV) or DEFAULT_DB,
            queue=queue or env.get(QUEUE_ENV) or None,
            fetch=FetchSettings(**_fetch_environment(env)),
        )

    def with_fetch(self, **overrides: Any) -> Settings:
        """These settings with some fetch settings replaced (command-line options, tests).

        None leaves a setting as it is; ``fetch_via=""`` selects direct fetching. An unknown
        name raises TypeError, an invalid value :class:`ConfigError`; ``self`` never changes.
        """
        unknown = set(overrides) - _FETCH_FIELDS
        if unknown:
            raise TypeError(f"with_fetch() got unknown settings: {', '.join(sorted(unknown))}")
        values = {name: value for name, value in overrides.items() if value is not None}
        if values.get("fetch_via") == "":
            values["fetch_via"] = None
        if not values:
            return self
        return replace(self, fetch=replace(self.fetch, **values))


_FETCH_FIELDS = frozenset(f.name for f in fields(FetchSettings))


def check_gateway_template(template: str) -> None:
    if "{url}" not in template:
        raise ConfigError(f"fetch-via: {template!r} must contain {{url}}")
    if not template.startswith(("http://", "https://")):
        raise ConfigError(f"fetch-via: {template!r} must be an http:// or https:// URL")


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _fetch_environment(env: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if env.get(FETCH_VIA_ENV, "").strip():
        found["fetch_via"] = env[FETCH_VIA_ENV].strip()
    if ALLOW_PRIVATE_ENV in env:
        found["allow_private_networks"] = _truthy(env[ALLOW_PRIVATE_ENV])
    if env.get(USER_AGENT_ENV, "").strip():
        found["user_agent"] = env[USER_AGENT_ENV].strip()
    return found
