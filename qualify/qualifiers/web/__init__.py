"""The built-in ``web`` qualifier: visit a company's website and score it against an ICP.

``qualify(domain, icp)`` fetches the homepage and up to three same-site pages (about,
legal notice or contact, pricing, careers), extracts signals, and scores them with
:func:`score`, which is pure: ``score(result["signals"], other_icp)`` re-scores a stored
result without refetching. ``qualify.validate_icp`` checks an ICP up front.

Result: ``score`` (0-100 or None), ``verdict`` (qualified / review / unqualified /
unknown), ``tier`` (A-D), ``confidence`` (0-1), ``error`` (a taxonomy code or None),
``reasons`` (``{criterion, outcome, points, evidence, source_url}``), ``evidence`` (a
compact summary) and ``signals`` (everything extracted, JSON-serialisable).

Failures: transient ones (dns_temporary, timeout, connect_failed, http_429 with its
Retry-After, http_5xx) raise :class:`qualify.errors.TransientError`. Permanent fetch
outcomes are results: verdict ``unknown`` with ``error`` set (dns_nxdomain, tls_invalid,
http_4xx, bot_wall, non_html, too_large, redirect_loop, robots_disallowed, thin_content,
blocked_private_address), or ``unqualified`` for parked_domain. A domain that is not a
valid public hostname raises ``PermanentError(code="invalid_input")``.

Configuration (read from the environment once, on first use; ``configure`` overrides):

- ``QUALIFY_FETCH_VIA``: gateway URL template containing ``{url}``, e.g.
  ``http://127.0.0.1:8123/fetch?url={url}``. ``{url}`` is replaced by the target URL,
  percent-encoded as one query value.
- ``QUALIFY_ALLOW_PRIVATE_NETWORKS=1``: lift the SSRF guard (private, loopback,
  link-local ... addresses become fetchable).
- ``QUALIFY_USER_AGENT``: replace the default User-Agent (add your contact address).

Gateway protocol (for scraping or rendering services, and the tests): the qualifier sends
``GET <template with {url}>`` with its usual headers, one request per target URL,
robots.txt included. The gateway answers with the *target's* status code, headers and
body as they are (a Content-Encoding it leaves in place is decoded here). It reports
redirects as a normal 3xx with ``Location`` (absolute, or relative to the target URL);
the qualifier follows them itself, so every hop is shape-checked, counted and
robots-checked. When the gateway cannot reach the target, it may answer with any status
and the header ``X-Qualify-Error: <code>``, one of dns_nxdomain, dns_temporary,
connect_failed, timeout, tls_invalid, blocked_private_address; the code is used as is.
Without that header a 5xx counts as http_5xx. If the gateway itself is unreachable, the
fetch fails with connect_failed (transient). The gateway is the user's own
configuration and may sit on loopback; the target URLs handed to it are still refused if
their shape is not public (non-HTTP schemes, credentials, private or loopback IP
literals, names such as localhost or *.internal).
"""

from __future__ import annotations

from typing import Any

from qualify.errors import ICPError, PermanentError, TransientError
from qualify.qualifiers.web import codes, extract, runtime
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.config import Settings
from qualify.qualifiers.web.crawl import crawl
from qualify.qualifiers.web.domains import normalize_domain
from qualify.qualifiers.web.icp import validate_icp
from qualify.qualifiers.web.netguard import Resolver
from qualify.qualifiers.web.scoring import normalized_icp, score

__all__ = ["configure", "qualify", "reset_configuration", "score", "validate_icp"]


def configure(
    fetch_via: str | None = None,
    allow_private_networks: bool | None = None,
    resolver: Resolver | None = None,
    **settings: Any,
) -> Settings:
    """Override fetch settings for this process (None leaves a setting as it is).

    ``fetch_via``: gateway URL template with ``{url}`` ("" goes back to direct fetching).
    ``allow_private_networks``: lift the SSRF guard. ``resolver``: a function host -> list
    of IP strings used instead of getaddrinfo (tests, custom DNS). Further keywords are
    fields of :class:`~qualify.qualifiers.web.config.Settings` (``deadline``,
    ``host_delay``, ``max_bytes``, ``respect_robots`` ...). Returns the resulting settings.
    """
    return runtime.configure(
        fetch_via=fetch_via,
        allow_private_networks=allow_private_networks,
        resolver=resolver,
        **settings,
    )


def reset_configuration() -> None:
    """Drop every ``configure`` override; the environment is read again on next use."""
    runtime.reset()


def qualify(domain: str, icp: dict[str, Any]) -> dict[str, Any]:
    """Qualify one domain against an ICP; see the module docstring for the contract."""
    try:
        normalized = normalized_icp(icp)
    except ICPError as exc:
        # run-time ICPs were validated when the run was created; retrying cannot help.
        raise PermanentError(f"invalid ICP: {exc}", code="invalid_icp") from None
    try:
        host = normalize_domain(domain)
    except ValueError as exc:
        raise PermanentError(f"invalid domain: {exc}", code=codes.INVALID_INPUT) from None

    if any(host == d or host.endswith("." + d) for d in normalized["exclude_domains"]):
        # Excluded domains are not visited at all.
        signals: dict[str, Any] = {"version": extract.SIGNALS_VERSION, "domain": host,
                                   "error": None, "pages": []}  # fmt: skip
    else:
        fetcher = runtime.fetcher()
        deadline = fetcher.new_deadline()
        try:
            signals = crawl(host, fetcher, deadline)
        except FetchError as exc:
            raise TransientError(
                f"{host}: {exc.message}", code=exc.code, retry_after=exc.retry_after
            ) from None
    result = score(signals, icp)
    result["signals"] = signals
    return result


qualify.validate_icp = validate_icp  # type: ignore[attr-defined]
