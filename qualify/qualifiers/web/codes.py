"""The failure taxonomy: stable codes stored in a result's ``error`` field."""

from __future__ import annotations

INVALID_INPUT = "invalid_input"
BLOCKED_PRIVATE_ADDRESS = "blocked_private_address"
DNS_NXDOMAIN = "dns_nxdomain"
DNS_TEMPORARY = "dns_temporary"
CONNECT_FAILED = "connect_failed"
TIMEOUT = "timeout"
TLS_INVALID = "tls_invalid"
HTTP_429 = "http_429"
HTTP_5XX = "http_5xx"
HTTP_4XX = "http_4xx"
BOT_WALL = "bot_wall"
PARKED_DOMAIN = "parked_domain"
NON_HTML = "non_html"
TOO_LARGE = "too_large"
REDIRECT_LOOP = "redirect_loop"
ROBOTS_DISALLOWED = "robots_disallowed"
ROBOTS_UNAVAILABLE = "robots_unavailable"
THIN_CONTENT = "thin_content"

ALL = frozenset(
    {
        INVALID_INPUT, BLOCKED_PRIVATE_ADDRESS, DNS_NXDOMAIN, DNS_TEMPORARY, CONNECT_FAILED,
        TIMEOUT, TLS_INVALID, HTTP_429, HTTP_5XX, HTTP_4XX, BOT_WALL, PARKED_DOMAIN, NON_HTML,
        TOO_LARGE, REDIRECT_LOOP, ROBOTS_DISALLOWED, ROBOTS_UNAVAILABLE, THIN_CONTENT,
    }
)  # fmt: skip

# Retrying later can change these outcomes; the pipeline retries them with backoff.
TRANSIENT = frozenset({DNS_TEMPORARY, TIMEOUT, CONNECT_FAILED, HTTP_429, HTTP_5XX})

# Codes a gateway may report for the target through the X-Qualify-Error header.
GATEWAY_REPORTABLE = frozenset(
    {DNS_NXDOMAIN, DNS_TEMPORARY, CONNECT_FAILED, TIMEOUT, TLS_INVALID, BLOCKED_PRIVATE_ADDRESS}
)


# The step of a fetch that failed, for failures that may be our own network's rather than
# the site's: the worker's outage breaker counts them (see qualify.errors.OurSideError).
DNS = "dns"
CONNECT = "connect"
TLS = "tls"
# How the breaker counts each step's failures ("19 of the last 20 lookups failed").
STAGE_KINDS = {DNS: "lookup", CONNECT: "connection", TLS: "TLS handshake"}
# A gateway's report of what failed on its side of the fetch.
GATEWAY_STAGES = {
    DNS_NXDOMAIN: DNS, DNS_TEMPORARY: DNS, CONNECT_FAILED: CONNECT, TLS_INVALID: TLS,
}  # fmt: skip


class FetchError(Exception):
    """One fetch failed with a taxonomy code; whether it is transient follows from the code.

    ``stage`` (dns, connect, tls) is set when the failure could be our own network's: a
    name that did not resolve, a connection that was not made. ``sent`` is False when the
    request never reached the server (no connection, no handshake)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        url: str | None = None,
        retry_after: float | None = None,
        stage: str | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url
        self.retry_after = retry_after
        self.stage = stage
        self.sent = sent

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT

    def __repr__(self) -> str:
        return f"FetchError({self.code!r}, {self.message!r}, url={self.url!r})"
