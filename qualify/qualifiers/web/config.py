"""Fetch settings: defaults, the environment, and Python overrides (``configure``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from qualify import __version__
from qualify.errors import ConfigError
from qualify.qualifiers.web.netguard import Resolver

DEFAULT_USER_AGENT = (
    f"qualify/{__version__} (ICP qualification bot; respects robots.txt; "
    "set QUALIFY_USER_AGENT to add your contact)"
)
# The product token robots.txt groups are matched against.
ROBOTS_AGENT = "qualify"

ENV_FETCH_VIA = "QUALIFY_FETCH_VIA"
ENV_ALLOW_PRIVATE = "QUALIFY_ALLOW_PRIVATE_NETWORKS"
ENV_USER_AGENT = "QUALIFY_USER_AGENT"


@dataclass(frozen=True)
class Settings:
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
    # Requests in flight in this process; the worker's --concurrency bounds it first.
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


def check_gateway_template(template: str) -> None:
    if "{url}" not in template:
        raise ConfigError(f"fetch-via: {template!r} must contain {{url}}")
    if not template.startswith(("http://", "https://")):
        raise ConfigError(f"fetch-via: {template!r} must be an http:// or https:// URL")


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def from_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Settings the environment sets; read once, when the qualifier is first used."""
    env = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    if env.get(ENV_FETCH_VIA, "").strip():
        found["fetch_via"] = env[ENV_FETCH_VIA].strip()
    if ENV_ALLOW_PRIVATE in env:
        found["allow_private_networks"] = _truthy(env[ENV_ALLOW_PRIVATE])
    if env.get(ENV_USER_AGENT, "").strip():
        found["user_agent"] = env[ENV_USER_AGENT].strip()
    return found


def build(overrides: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then the environment, then ``overrides`` (where not None)."""
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"configure() got unknown settings: {', '.join(sorted(unknown))}")
    values = from_environment(environ)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("fetch_via") == "":
        values["fetch_via"] = None  # "" explicitly selects direct fetching
    return replace(Settings(), **values)
