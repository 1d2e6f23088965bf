"""HTTP clients: a direct one whose every connection passes the SSRF guard, or a gateway one.

The guard sits in httpcore's network backend, the single place a TCP connection is
opened: the host is resolved there (through the injectable resolver), every address is
checked, and the socket goes to one of exactly those addresses. TLS still verifies the
certificate against the host name, because httpcore passes the name as SNI.
"""

from __future__ import annotations

import typing

import httpcore
import httpx

from qualify.qualifiers.web.netguard import Resolver, resolve_public
from qualify.settings import FetchSettings

# Try at most this many addresses of one name before giving up on connecting.
_MAX_ADDRESSES = 4


class GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, resolver: Resolver | None, allow_private: bool) -> None:
        self._resolver = resolver
        self._allow_private = allow_private
        self._inner = httpcore.SyncBackend()

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
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise httpcore.ConnectError("unix sockets are not used by the web qualifier")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool rebuilt on the guarded backend.

    httpx has no public parameter for the network backend; replacing ``_pool`` right after
    construction is the smallest seam. tests/web/test_ssrf.py fails if it stops working.
    """

    def __init__(self, settings: FetchSettings, limits: httpx.Limits) -> None:
        super().__init__(verify=settings.verify_tls, trust_env=False, limits=limits)
        ssl_context = httpx.create_ssl_context(verify=settings.verify_tls, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(settings.resolver, settings.allow_private_networks),
        )


def make_client(settings: FetchSettings, connections: int) -> httpx.Client:
    """A client shared by several worker threads (httpx.Client is thread-safe)."""
    limits = httpx.Limits(
        # The fetch semaphore is the real cap; the pool must never be the bottleneck.
        max_connections=connections + 8,
        max_keepalive_connections=connections,
        keepalive_expiry=5.0,
    )
    transport: httpx.BaseTransport
    if settings.fetch_via:
        # The gateway is the user's own configuration and may sit on loopback; the targets
        # it is handed are checked for shape by the fetcher instead.
        transport = httpx.HTTPTransport(verify=settings.verify_tls, trust_env=False, limits=limits)
    else:
        transport = GuardedTransport(settings, limits)
    return httpx.Client(
        transport=transport,
        trust_env=False,  # an HTTP(S)_PROXY from the environment would bypass the guard
        follow_redirects=False,  # every hop is re-validated by the fetcher
        headers={"User-Agent": settings.user_agent},
    )
