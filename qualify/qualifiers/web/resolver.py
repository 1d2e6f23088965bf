"""DNS the way a crawler needs it: asked by qualify itself (dnspython), with a timeout for
the whole lookup, a per-process cache that honours TTLs, and a brief negative cache.

``getaddrinfo`` blocks a thread for as long as the operating system likes (a resolver that
does not answer held a worker for over two minutes) and says nothing about TTLs. Here every
lookup ends within ``dns_timeout``, and its failure says what happened, because the worker's
outage breaker needs to tell "no such company" from "our DNS is down":

* NXDOMAIN, or a name with no address: ``dns_nxdomain`` (cached ``dns_negative_ttl``);
* SERVFAIL, REFUSED, no answer in time, no server reachable: ``dns_temporary`` (not cached).

Both carry ``stage="dns"``. The servers are ``QUALIFY_DNS`` when set, else the system's own
(``/etc/resolv.conf``; dnspython reads the Windows registry too). Only where the system
names none at all does it fall back to ``getaddrinfo``; an ``upstream`` callable (the
settings' injected ``resolver``) replaces DNS altogether. Those two give no TTL: their
answers are kept a minute. ``localhost`` never leaves the machine (RFC 6761).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from qualify.qualifiers.web import codes
from qualify.qualifiers.web.codes import FetchError
from qualify.settings import FetchSettings, parse_servers

_MAX_ENTRIES = 100_000
_LOOPBACK = ["127.0.0.1", "::1"]
_UPSTREAM_TTL = 60.0


@dataclass
class DnsStats:
    """What the resolver did, for the worker's closing line and the benchmark."""

    lookups: int = 0  # answered from the network (or failed there)
    cached: int = 0  # answered from the cache
    failed: int = 0
    seconds: float = 0.0  # spent waiting for the network


