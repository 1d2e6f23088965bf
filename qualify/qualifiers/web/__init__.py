"""The built-in ``web`` qualifier: visit a company's website and score it against an ICP.

``WebQualifier(fetch_settings)`` is the qualifier: calling it as ``(domain, icp)`` fetches
the homepage and up to three same-site pages (about, legal notice or contact, pricing,
careers), extracts signals, and scores them with :func:`score`, which is pure:
``score(result["signals"], other_icp)`` re-scores a stored result without refetching.
``WebQualifier.validate_icp`` checks an ICP up front, without building a qualifier.
One instance is meant to be shared by all of a worker's threads (it is thread-safe and
owns the HTTP clients, per-host pacing and robots.txt cache); ``close()`` releases it.

Given a page cache (``WebQualifier(settings, pages)``; the worker passes the store's page
store) it reads each page from a kept copy younger than ``max_page_age`` (30 days; None:
any age, as a rescore does; 0: always fetch) instead of fetching it, and keeps what it
fetched (see :mod:`qualify.qualifiers.web.visit`). ``for_run(max_page_age)`` gives the same
qualifier, sharing its HTTP clients, with another age.

Result: ``score`` (0-100 or None), ``verdict`` (qualified / review / unqualified /
unknown), ``tier`` (A-D), ``confidence`` (0-1), ``error`` (a taxonomy code or None),
``reasons`` (``{criterion, outcome, points, evidence, source_url}``), ``evidence`` (a
compact summary) and ``signals`` (everything extracted, JSON-serialisable).

Failures: transient ones (dns_temporary, timeout, connect_failed, http_429 with its
Retry-After, http_5xx) raise :class:`qualify.errors.TransientError`. Permanent fetch
outcomes are results: verdict ``unknown`` with ``error`` set (dns_nxdomain, tls_invalid,
http_4xx, bot_wall, non_html, too_large, redirect_loop, robots_disallowed,
robots_unavailable, thin_content, blocked_private_address), or ``unqualified`` for
parked_domain. A domain that is not a valid public hostname raises
``PermanentError(code="invalid_input")``.

A failure that may be our own network's rather than the site's (a name that did not
resolve, a connection that was not made, a TLS handshake that failed) is raised as
:class:`qualify.errors.OurSideError` instead (``kind`` lookup, connection or TLS handshake;
``result`` the unknown result to record if the network proves fine, for dns_nxdomain and
tls_invalid), so that the worker can tell an outage from a dead site. ``probe(error)``
answers whether the network works again (see :meth:`Fetcher.probe`).

Configuration: :class:`qualify.settings.FetchSettings`, which ``Settings.resolve`` reads
from the environment (the CLI's ``--fetch-via`` and ``--allow-private-networks`` override):

- ``QUALIFY_FETCH_VIA``: gateway URL template containing ``{url}``, e.g.
  ``http://127.0.0.1:8123/fetch?url={url}``. ``{url}`` is replaced by the target URL,
  percent-encoded as one query value.
- ``QUALIFY_ALLOW_PRIVATE_NETWORKS=1``: lift the SSRF guard (private, loopback,
  link-local ... addresses become fetchable).
- ``QUALIFY_USER_AGENT``: replace the default User-Agent (add your contact address).
- ``QUALIFY_DNS``: the DNS servers to ask (``127.0.0.1:5353``, comma-separated); default
  the system's. ``QUALIFY_CANARY``: a ``host[:port]`` the outage probe must reach.
- ``QUALIFY_PER_IP_CONNECTIONS``: open connections to one IP address at most (default 4).
- ``QUALIFY_CA_BUNDLE``: a PEM file of certificate authorities to trust instead of certifi's.

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

import threading
from typing import TYPE_CHECKING, Any

from qualify.errors import ICPError, OurSideError, PermanentError, TransientError
from qualify.pagecache import DEFAULT_MAX_PAGE_AGE
from qualify.qualifiers.web import codes, site_signals
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.crawl import crawl
from qualify.qualifiers.web.domains import input_domain
from qualify.qualifiers.web.fetch import Fetcher
from qualify.qualifiers.web.icp import validate_icp
from qualify.qualifiers.web.scoring import normalized_icp, score, score_normalized
from qualify.qualifiers.web.visit import Visit
from qualify.settings import FetchSettings

if TYPE_CHECKING:
    from qualify.pagecache import PageCache
    from qualify.settings import Settings

__all__ = ["WebQualifier", "score", "validate_icp"]


class _SharedFetcher:
    """The one Fetcher of a qualifier and its views (``for_run``), made on first use."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self._fetcher: Fetcher | None = None
        self._lock = threading.Lock()

    def get(self) -> Fetcher:
        fetcher = self._fetcher
        if fetcher is None:
            with self._lock:
                if self._fetcher is None:
                    self._fetcher = Fetcher(self.settings)
                fetcher = self._fetcher
        return fetcher

    def close(self) -> None:
        with self._lock:
            fetcher, self._fetcher = self._fetcher, None
        if fetcher is not None:
            fetcher.close()


