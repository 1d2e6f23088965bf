"""Safe, polite fetching of one URL: redirects re-validated hop by hop, robots.txt,
per-host and per-IP pacing, a cap on open connections per IP and on requests in flight (per
qualifier, shared by its threads), bounded time and size.

Every failure becomes a :class:`~qualify.qualifiers.web.codes.FetchError` with a code from
the taxonomy; nothing here decides whether a domain qualifies.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urldefrag, urljoin, urlsplit

import httpx

from qualify.qualifiers.web import codes, robots, walls
from qualify.qualifiers.web.body import (
    ACCEPT_ENCODING,
    BoundedDecoder,
    UnsupportedEncoding,
    decode_text,
)
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.netguard import check_url, parse_ip
from qualify.qualifiers.web.polite import ConnectionSlots, HostThrottle, IpPacing, TTLCache
from qualify.qualifiers.web.probe import network_answers
from qualify.qualifiers.web.resolver import DnsResolver
from qualify.qualifiers.web.transport import (
    GuardedTransport,
    make_client,
    make_ssl_context,
)
from qualify.settings import FetchSettings

log = logging.getLogger("qualify.web")

HTML_TYPES = ("text/html", "application/xhtml+xml")
ERROR_BODY_LIMIT = 64 * 1024  # enough to recognise a bot wall
ROBOTS_LIMIT = 512 * 1024  # RFC 9309 asks crawlers to parse at least 500 KiB
MAX_RETRY_AFTER = 86_400.0
GATEWAY_ERROR_HEADER = "x-qualify-error"
# The product token robots.txt groups are matched against.
ROBOTS_AGENT = robots.AGENT
# The longest a request waits its turn at a shared address (its connection slots and its
# spacing). Not counted against the domain's deadline: queueing politely behind the other
# domains of one host is not the site being slow.
MAX_POLITE_WAIT = 120.0
# Answers that mean "too much, slow down" for the whole address.
_PUSH_BACK = (429, 503)

_ACCEPT_HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


@dataclass
class Response:
    """One HTTP exchange with its body already bounded and decoded from Content-Encoding."""

    url: str
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes = b""
    location: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Page:
    """An HTML page that was fetched successfully."""

    url: str  # final URL, after redirects
    status: int
    headers: dict[str, str]
    cookies: list[str]
    html: str
    redirects: list[str] = field(default_factory=list)  # URLs passed through on the way
    body: bytes = b""  # the decoded-from-transfer bytes ``html`` was made from
    encoding: str = "utf-8"

    @property
    def utf8(self) -> bytes | None:
        """The raw bytes when they are valid UTF-8 (the parser takes them as they are)."""
        return self.body if self.encoding == "utf-8" else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), clamped to a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


def _is_html_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lower()
    return any(tag in head for tag in ("<!doctype html", "<html", "<head", "<body", "<title"))


def _has_ssl_cause(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _classify_exception(exc: Exception, url: str, via_gateway: bool) -> FetchError:
    """The taxonomy error for what httpx raised. Every failure of the connection itself
    (refused, unreachable, reset, timed out, a TLS handshake that failed) carries a stage:
    that is what an outage of our own network looks like, to the gateway as much as to a
    site. A pool timeout is our own queue, not the network."""
    peer = "the gateway" if via_gateway else urlsplit(url).hostname
    connecting = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    if isinstance(exc, httpx.TimeoutException):
        message = f"timed out {'connecting to' if connecting else 'talking to'} {peer}"
        stage = None if isinstance(exc, httpx.PoolTimeout) else codes.CONNECT
        return FetchError(codes.TIMEOUT, message, url=url, stage=stage, sent=not connecting)
    if isinstance(exc, httpx.ConnectError) and not via_gateway and _has_ssl_cause(exc):
        message = f"TLS handshake with {peer} failed: {exc}"
        return FetchError(codes.TLS_INVALID, message, url=url, stage=codes.TLS, sent=False)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return FetchError(codes.BLOCKED_PRIVATE_ADDRESS, f"refused URL {url!r}: {exc}", url=url)
    message = f"connection to {peer} failed: {exc}"
    stage = codes.CONNECT if isinstance(exc, httpx.TransportError) else None
    return FetchError(codes.CONNECT_FAILED, message, url=url, stage=stage, sent=not connecting)


def _status_error(response: Response, what: str = "") -> FetchError:
    """The taxonomy error for a non-2xx final response."""
    status, url = response.status, response.url
    label = f"{what} " if what else ""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429:
        message = f"{label}HTTP 429 Too Many Requests"
        return FetchError(codes.HTTP_429, message, url=url, retry_after=retry_after)
    if status == 408:
        return FetchError(codes.TIMEOUT, f"{label}HTTP 408 Request Timeout", url=url)
    if status >= 500:
        message = f"{label}HTTP {status} server error"
        return FetchError(codes.HTTP_5XX, message, url=url, retry_after=retry_after)
    return FetchError(codes.HTTP_4XX, f"{label}HTTP {status}", url=url)


class Fetcher:
    """Shared by all threads of one qualifier; all mutable state is thread-safe.

    Each thread gets its own HTTP client holding one connection at most (one pool per
    thread: no thread waits on another's lock, and a thread never holds two connection
    slots of one address). ``release_connections`` closes the calling thread's connection,
    for when it is done with a domain."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._ssl_context = make_ssl_context(settings)
        self._clients: list[httpx.Client] = []
        self._generation = 0
        self._client_lock = threading.Lock()
        self._local = threading.local()
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_fetches)
        self._throttle = HostThrottle(clock)
        self._robots: TTLCache[robots.RobotsRules] = TTLCache(4096, ttl=3600.0, clock=clock)
        #: How names become addresses (direct mode): with a timeout, TTLs and a cache.
        self.resolver = DnsResolver(settings, clock=clock, upstream=settings.resolver)
        self._connections = ConnectionSlots(settings.per_ip_connections, clock)
        self._ip_pacing = IpPacing(settings.per_ip_delay, settings.max_ip_delay, clock)

    @property
    def via_gateway(self) -> bool:
        return bool(self.settings.fetch_via)

    @property
    def client(self) -> httpx.Client:
        """This thread's client, made on its first request."""
        if getattr(self._local, "generation", None) == self._generation:
            client: httpx.Client = self._local.client
            return client
        client = make_client(
            self.settings,
            1,
            ssl_context=self._ssl_context,
            resolver=self.resolver.resolve,
            slots=None if self.via_gateway else self._connections,
        )
        with self._client_lock:
            self._clients.append(client)
            self._local.generation = self._generation
        self._local.client = client
        return client

    def close(self) -> None:
        with self._client_lock:
            clients, self._clients = self._clients, []
            self._generation += 1
        for client in clients:
            client.close()
        stats = self.resolver.stats
        if stats.lookups:
            log.info(
                "DNS: %d lookups in %.1fs (%.1f ms each), %d failed; %d answers from the cache",
                stats.lookups, stats.seconds, 1000 * stats.seconds / stats.lookups,
                stats.failed, stats.cached,
            )  # fmt: skip

    def release_connections(self) -> None:
        """Close this thread's connection (direct mode), so that it holds no address's slot
        while it works on something else. A gateway's connection is kept."""
        if self.via_gateway or getattr(self._local, "generation", None) != self._generation:
            return
        transport = getattr(self._local.client, "_transport", None)
        if isinstance(transport, GuardedTransport):
            transport.drop_connections()

    def new_deadline(self) -> float:
        """The wall-clock deadline for one domain starting now (this thread's)."""
        self._local.waited = 0.0
        return self._clock() + self.settings.deadline

    def remaining(self, deadline: float) -> float:
        """Seconds left before ``deadline``, not counting the time this thread spent
        waiting its turn at a shared address since the deadline was made."""
        return deadline + getattr(self._local, "waited", 0.0) - self._clock()

    def probe(self, stage: str, subject: str | None) -> bool | None:
        """Whether our network answers again, for the worker's outage breaker (see
        :func:`qualify.qualifiers.web.probe.network_answers`); None: cannot tell."""
        if self.via_gateway:
            return None
        return network_answers(self.settings, self.resolver, stage, subject)

    # -- public ------------------------------------------------------------------------

    def fetch_page(self, url: str, deadline: float) -> Page:
        """GET an HTML page; raises FetchError for anything but a usable 2xx HTML answer."""
        response, visited = self._follow(url, deadline, kind="page")
        text, encoding = decode_text(response.body, response.content_type)
        wall = walls.detect_bot_wall(response.status, response.headers, text)
        if wall:
            raise FetchError(codes.BOT_WALL, wall, url=response.url)
        if not 200 <= response.status < 300:
            raise _status_error(response)
        if not response.content_type and not _looks_like_html(text):
            raise FetchError(codes.NON_HTML, "response without a type is not HTML", url=url)
        return Page(
            url=response.url,
            status=response.status,
            headers=response.headers,
            cookies=response.cookies,
            html=text,
            redirects=visited,
            body=response.body,
            encoding=encoding,
        )

    def robots_rules(self, url: str, deadline: float) -> robots.RobotsRules:
        """The robots.txt rules for the origin of ``url`` (cached per origin)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(origin)
        if cached is not None:
            return cached
        response, _ = self._follow(origin + "/robots.txt", deadline, kind="robots")
        status = response.status
        text, _ = decode_text(response.body, response.content_type)
        if 200 <= status < 300:
            rules = robots.parse(text, ROBOTS_AGENT)
        elif status == 429 or (status >= 500 and not walls.detect_bot_wall(status, {}, text)):
            # RFC 9309 2.3.1.4: a robots.txt the server fails to give means "assume complete
            # disallow" for now; asked again after robots_error_ttl, not once per page.
            rules = robots.unavailable(f"robots.txt answered HTTP {status}")
            self._robots.put_for(origin, rules, self.settings.robots_error_ttl)
            return rules
        else:
            rules = robots.ALLOW_ALL  # 4xx (or a challenge page): no rules to follow
        self._robots.put(origin, rules)
        return rules

    # -- internals ---------------------------------------------------------------------

    def _follow(self, url: str, deadline: float, *, kind: str) -> tuple[Response, list[str]]:
        """Request ``url``, following at most ``max_redirects`` redirects, each re-checked."""
        visited: list[str] = []
        allow_private = self.settings.allow_private_networks
        for _hop in range(self.settings.max_redirects + 1):
            check_url(url, allow_private=allow_private)
            crawl_delay = None
            if kind == "page" and self.settings.respect_robots:
                rules = self.robots_rules(url, deadline)
                parts = urlsplit(url)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                if rules.unavailable is not None:
                    message = f"{rules.unavailable}: everything is disallowed for now (RFC 9309)"
                    raise FetchError(codes.ROBOTS_UNAVAILABLE, message, url=url)
                if not rules.allowed(path):
                    raise FetchError(
                        codes.ROBOTS_DISALLOWED, f"robots.txt disallows {path}", url=url
                    )
                crawl_delay = rules.crawl_delay
            response = self._exchange(url, deadline, kind=kind, crawl_delay=crawl_delay)
            if response.location is None:
                return response, visited
            visited.append(url)
            try:
                next_url = urldefrag(urljoin(url, response.location.strip())).url
            except ValueError:
                message = f"refused malformed redirect to {response.location[:100]!r}"
                raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, message, url=url) from None
            if next_url in visited:
                raise FetchError(codes.REDIRECT_LOOP, f"redirect loop back to {next_url}", url=url)
            url = next_url
        raise FetchError(
            codes.REDIRECT_LOOP, f"more than {self.settings.max_redirects} redirects", url=url
        )

    def _exchange(
        self, url: str, deadline: float, *, kind: str, crawl_delay: float | None
    ) -> Response:
        host = urlsplit(url).hostname or ""
        if kind != "robots":
            # Pacing spaces the pages we request; robots.txt, asked once per site before its
            # first page, does not hold that page back by a whole host delay.
            self._pace(url, host, deadline, crawl_delay)
        address = None if self.via_gateway else self._space_address(url, host)
        remaining = self.remaining(deadline)
        if remaining <= 0 or not self._slots.acquire(timeout=remaining):
            raise FetchError(codes.TIMEOUT, "deadline passed waiting for a fetch slot", url=url)
        try:
            response = self._send(url, deadline, kind)
        except FetchError as exc:
            if address is not None and not exc.sent:
                self._ip_pacing.unused(address)
            raise
        finally:
            self._slots.release()
        if address is not None:
            if response.status in _PUSH_BACK:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                spacing = self._ip_pacing.pushed_back(address, retry_after)
                log.debug("%s answered %d: requests to it now %.1fs apart", address,
                          response.status, spacing)  # fmt: skip
            else:
                self._ip_pacing.answered(address)
        return response

    def _pace(self, url: str, host: str, deadline: float, crawl_delay: float | None) -> None:
        honoured = min(crawl_delay or 0.0, self.settings.max_crawl_delay)
        delay = max(self.settings.host_delay, honoured)
        wait = self._throttle.reserve(host, delay, latest=self._clock() + self.remaining(deadline))
        if wait is None:
            raise FetchError(codes.TIMEOUT, f"pacing for {host} would pass the deadline", url=url)
        if wait > 0:
            self._sleep(wait)

    def _space_address(self, url: str, host: str) -> str:
        """Wait for this request's turn at the address ``host`` resolves to (the one the
        connection will go to first); returns the address."""
        ip = parse_ip(host)
        try:
            address = str(ip) if ip is not None else self.resolver.resolve(host)[0]
        except FetchError as exc:
            exc.url = exc.url or url
            raise
        wait = self._ip_pacing.reserve(address, latest=self._clock() + MAX_POLITE_WAIT)
        if wait is None:
            message = f"{address} is asked to wait over {MAX_POLITE_WAIT:.0f}s between requests"
            raise FetchError(codes.TIMEOUT, message, url=url)
        if wait > 0:
            self._sleep(wait)
            self._local.waited = getattr(self._local, "waited", 0.0) + wait
        return address

    def _send(self, url: str, deadline: float, kind: str) -> Response:
        settings = self.settings
        remaining = max(self.remaining(deadline), 0.001)
        timeout = httpx.Timeout(
            connect=min(settings.connect_timeout, remaining),
            read=min(settings.read_timeout, remaining),
            write=min(settings.read_timeout, remaining),
            pool=remaining,
        )
        target = url
        if settings.fetch_via:
            target = settings.fetch_via.replace("{url}", quote(url, safe=""))
        headers = {
            "Accept": _ACCEPT_HTML if kind == "page" else "text/plain,*/*;q=0.5",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        client = self.client
        transport = getattr(client, "_transport", None)
        backend = transport.backend if isinstance(transport, GuardedTransport) else None
        if backend is not None:
            backend.slot_wait = MAX_POLITE_WAIT
        try:
            with client.stream("GET", target, headers=headers, timeout=timeout) as r:
                return self._read(url, r, deadline, kind)
        except FetchError as exc:
            exc.url = exc.url or url
            raise
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _classify_exception(exc, url, self.via_gateway) from None
        finally:
            if backend is not None and backend.waited:
                self._local.waited = getattr(self._local, "waited", 0.0) + backend.waited
                backend.waited = 0.0

    def _read(self, url: str, r: httpx.Response, deadline: float, kind: str) -> Response:
        headers = {k.lower(): v for k, v in r.headers.items() if k.lower() != "set-cookie"}
        cookies = [c.split("=", 1)[0].strip() for c in r.headers.get_list("set-cookie")]
        response = Response(url=url, status=r.status_code, headers=headers, cookies=cookies)
        if self.via_gateway:
            reported = headers.get(GATEWAY_ERROR_HEADER, "").strip().lower()
            if reported in codes.GATEWAY_REPORTABLE:
                stage = codes.GATEWAY_STAGES.get(reported)
                message = f"gateway reports {reported} for {url}"
                raise FetchError(reported, message, url=url, stage=stage)
        if 300 <= r.status_code < 400 and headers.get("location"):
            response.location = headers["location"]
            return response
        strict = kind == "page" and 200 <= r.status_code < 300
        if strict:
            content_type = response.content_type
            if content_type and not _is_html_type(content_type):
                media = content_type.split(";", 1)[0].strip()
                raise FetchError(codes.NON_HTML, f"content type {media} is not HTML", url=url)
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.settings.max_bytes:
                raise FetchError(
                    codes.TOO_LARGE, f"declared {int(declared):,} bytes, over the cap", url=url
                )
            limit = self.settings.max_bytes
        else:
            limit = ROBOTS_LIMIT if kind == "robots" else ERROR_BODY_LIMIT
        try:
            decoder = BoundedDecoder(headers.get("content-encoding", ""), limit)
        except UnsupportedEncoding as exc:
            if strict:
                raise FetchError(codes.NON_HTML, f"unsupported encoding {exc}", url=url) from None
            return response
        try:
            for chunk in r.iter_raw():
                if self.remaining(deadline) < 0:
                    raise FetchError(codes.TIMEOUT, "deadline passed while reading", url=url)
                if not decoder.feed(chunk):
                    if strict:
                        raise FetchError(
                            codes.TOO_LARGE,
                            f"body over {self.settings.max_bytes:,} bytes once decoded",
                            url=url,
                        )
                    break
        except zlib.error as exc:
            if strict:
                message = f"corrupt compressed body: {exc}"
                raise FetchError(codes.NON_HTML, message, url=url) from None
        response.body = decoder.data()
        return response
