"""Settings: resolved once, from arguments or the environment, and passed down.

:meth:`Settings.resolve` is the only place qualify reads its environment variables
(``QUALIFY_DB``, ``QUALIFY_QUEUE``, ``QUALIFY_FETCH_VIA``, ``QUALIFY_ALLOW_PRIVATE_NETWORKS``,
``QUALIFY_USER_AGENT``, ``QUALIFY_DNS``, ``QUALIFY_CANARY``, ``QUALIFY_CA_BUNDLE``,
``QUALIFY_PER_IP_CONNECTIONS``, ``QUALIFY_LLM_BASE_URL``, ``QUALIFY_LLM_API_KEY``,
``QUALIFY_LLM_MODEL``). Everything below it takes a :class:`Settings` (or its
:class:`FetchSettings`) as an argument. Light on purpose: the CLI imports it at start-up, so
it must not pull in httpx, selectolax or the web qualifier.
"""

from __future__ import annotations

import ipaddress
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
DNS_ENV = "QUALIFY_DNS"
CANARY_ENV = "QUALIFY_CANARY"
CA_BUNDLE_ENV = "QUALIFY_CA_BUNDLE"
PER_IP_ENV = "QUALIFY_PER_IP_CONNECTIONS"
LLM_BASE_URL_ENV = "QUALIFY_LLM_BASE_URL"
LLM_API_KEY_ENV = "QUALIFY_LLM_API_KEY"
LLM_MODEL_ENV = "QUALIFY_LLM_MODEL"
DEFAULT_LLM_BASE_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint

DEFAULT_USER_AGENT = (
    f"qualify/{__version__} (ICP qualification bot; respects robots.txt; "
    "set QUALIFY_USER_AGENT to add your contact)"
)


@dataclass(frozen=True)
class FetchSettings:
    """How the web qualifier fetches. Invalid values raise :class:`ConfigError` at once."""

    fetch_via: str | None = None  # gateway URL template with {url}; None fetches directly
    allow_private_networks: bool = False
    # host -> IP strings, raising FetchError (tests, custom setups); None: the DNS resolver.
    resolver: Resolver | None = None
    # DNS servers to ask, "host[:port]" comma-separated ("127.0.0.1:5353"); None: the
    # system's own (/etc/resolv.conf), still asked by qualify with its timeout and cache.
    dns: str | None = None
    dns_timeout: float = 3.0  # one lookup, every server and retry included
    dns_negative_ttl: float = 30.0  # how long "no such name" is believed
    dns_max_ttl: float = 3600.0  # a longer TTL is cut to this
    # host[:port] the outage probe reaches to tell "our network is back" (default port 443);
    # None: the probe asks DNS for the failed name's top-level zone, or tries one job.
    canary: str | None = None
    # Many domains share one address (shops on one platform, a hosting provider): at most
    # this many open connections to one IP, and request starts spaced this far apart.
    per_ip_connections: int = 4
    per_ip_delay: float = 0.1
    max_ip_delay: float = 30.0  # a 429/503 doubles an IP's spacing, up to this
    # robots.txt answering 5xx or 429 means "disallowed" for this long (RFC 9309 2.3.1.4).
    robots_error_ttl: float = 900.0
    ca_bundle: str | None = None  # PEM file of the CAs to trust instead of certifi's
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
        for name in ("connect_timeout", "read_timeout", "deadline", "dns_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: expected a positive number of seconds")
        for name in ("dns_negative_ttl", "dns_max_ttl", "per_ip_delay", "max_ip_delay",
                     "robots_error_ttl"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: expected seconds, not {getattr(self, name)!r}")
        if self.per_ip_connections < 1:
            raise ConfigError("per_ip_connections: must be at least 1")
        if self.dns is not None:
            parse_servers(self.dns, "dns")
        if self.canary is not None:
            parse_servers(self.canary, "canary", default_port=443, single=True)
        if self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            raise ConfigError(f"ca-bundle: {self.ca_bundle!r} is not a file")
        if self.max_concurrent_fetches < 1 or self.max_bytes < 1024:
            raise ConfigError("max_concurrent_fetches and max_bytes must be positive")
        if not 0 <= self.max_redirects <= 20 or not 0 <= self.max_extra_pages <= 10:
            raise ConfigError("max_redirects (0-20) or max_extra_pages (0-10) out of range")


@dataclass(frozen=True)
class LlmSettings:
    """Where the ``llm`` qualifier asks its model. The key is read from the environment
    only and never stored; the model a run uses is stored on the run (this ``model`` is the
    default for new runs)."""

    base_url: str = DEFAULT_LLM_BASE_URL  # up to and including /v1
    api_key: str | None = None
    model: str | None = None
    concurrency: int = 4  # requests in flight at once to the endpoint, per worker
    timeout: float = 120.0  # one request, generation included
    max_retries_in_call: int = 0  # ours are the job's retries; none stacked inside a call
    # Characters of page text shown to the model per domain (the prompt's budget).
    char_budget: int = 12_000
    max_output_tokens: int = 1_200

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{LLM_BASE_URL_ENV}: {self.base_url!r} is not an http(s) URL")
        if not 1 <= self.concurrency <= 256:
            raise ConfigError(f"llm-concurrency: expected 1-256, got {self.concurrency}")
        if self.timeout <= 0 or self.char_budget < 500 or self.max_output_tokens < 64:
            raise ConfigError("llm timeout, char_budget (>= 500) or max_output_tokens out of range")


@dataclass(frozen=True)
class Settings:
    """``db``: a path or URL for the store; ``queue``: a Redis URL, or None for the store's
    own database; ``fetch``: how the web qualifier fetches; ``llm``: where the llm
    qualifier asks its model."""

    db: str = DEFAULT_DB
    queue: str | None = None
    fetch: FetchSettings = field(default_factory=FetchSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)

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
            llm=LlmSettings(**_llm_environment(env)),
        )

    def with_llm(self, **overrides: Any) -> Settings:
        """These settings with some llm settings replaced (``--model``,
        ``--llm-concurrency``, tests); None leaves a setting as it is."""
        unknown = set(overrides) - {f.name for f in fields(LlmSettings)}
        if unknown:
            raise TypeError(f"with_llm() got unknown settings: {', '.join(sorted(unknown))}")
        values = {name: value for name, value in overrides.items() if value is not None}
        return replace(self, llm=replace(self.llm, **values)) if values else self

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