class WebQualifier:
    """The ``web`` qualifier, built from its fetch settings; see the module docstring."""

    #: Checks an ICP (raises :class:`qualify.errors.ICPError`); needs no instance.
    validate_icp = staticmethod(validate_icp)

    def __init__(
        self,
        settings: FetchSettings,
        pages: PageCache | None = None,
        *,
        max_page_age: float | None = DEFAULT_MAX_PAGE_AGE,
        _shared: _SharedFetcher | None = None,
    ) -> None:
        self.settings = settings
        self.pages = pages
        self.max_page_age = max_page_age
        self._shared = _shared or _SharedFetcher(settings)

    @classmethod
    def from_settings(cls, settings: Settings, pages: PageCache | None = None) -> WebQualifier:
        """What the built-in name ``web`` builds (see :func:`qualify.qualifiers.load`)."""
        return cls(settings.fetch, pages)

    def for_run(self, max_page_age: float | None) -> WebQualifier:
        """This qualifier reusing kept pages up to ``max_page_age`` seconds old (None: any
        age; 0: none), sharing its HTTP clients, pacing and robots.txt cache."""
        if max_page_age == self.max_page_age:
            return self
        return WebQualifier(
            self.settings, self.pages, max_page_age=max_page_age, _shared=self._shared
        )

    @property
    def fetcher(self) -> Fetcher:
        """The one Fetcher of this qualifier, made on first use by whichever thread is first."""
        return self._shared.get()

    def close(self) -> None:
        """Close the HTTP clients; a later call starts new ones."""
        self._shared.close()

    def __enter__(self) -> WebQualifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, domain: str, icp: dict[str, Any]) -> dict[str, Any]:
        """Qualify one domain against an ICP; see the module docstring for the contract."""
        normalized = self.normalized(icp)
        return _scored(self.signals(domain, normalized), normalized)

    @staticmethod
    def normalized(icp: dict[str, Any]) -> dict[str, Any]:
        """The run's ICP with defaults; a PermanentError if it is invalid."""
        try:
            return normalized_icp(icp)
        except ICPError as exc:
            # run-time ICPs were validated when the run was created; retrying cannot help.
            raise PermanentError(f"invalid ICP: {exc}", code="invalid_icp") from None

    def signals(self, domain: str, normalized: dict[str, Any]) -> dict[str, Any]:
        """The site's signals (its crawl), raising as :meth:`__call__` does; the ``llm``
        qualifier reads the same crawl."""
        try:
            host = input_domain(domain)
        except ValueError as exc:
            raise PermanentError(f"invalid domain: {exc}", code=codes.INVALID_INPUT) from None

        if any(host == d or host.endswith("." + d) for d in normalized["exclude_domains"]):
            # Excluded domains are not visited at all.
            signals: dict[str, Any] = {"version": site_signals.SIGNALS_VERSION, "domain": host,
                                       "error": None, "pages": []}  # fmt: skip
        else:
            fetcher = self.fetcher
            visit = Visit(host, fetcher, fetcher.new_deadline(), self.pages, self.max_page_age)
            try:
                signals = crawl(host, visit)
            except FetchError as exc:
                raise self._failure(host, exc, normalized) from None
            finally:
                visit.keep()
                fetcher.release_connections()
        return signals

    def probe(self, error: OurSideError) -> bool | None:
        """For the worker's outage breaker: does our network answer again? (See
        :meth:`Fetcher.probe`; None: cannot tell, try a job.)"""
        stage = next((s for s, kind in codes.STAGE_KINDS.items() if kind == error.kind), None)
        if stage is None:
            return None
        return self.fetcher.probe(stage, error.subject)

    @staticmethod
    def _failure(host: str, exc: FetchError, normalized: dict[str, Any]) -> TransientError:
        message = f"{host}: {exc.message}"
        if exc.stage is None:
            return TransientError(message, code=exc.code, retry_after=exc.retry_after)
        fallback = None
        if not exc.transient:
            fallback = _scored(
                site_signals.failure_signals(host, exc.code, exc.message, exc.url), normalized
            )
        return OurSideError(
            message,
            code=exc.code,
            kind=codes.STAGE_KINDS[exc.stage],
            subject=host,
            result=fallback,
            retry_after=exc.retry_after,
        )


def scored(signals: dict[str, Any], normalized: dict[str, Any]) -> dict[str, Any]:
    """The web qualifier's result for a site's signals."""
    return _scored(signals, normalized)


def _scored(signals: dict[str, Any], normalized: dict[str, Any]) -> dict[str, Any]:
    result = score_normalized(signals, normalized)
    result["signals"] = signals
    return result
