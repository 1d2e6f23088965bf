"""HTTP clients: a direct one whose every connection passes the SSRF guard and the per-IP
connection cap, or a gateway one.

The guard sits in httpcore's network backend, the single place a TCP connection is
opened: the host is resolved there (through the fetcher's resolver), every address is
checked, and the socket goes to one of exactly those addresses. TLS still verifies the
certificate against the host name, because httpcore passes the name as SNI.

Each worker thread has a client of its own holding at most one connection (a thread fetches
one page at a time), so a thread never holds one address's connection slot while it waits
for another's: the pool closes its idle connection before it opens the next one, and the
fetcher closes it when a domain is done.
"""

from __future__ import annotations

import ssl
import threading
import time
import typing
from collections.abc import Callable

import httpcore
import httpx

from qualify.qualifiers.web import codes
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.netguard import Resolver, resolve_public
from qualify.qualifiers.web.polite import ConnectionSlots
from qualify.settings import FetchSettings

# Try at most this many addresses of one name before giving up on connecting.
_MAX_ADDRESSES = 4


class SlotStream(httpcore.NetworkStream):
    """A connection that gives its address's slot back when it closes, exactly once."""

    def __init__(self, inner: httpcore.NetworkStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def _give_back(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._give_back()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            tls = self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # httpcore's stream closes itself when the handshake fails; the slot is ours.
            self._give_back()
            raise
        with self._lock:
            release, self._release = self._release, None
        return SlotStream(tls, release or (lambda: None))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks every address, waits for the address's connection slot, connects.

    ``slot_wait`` is how long this thread may wait for a slot now (the fetcher sets it per
    request); ``waited`` adds up the time it did wait, which the fetcher does not count
    against the domain's deadline: queueing politely for a busy shared host is not the
    site being slow."""

    def __init__(
        self, resolver: Resolver | None, allow_private: bool, slots: ConnectionSlots | None
    ) -> None:
        self._resolver = resolver
        self._allow_private = allow_private
        self._slots = slots
        self._inner = httpcore.SyncBackend()
        self.slot_wait = 60.0
        self.waited = 0.0

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve_public(host, self._resolver, allow_private=self._allow_private)
        last_error: Exception | None = None
        for address in addresses[:_MAX_ADDRESSES]:
            release = self._take_slot(address)
            try:
                stream = self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                release()
                last_error = exc
                continue
            except BaseException:
                release()
                raise
            return SlotStream(stream, release)
        assert last_error is not None
        raise last_error

    def _take_slot(self, address: str) -> Callable[[], None]:
        slots = self._slots
        if slots is None:
            return lambda: None
        started = time.monotonic()
        taken = slots.acquire(address, self.slot_wait)
        self.waited += time.monotonic() - started
        if not taken:
            raise FetchError(
                codes.TIMEOUT,
                f"{address} already has {slots.per_ip} connections open (a host shared by"
                f" other domains); none freed within {self.slot_wait:.0f}s",
            )
        return lambda: slots.release(address)

    def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise httpcore.ConnectError("unix sockets are not used by the web qualifier")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool rebuilt on the guarded backend.

    httpx has no public parameter for the network backend; replacing ``_pool`` right after
    construction is the smallest seam. tests/web/test_ssrf.py fails if it stops working.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, limits: httpx.Limits, backend: GuardedBackend
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self.backend = backend
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )

    def drop_connections(self) -> None:
        """Close the pool's connections (and so free their addresses' slots); the pool
        stays usable."""
        self._pool.close()


def make_ssl_context(settings: FetchSettings) -> ssl.SSLContext:
    """One context for every client of a fetcher (SSLContext is thread-safe): certifi's CAs,
    or ``ca_bundle``'s (a company proxy, the tests' own CA)."""
    if settings.ca_bundle and settings.verify_tls:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    return httpx.create_ssl_context(verify=settings.verify_tls, trust_env=False)


def make_client(
    settings: FetchSettings,
    connections: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    resolver: Resolver | None = None,
    slots: ConnectionSlots | None = None,
) -> httpx.Client:
    """A client with at most ``connections`` connections (the fetcher gives each thread
    one). Direct clients resolve through ``resolver`` (default: the settings' own) and take
    a slot of ``slots`` for every connection."""
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=5.0
    )
    context = ssl_context or make_ssl_context(settings)
    transport: httpx.BaseTransport
    if settings.fetch_via:
        # The gateway is the user's own configuration and may sit on loopback; the targets
        # it is handed are checked for shape by the fetcher instead.
        transport = httpx.HTTPTransport(verify=context, trust_env=False, limits=limits)
    else:
        backend = GuardedBackend(
            resolver or settings.resolver, settings.allow_private_networks, slots
        )
        transport = GuardedTransport(context, limits, backend)
    return httpx.Client(
        transport=transport,
        trust_env=False,  # an HTTP(S)_PROXY from the environment would bypass the guard
        follow_redirects=False,  # every hop is re-validated by the fetcher
        headers={"User-Agent": settings.user_agent},
    )
