"""Sites: "same site" and registrable domains, from the public-suffix data that
:mod:`qualify.domains` (the one domain normaliser) uses too."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from qualify.domains import normalise, public_suffixes
from qualify.qualifiers.web.netguard import parse_ip


def input_domain(raw: str) -> str:
    """A domain as the web qualifier reads it, whether the domain it is asked about or an
    ICP's ``exclude_domains``: normalised like a domain list's, but ``www.`` stays (a host
    of its own here) and a bare ``host:port`` is refused. Raises
    :class:`qualify.domains.InvalidDomain` (a ValueError).
    """
    return normalise(raw, keep_www=True, allow_port=False)


@lru_cache(maxsize=8192)
def public_suffix(host: str) -> str:
    return public_suffixes()(host).suffix


# Scoring and merging ask this of the same few hosts a dozen times per site; a rescore
# judges thousands of sites a second, so the answer is remembered.
@lru_cache(maxsize=8192)
def registrable_domain(host: str) -> str:
    """``www.shop.acme.co.uk`` -> ``acme.co.uk``; names without a known suffix keep two labels."""
    host = host.lower().rstrip(".")
    if parse_ip(host) is not None:
        return host
    ext = public_suffixes()(host)
    if ext.suffix and ext.domain:
        return f"{ext.domain}.{ext.suffix}"
    return ".".join(host.split(".")[-2:])


def same_site(host_a: str, host_b: str) -> bool:
    return registrable_domain(host_a) == registrable_domain(host_b)


def is_apex(host: str) -> bool:
    """True when ``host`` is itself the registrable domain (so ``www.`` is worth trying)."""
    return registrable_domain(host) == host


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
