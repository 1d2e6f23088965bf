"""SSRF guard: which hosts and addresses the fetcher may talk to.

Two layers. :func:`check_url` looks at a URL's shape before anything is sent (scheme,
credentials, special-use names, private IP literals); it also runs in gateway mode, where
the gateway resolves names itself. :func:`resolve_public` resolves a name and refuses it
unless *every* address is global; the transport then connects to exactly those addresses,
so a second, different DNS answer (rebinding) never gets a say.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence

import idna

from qualify.domains import SPECIAL_USE_TLDS
from qualify.qualifiers.web import codes
from qualify.qualifiers.web.codes import FetchError

Resolver = Callable[[str], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
# Blocked whatever the running Python's ipaddress tables say (they changed across 3.11
# patch releases): special-purpose ranges, including cloud metadata (169.254.169.254,
# Oracle's 192.0.0.192, Alibaba's 100.100.100.200).
_ALWAYS_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
        "::/128", "::1/128", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10",
        "ff00::/8",
    )
)  # fmt: skip
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64_PREFIXES) or (int(ip) >> 32 == 0 and int(ip) > 1):
        # NAT64 and the deprecated IPv4-compatible form ::a.b.c.d keep the IPv4 in the low bits.
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public_ip(address: str | IPAddress) -> bool:
    """True only for a globally routable unicast address, looking through IPv6 wrappers."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = embedded_ipv4(ip)
        if inner:
            return all(is_public_ip(v4) for v4 in inner)
    if any(ip.version == net.version and ip in net for net in _ALWAYS_BLOCKED):
        return False
    # is_global alone lets multicast and some reserved blocks through, so check each class.
    return bool(
        ip.is_global
        and not ip.is_private
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
    )


def parse_ip(host: str) -> IPAddress | None:
    """The address if ``host`` is an IP literal (brackets allowed), else None."""
    literal = host.strip("[]")
    if not literal or (":" not in literal and not literal[-1].isdigit()):
        return None  # a name (its last label has a letter): no exception to pay for
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        return None


def is_special_use_name(host: str) -> bool:
    host = host.rstrip(".").lower()
    return "." not in host or host.rsplit(".", 1)[-1] in SPECIAL_USE_TLDS


def is_valid_hostname(host: str) -> bool:
    """RFC 1123 syntax in ASCII (punycode) form, with an alphabetic top-level label.

    A numeric or hex last label ("127.1", "0x7f.1", "2130706433") is an IP address in
    disguise that some resolvers accept, so it is never a valid name.
    """
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return False
    tld = labels[-1]
    return tld.isalpha() or (tld.startswith("xn--") and len(tld) > 4)


def to_ascii_host(host: str) -> str:
    """Lower-case punycode form of a host name; raises ValueError when it cannot be encoded."""
    host = host.strip().rstrip(".").lower()
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"not a valid internationalised name: {exc}") from None


def check_host(host: str, *, allow_private: bool) -> None:
    """Refuse a host whose shape alone shows it is not a public site."""
    ip = parse_ip(host)
    if ip is not None:
        if not allow_private and not is_public_ip(ip):
            raise FetchError(
                codes.BLOCKED_PRIVATE_ADDRESS, f"refused non-public address {host}", url=host
            )
        return
    if not allow_private and is_special_use_name(host):
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, f"refused non-public name {host}")
    if not is_valid_hostname(host) and not (allow_private and host.isalnum()):
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, f"refused malformed host {host!r}")


def check_url(url: str, *, allow_private: bool) -> str:
    """Validate a URL before it is fetched (every hop); returns it unchanged.

    Refusals use ``blocked_private_address``: a redirect to ``file:``, to a URL with
    credentials or to an internal name is exactly what the guard exists to stop.
    """
    from urllib.parse import urlsplit  # local: only this function parses raw strings

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, f"refused malformed URL {url!r}") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, f"refused non-HTTP URL {url!r}", url=url)
    if parts.username is not None or parts.password is not None:
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, "refused URL with credentials", url=url)
    if port is not None and not 0 < port < 65536:
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, f"refused port in {url!r}", url=url)
    host = parts.hostname or ""
    try:
        host = host if parse_ip(host) else to_ascii_host(host)
    except ValueError:
        message = f"refused malformed host in {url!r}"
        raise FetchError(codes.BLOCKED_PRIVATE_ADDRESS, message, url=url) from None
    try:
        check_host(host, allow_private=allow_private)
    except FetchError as exc:
        exc.url = url
        raise
    return url


def system_resolver(host: str) -> list[str]:
    """Resolve with the operating system; errors stay ``socket.gaierror`` for classification."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


_NXDOMAIN_ERRNOS = {
    getattr(socket, name)
    for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
    if hasattr(socket, name)
}


def classify_resolver_error(host: str, exc: BaseException) -> FetchError:
    """The taxonomy error for what a resolver callable raised."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, socket.gaierror):
        code = codes.DNS_NXDOMAIN if exc.errno in _NXDOMAIN_ERRNOS else codes.DNS_TEMPORARY
        message = f"DNS lookup of {host} failed: {exc.strerror or exc}"
        return FetchError(code, message, stage=codes.DNS)
    if isinstance(exc, KeyError | LookupError):
        # Injected resolvers (tests, custom setups) signal "no such name" this way.
        message = f"DNS lookup of {host}: no such name"
        return FetchError(codes.DNS_NXDOMAIN, message, stage=codes.DNS)
    return FetchError(codes.DNS_TEMPORARY, f"DNS lookup of {host} failed: {exc}", stage=codes.DNS)


def resolve_public(host: str, resolver: Resolver | None, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, all checked; raises a classified FetchError.

    ``resolver`` is the fetcher's (:class:`~qualify.qualifiers.web.resolver.DnsResolver`, or
    one injected through the settings); it may raise FetchError itself."""
    ip = parse_ip(host)
    if ip is not None:
        addresses = [str(ip)]
    else:
        try:
            addresses = [str(a) for a in (resolver or system_resolver)(host)]
        except (FetchError, socket.gaierror, LookupError, OSError) as exc:
            raise classify_resolver_error(host, exc) from None
        if not addresses:
            message = f"DNS lookup of {host}: no addresses"
            raise FetchError(codes.DNS_NXDOMAIN, message, stage=codes.DNS)
    if not allow_private:
        blocked = [a for a in addresses if not is_public_ip(a)]
        if blocked:
            raise FetchError(
                codes.BLOCKED_PRIVATE_ADDRESS,
                f"refused {host}: resolves to non-public address {', '.join(blocked)}",
            )
    return addresses
