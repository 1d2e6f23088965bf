"""Domain names: input normalisation and "same site" via offline public-suffix data."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import tldextract

from qualify.qualifiers.web.netguard import (
    TEST_TLDS,
    is_special_use_name,
    is_valid_hostname,
    parse_ip,
    to_ascii_host,
)

_extractor: tldextract.TLDExtract | None = None
_extractor_lock = threading.Lock()


def _extract(host: str) -> tldextract.tldextract.ExtractResult:
    global _extractor
    if _extractor is None:
        with _extractor_lock:
            if _extractor is None:
                # No URLs and no cache dir: the bundled snapshot, never the network or disk.
                extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
                extractor("warm.example.com")  # load the snapshot inside the lock
                _extractor = extractor
    return _extractor(host)


def public_suffix(host: str) -> str:
    return _extract(host).suffix


def registrable_domain(host: str) -> str:
    """``www.shop.acme.co.uk`` -> ``acme.co.uk``; names without a known suffix keep two labels."""
    host = host.lower().rstrip(".")
    if parse_ip(host) is not None:
        return host
    ext = _extract(host)
    if ext.suffix and ext.domain:
        return f"{ext.domain}.{ext.suffix}"
    return ".".join(host.split(".")[-2:])


def same_site(host_a: str, host_b: str) -> bool:
    return registrable_domain(host_a) == registrable_domain(host_b)


def normalize_domain(raw: str) -> str:
    """The qualifier's input as a lower-case punycode host; ValueError says what is wrong.

    Accepts a bare domain or a URL (scheme and path are dropped). A valid public hostname
    has a public suffix the bundled list knows (or a reserved test TLD) and is not an IP
    address or a special-use name such as ``localhost``.
    """
    if not isinstance(raw, str):
        raise ValueError(f"expected a domain name string, got {type(raw).__name__}")
    text = raw.strip()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    elif "/" in text:
        text = text.split("/", 1)[0]
    if not text:
        raise ValueError("empty domain")
    if parse_ip(text) is not None:
        raise ValueError(f"{raw!r} is an IP address, not a domain name")
    if ":" in text:
        raise ValueError(f"{raw!r}: a domain takes no port")
    host = to_ascii_host(text)
    if not is_valid_hostname(host):
        raise ValueError(f"{raw!r} is not a valid host name")
    tld = host.rsplit(".", 1)[-1]
    if is_special_use_name(host) and tld not in TEST_TLDS:
        raise ValueError(f"{raw!r} is not a public host name")
    if tld not in TEST_TLDS:
        ext = _extract(host)
        if not ext.suffix or not ext.domain:
            raise ValueError(f"{raw!r} has no known public suffix")
    return host


def is_apex(host: str) -> bool:
    """True when ``host`` is itself the registrable domain (so ``www.`` is worth trying)."""
    return registrable_domain(host) == host


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
