"""Visit one domain: find a working homepage, read up to three same-site pages, merge.

Permanent outcomes (parked, bot wall, 4xx, ...) come back as failure signals; transient
ones are raised as FetchError for the qualifier to turn into TransientError.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from qualify.qualifiers.web import codes, extract, site_signals, walls
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.domains import host_of, is_apex, same_site
from qualify.qualifiers.web.fetch import Fetcher, Page

# Failures worth trying the next start URL for (another scheme or the www. host).
_FALL_THROUGH = {
    codes.DNS_NXDOMAIN, codes.DNS_TEMPORARY, codes.CONNECT_FAILED, codes.TLS_INVALID,
    codes.TIMEOUT,
}  # fmt: skip
_DNS = {codes.DNS_NXDOMAIN, codes.DNS_TEMPORARY}
# When every start URL failed, report the most telling failure.
_RANK = [
    codes.BLOCKED_PRIVATE_ADDRESS, codes.TLS_INVALID, codes.TIMEOUT, codes.CONNECT_FAILED,
    codes.DNS_TEMPORARY, codes.DNS_NXDOMAIN,
]  # fmt: skip
# Which same-site pages to read, best first; at most ``max_extra_pages`` of them.
PAGE_ORDER = ("about", "legal", "pricing", "careers", "contact")
THIN_WORDS = 30
_MIN_SECONDS_FOR_SUBPAGE = 1.0


def start_urls(domain: str) -> list[str]:
    urls = [f"https://{domain}/", f"http://{domain}/"]
    if is_apex(domain):
        urls += [f"https://www.{domain}/", f"http://www.{domain}/"]
    return urls


def _best_error(errors: list[FetchError]) -> FetchError:
    ranked = [e for e in errors if e.code in _RANK]
    if len(ranked) < len(errors):
        return errors[-1]  # a non-network failure ended the search: it is the answer
    return min(ranked, key=lambda e: _RANK.index(e.code))


def fetch_homepage(domain: str, fetcher: Fetcher, deadline: float) -> Page:
    errors: list[FetchError] = []
    dead_hosts: set[str] = set()
    for url in start_urls(domain):
        host = host_of(url)
        if host in dead_hosts:
            continue
        if fetcher.remaining(deadline) <= 0:
            errors.append(FetchError(codes.TIMEOUT, "deadline passed", url=url))
            break
        try:
            return fetcher.fetch_page(url, deadline)
        except FetchError as exc:
            errors.append(exc)
            if exc.code in _DNS:
                dead_hosts.add(host)  # the other scheme would fail the same lookup
            if exc.code not in _FALL_THROUGH:
                break
    raise _best_error(errors)


def _plan(nav: dict[str, str], home_url: str) -> list[tuple[str, str]]:
    chosen: list[tuple[str, str]] = []
    seen = {home_url.rstrip("/")}
    home_host = host_of(home_url)
    for kind in PAGE_ORDER:
        url = nav.get(kind)
        if not url or url.rstrip("/") in seen or not same_site(host_of(url), home_host):
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        if kind == "contact" and any(k == "legal" for k, _ in chosen):
            continue  # the legal notice already gives the address
        seen.add(url.rstrip("/"))
        chosen.append((kind, url))
    return chosen


def crawl(domain: str, fetcher: Fetcher, deadline: float) -> dict[str, Any]:
    """Signals for ``domain``; raises FetchError only for transient failures."""
    try:
        home = fetch_homepage(domain, fetcher, deadline)
    except FetchError as exc:
        if exc.transient:
            raise
        return site_signals.failure_signals(domain, exc.code, exc.message, exc.url)

    page, links = extract.parse_page(
        home.html, home.url, kind="home", headers=home.headers, cookies=home.cookies,
        utf8=home.utf8,
    )  # fmt: skip
    parked = walls.detect_parked(
        page["text"] + " " + page["title"],
        [*home.redirects, home.url, *links.resource_urls],
        links.link_urls,
        page["word_count"],
    )
    if parked:
        return site_signals.failure_signals(domain, codes.PARKED_DOMAIN, parked, home.url)
    if page["word_count"] < THIN_WORDS and not page["organization"]:
        message = f"homepage has {page['word_count']} words of text (JavaScript-only or empty)"
        return site_signals.failure_signals(domain, codes.THIN_CONTENT, message, home.url)

    pages = [page]
    skipped: list[dict[str, str]] = []
    visited = 0
    for kind, url in _plan(links.nav, home.url):
        if visited >= fetcher.settings.max_extra_pages:
            break
        if fetcher.remaining(deadline) < _MIN_SECONDS_FOR_SUBPAGE:
            skipped.append({"url": url, "code": codes.TIMEOUT, "message": "no time left"})
            continue
        try:
            sub = fetcher.fetch_page(url, deadline)
        except FetchError as exc:
            # A broken subpage costs that page's signals, not the domain's verdict. A page
            # robots.txt forbids was never requested, so the next candidate takes its place.
            skipped.append({"url": url, "code": exc.code, "message": exc.message})
            visited += exc.code != codes.ROBOTS_DISALLOWED
            continue
        visited += 1
        if not same_site(host_of(sub.url), host_of(home.url)):
            skipped.append({"url": url, "code": "offsite", "message": f"went to {sub.url}"})
            continue
        signals, _ = extract.parse_page(
            sub.html, sub.url, kind=kind, headers=sub.headers, cookies=sub.cookies,
            utf8=sub.utf8,
        )  # fmt: skip
        pages.append(signals)
    return site_signals.merge_site(
        domain, pages, final_url=home.url, redirects=home.redirects, skipped=skipped
    )
