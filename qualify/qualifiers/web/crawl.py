"""Visit one domain: find a working homepage, read up to three same-site pages, merge.

Permanent outcomes (parked, bot wall, 4xx, ...) come back as failure signals; transient
ones, and those that may be our own network's (a FetchError with a ``stage``: the name did
not resolve, no connection could be made), are raised as FetchError for the qualifier. Every
page is read through the :class:`~qualify.qualifiers.web.visit.Visit`, which takes a kept
copy when the run allows one and fetches otherwise.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from qualify.qualifiers.web import codes, site_signals, walls
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.domains import host_of, is_apex, same_site
from qualify.qualifiers.web.visit import ReadPage, Visit

# Failures worth trying the next start URL for (another scheme or the www. host).
_FALL_THROUGH = frozenset({
    codes.DNS_NXDOMAIN, codes.DNS_TEMPORARY, codes.CONNECT_FAILED, codes.TLS_INVALID,
    codes.TIMEOUT,
})  # fmt: skip
_DNS = {codes.DNS_NXDOMAIN, codes.DNS_TEMPORARY}
# When every start URL failed, report the most telling failure.
_RANK = [
    codes.BLOCKED_PRIVATE_ADDRESS, codes.TLS_INVALID, codes.TIMEOUT, codes.CONNECT_FAILED,
    codes.DNS_TEMPORARY, codes.DNS_NXDOMAIN,
]  # fmt: skip
# Which same-site pages to read, best first; at most ``max_extra_pages`` of them.
PAGE_ORDER = ("about", "legal", "pricing", "careers", "contact")
THIN_WORDS = 30
# A subpage a rescore skips because it has no kept copy (see Visit.fetches_missing).
NOT_KEPT = "not_kept"
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


def fetch_homepage(domain: str, visit: Visit) -> ReadPage:
    urls = start_urls(domain)
    kept = visit.kept_start(urls, _FALL_THROUGH)
    if kept is not None:
        urls = [kept]
    errors: list[FetchError] = []
    dead_hosts: set[str] = set()
    for url in urls:
        host = host_of(url)
        if host in dead_hosts:
            continue
        if visit.remaining() <= 0:
            errors.append(FetchError(codes.TIMEOUT, "deadline passed", url=url))
            break
        try:
            return visit.read(url, "home")
        except FetchError as exc:
            errors.append(exc)
            if exc.code in _DNS:
                dead_hosts.add(host)  # the other scheme would fail the same lookup
            if exc.code == codes.DNS_TEMPORARY and host == domain:
                # The zone's servers did not answer; www. lives in the same zone.
                dead_hosts.add(f"www.{domain}")
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


def crawl(domain: str, visit: Visit) -> dict[str, Any]:
    """Signals for ``domain``; raises FetchError for transient failures and for those that
    may be our network's (``stage`` set)."""
    try:
        home = fetch_homepage(domain, visit)
    except FetchError as exc:
        if exc.transient or exc.stage is not None:
            raise
        return site_signals.failure_signals(domain, exc.code, exc.message, exc.url)

    page = home.signals
    parked = walls.detect_parked(
        page["text"] + " " + page["title"],
        [*home.redirects, home.url, *home.resource_urls],
        home.link_urls,
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
    for kind, url in _plan(page["nav"], home.url):
        if visited >= visit.max_extra_pages:
            break
        if not visit.has(url, kind):
            if not visit.fetches_missing:
                message = "no kept copy (this run reads kept pages only)"
                skipped.append({"url": url, "code": NOT_KEPT, "message": message})
                visited += 1  # as when it was first visited and failed
                continue
            if visit.remaining() < _MIN_SECONDS_FOR_SUBPAGE:
                skipped.append({"url": url, "code": codes.TIMEOUT, "message": "no time left"})
                continue
        try:
            sub = visit.read(url, kind)
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
        pages.append(sub.signals)
    return site_signals.merge_site(
        domain, pages, final_url=home.url, redirects=home.redirects, skipped=skipped
    )