def parse_servers(
    spec: str, what: str, *, default_port: int = 53, single: bool = False
) -> list[tuple[str, int]]:
    """``"127.0.0.1:5353, [::1]"`` -> ``[("127.0.0.1", 5353), ("::1", 53)]``; a host
    name is allowed where ``single`` (the canary). Raises ConfigError naming ``what``."""
    servers = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        host, port = item, str(default_port)
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            if not bracket:
                raise ConfigError(f"{what}: {item!r} is not host[:port]")
            if rest:
                if not rest.startswith(":"):
                    raise ConfigError(f"{what}: {item!r} is not host[:port]")
                port = rest[1:]
        elif item.count(":") == 1:
            host, port = item.split(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{what}: {item!r} has no valid port")
        if not single and not _is_ip(host):
            raise ConfigError(f"{what}: {host!r} is not an IP address")
        if not host:
            raise ConfigError(f"{what}: {item!r} has no host")
        servers.append((host, int(port)))
    if not servers or (single and len(servers) > 1):
        raise ConfigError(f"{what}: expected {'one' if single else 'an'} address, got {spec!r}")
    return servers


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
    for name, var in (("dns", DNS_ENV), ("canary", CANARY_ENV), ("ca_bundle", CA_BUNDLE_ENV)):
        if env.get(var, "").strip():
            found[name] = env[var].strip()
    if env.get(PER_IP_ENV, "").strip():
        value = env[PER_IP_ENV].strip()
        if not value.isdigit():
            raise ConfigError(f"{PER_IP_ENV}: expected a whole number, got {value!r}")
        found["per_ip_connections"] = int(value)
    return found


def _llm_environment(env: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, var in (("base_url", LLM_BASE_URL_ENV), ("api_key", LLM_API_KEY_ENV),
                      ("model", LLM_MODEL_ENV)):  # fmt: skip
        if env.get(var, "").strip():
            found[name] = env[var].strip()
    if "base_url" in found:
        found["base_url"] = found["base_url"].rstrip("/")
    return found