class DnsResolver:
    """Thread-safe; one per Fetcher. ``resolve(host)`` is the transport's resolver."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        upstream: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, list[str] | FetchError]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = DnsStats()
        self._resolver: dns.resolver.Resolver | None = None
        self._upstream = upstream
        if upstream is not None:
            pass
        elif settings.dns is not None:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port)
                for host, port in parse_servers(settings.dns, "dns")
            ]
            self._resolver = resolver
        else:
            try:
                self._resolver = dns.resolver.Resolver(configure=True)
            except dns.resolver.NoResolverConfiguration:
                from qualify.qualifiers.web.netguard import system_resolver

                self._upstream = system_resolver
        if self._resolver is not None:
            # One lookup's time in all: each server gets its share, retries included.
            self._resolver.lifetime = settings.dns_timeout
            self._resolver.timeout = max(settings.dns_timeout / 2, 0.2)
            self._resolver.cache = None  # ours, below: dnspython's has no negative entries

    @property
    def description(self) -> str:
        if self._resolver is None:
            return "the resolver given in the settings, or the operating system's"
        return ", ".join(str(ns) for ns in self._resolver.nameservers)

    def resolve(self, host: str) -> list[str]:
        """The addresses of ``host`` (A, else AAAA), from the cache when it is fresh."""
        host = host.rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return list(_LOOPBACK)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(host)
            if entry is not None and entry[0] > now:
                self.stats.cached += 1
                self._cache.move_to_end(host)
                found = entry[1]
                if isinstance(found, FetchError):
                    raise FetchError(found.code, found.message, stage=codes.DNS)
                return list(found)
        addresses, ttl, error = self._lookup(host)
        with self._lock:
            if error is not None and error.code == codes.DNS_NXDOMAIN:
                ttl = self.settings.dns_negative_ttl
            if ttl > 0 and (error is None or error.code == codes.DNS_NXDOMAIN):
                self._cache[host] = (self._clock() + ttl, error or addresses)
                self._cache.move_to_end(host)
                while len(self._cache) > _MAX_ENTRIES:
                    self._cache.popitem(last=False)
        if error is not None:
            raise error
        return addresses

    def forget_failures(self) -> None:
        """Drop the cached "no such name" answers (the network was just found broken: some of
        them may have been its doing)."""
        with self._lock:
            for host in [h for h, (_, v) in self._cache.items() if isinstance(v, FetchError)]:
                del self._cache[host]

    def zone_answers(self, zone: str) -> bool | None:
        """Whether DNS answers for ``zone`` (a top-level zone such as ``com``), asked now,
        not from the cache: a resolver that works always knows the top-level zones, so its
        "no such name" for a domain under one is believable. None: no DNS to ask."""
        if self._resolver is None:
            return None
        try:
            self._resolver.resolve(
                dns.name.from_text(zone), dns.rdatatype.NS, search=False,
                raise_on_no_answer=False,
            )  # fmt: skip
        except dns.exception.DNSException:
            return False
        return True

    def resolve_fresh(self, host: str) -> list[str]:
        """``resolve`` without the cache (the outage probe's canary)."""
        addresses, _, error = self._lookup(host.rstrip(".").lower())
        if error is not None:
            raise error
        return addresses

    def _lookup(self, host: str) -> tuple[list[str], float, FetchError | None]:
        started = self._clock()
        try:
            addresses, ttl = self._ask(host)
            error = None
        except FetchError as exc:
            addresses, ttl, error = [], 0.0, exc
        elapsed = self._clock() - started
        with self._lock:
            self.stats.lookups += 1
            self.stats.seconds += elapsed
            self.stats.failed += error is not None
        return addresses, ttl, error

    def _ask(self, host: str) -> tuple[list[str], float]:
        if self._resolver is None:
            assert self._upstream is not None
            from qualify.qualifiers.web.netguard import classify_resolver_error

            try:
                addresses = [str(a) for a in self._upstream(host)]
            except Exception as exc:
                raise classify_resolver_error(host, exc) from None
            if not addresses:
                message = f"DNS lookup of {host}: no addresses"
                raise FetchError(codes.DNS_NXDOMAIN, message, stage=codes.DNS)
            return addresses, _UPSTREAM_TTL
        try:
            name = dns.name.from_text(host)
        except dns.exception.DNSException as exc:
            raise FetchError(codes.DNS_NXDOMAIN, f"{host}: not a DNS name ({exc})") from None
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = self._resolver.resolve(
                    name, rdtype, search=False, raise_on_no_answer=False
                )
            except dns.resolver.NXDOMAIN:
                raise FetchError(
                    codes.DNS_NXDOMAIN, f"DNS: no such name {host}", stage=codes.DNS
                ) from None
            except dns.resolver.LifetimeTimeout:
                raise FetchError(
                    codes.DNS_TEMPORARY,
                    f"DNS lookup of {host} got no answer within {self.settings.dns_timeout:g}s",
                    stage=codes.DNS,
                ) from None
            except dns.resolver.NoNameservers as exc:
                raise FetchError(
                    codes.DNS_TEMPORARY,
                    f"DNS lookup of {host} failed (no server answered it: {_first_error(exc)})",
                    stage=codes.DNS,
                ) from None
            except dns.exception.DNSException as exc:
                raise FetchError(
                    codes.DNS_TEMPORARY, f"DNS lookup of {host} failed: {exc}", stage=codes.DNS
                ) from None
            if answer.rrset is not None:
                addresses = [str(item) for item in answer.rrset]
                ttl = min(float(answer.rrset.ttl), self.settings.dns_max_ttl)
                return addresses, ttl
        raise FetchError(codes.DNS_NXDOMAIN, f"DNS: {host} has no address", stage=codes.DNS)


def _first_error(exc: dns.resolver.NoNameservers) -> str:
    """The first server's complaint, in a few words (SERVFAIL, REFUSED, a socket error)."""
    errors = exc.kwargs.get("errors") or []
    if not errors:
        return "no servers"
    _server, _tcp, _port, error, *_ = errors[0]
    text = str(error)
    if "SERVFAIL" in text:
        return "SERVFAIL"
    if "REFUSED" in text:
        return "REFUSED"
    return text[:80]
