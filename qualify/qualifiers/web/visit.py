"""One domain's visit: each page read from a kept copy when the run allows one that old, else
fetched and parsed, and what was fetched kept for the next run (the page store, through
:class:`qualify.pagecache.PageCache`).

A kept copy of a page is what the qualifier reads of it: :func:`extract.parse_page`'s
signals (its text, title, technologies, cues...) and, for a homepage, the links parking
detection looks at. Not the HTML: that is ten to fifty times larger, and a copy made by an
older extractor (``COPY_VERSION``) is simply not used. A failure that is a fact about the
site (a 404, a bot wall, robots.txt forbidding the page) is kept too, so a rescore reaches
the same verdict without asking again; a failure of our side never is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qualify.pagecache import PageCache, PageCopy
from qualify.qualifiers.web import codes, extract
from qualify.qualifiers.web.codes import FetchError
from qualify.qualifiers.web.fetch import Fetcher

log = logging.getLogger("qualify.web")

#: The shape of a kept copy's document; bump it when ``extract.parse_page``'s output changes,
#: and copies made before are fetched again instead of being read.
COPY_VERSION = 1

# Failures kept like pages: permanent answers of the site. Transient failures are ours or
# passing, blocked_private_address depends on our own settings, and the rest are not
# failures of one page. A failure that may be our own network's (a FetchError with a
# ``stage``: a name that did not resolve, a handshake that failed) is never kept, whatever
# its code: the outage breaker decides later whether it was the site's, and a copy kept now
# would replay an outage as a fact in the next run.
KEPT_FAILURES = frozenset(
    {
        codes.DNS_NXDOMAIN, codes.TLS_INVALID, codes.HTTP_4XX, codes.BOT_WALL, codes.NON_HTML,
        codes.TOO_LARGE, codes.REDIRECT_LOOP, codes.ROBOTS_DISALLOWED,
    }
)  # fmt: skip


@dataclass(frozen=True)
class ReadPage:
    """A page as the crawl uses it, fetched now or read from its kept copy."""

    url: str  # where it ended, after redirects
    redirects: list[str]
    signals: dict[str, Any]  # extract.parse_page's signals
    resource_urls: list[str]  # scripts and frames (homepages only)
    link_urls: list[str]  # off-site anchors (homepages only)
    kept: bool = False  # read from a kept copy


class Visit:
    """The pages of one domain: kept copies first (``max_age`` None: any age; 0: none),
    fetched otherwise; :meth:`keep` puts what was fetched back into the cache."""

    def __init__(
        self,
        domain: str,
        fetcher: Fetcher,
        deadline: float,
        cache: PageCache | None = None,
        max_age: float | None = 0.0,
    ) -> None:
        self.domain = domain
        self.fetcher = fetcher
        self.deadline = deadline
        self.cache = cache
        self.max_age = max_age
        self.home_kept = False
        self.kept: Mapping[str, PageCopy] = {}
        if cache is not None and (max_age is None or max_age > 0):
            self.kept = cache.site(domain, max_age)
        self.fetched: list[PageCopy] = []
        self.requests = 0  # pages asked of the network (robots.txt aside)

    @property
    def max_extra_pages(self) -> int:
        return self.fetcher.settings.max_extra_pages

    def remaining(self) -> float:
        return self.fetcher.remaining(self.deadline)

    @property
    def fetches_missing(self) -> bool:
        """Whether a page without a kept copy is fetched. Not in a run that takes copies of
        any age (a rescore) once the homepage came from one: such a run scores what was
        fetched before, and a subpage missing then (it failed, or time ran out) is
        missing now too, without a request."""
        return not (self.max_age is None and self.home_kept)

    def has(self, url: str, kind: str) -> bool:
        """Whether ``url`` is read from a kept copy (no request, no time needed)."""
        return self._usable(url, kind) is not None

    def kept_start(self, urls: list[str], fall_through: frozenset[str]) -> str | None:
        """The first of the homepage's start URLs whose kept copy ends the search (a page,
        or a failure not in ``fall_through``), so a visit that once fell through to
        http:// or www. does not knock on the first door again."""
        for url in urls:
            copy = self._usable(url, "home")
            if copy is not None and (not copy.failed or copy.error_code not in fall_through):
                return url
        return None

    def read(self, url: str, kind: str) -> ReadPage:
        """The page at ``url`` read as ``kind``; raises FetchError as a fetch would."""
        copy = self._usable(url, kind)
        if copy is not None:
            if copy.failed:
                code = copy.error_code or codes.HTTP_4XX
                raise FetchError(code, copy.error or code, url=copy.final_url or url)
            content = copy.content
            self.home_kept = self.home_kept or kind == "home"
            return ReadPage(
                url=copy.final_url or url,
                redirects=list(copy.redirects),
                signals=content["page"],
                resource_urls=content.get("resource_urls", []),
                link_urls=content.get("link_urls", []),
                kept=True,
            )
        self.requests += 1
        try:
            page = self.fetcher.fetch_page(url, self.deadline)
        except FetchError as exc:
            if exc.code in KEPT_FAILURES and exc.stage is None:
                self.fetched.append(
                    PageCopy(url=url, final_url=exc.url, error_code=exc.code, error=exc.message)
                )
            raise
        signals, links = extract.parse_page(
            page.html, page.url, kind=kind, headers=page.headers, cookies=page.cookies,
            utf8=page.utf8,
        )  # fmt: skip
        read = ReadPage(page.url, page.redirects, signals, links.resource_urls, links.link_urls)
        document: dict[str, Any] = {"v": COPY_VERSION, "page": signals}
        if kind == "home":
            document["resource_urls"] = links.resource_urls
            document["link_urls"] = links.link_urls
        self.fetched.append(
            PageCopy(
                url=url,
                final_url=page.url,
                status=page.status,
                redirects=tuple(page.redirects),
                content=document,
            )
        )
        return read

    def keep(self) -> None:
        """Put what this visit fetched into the cache. A cache that cannot take it costs
        the next run a fetch, not this domain its result."""
        if self.cache is None or not self.fetched:
            return
        try:
            self.cache.put(self.domain, self.fetched)
        except Exception:
            log.warning("%s: could not keep %d fetched pages", self.domain, len(self.fetched),
                        exc_info=True)  # fmt: skip
        self.fetched = []

    def _usable(self, url: str, kind: str) -> PageCopy | None:
        copy = self.kept.get(url)
        if copy is None:
            return None
        if copy.failed:
            return copy
        content = copy.content
        if not isinstance(content, dict) or content.get("v") != COPY_VERSION:
            return None
        page = content.get("page")
        return copy if isinstance(page, dict) and page.get("kind") == kind else None
