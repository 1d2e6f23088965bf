"""The copies of fetched pages a qualifier keeps, and the interface to where they are kept.

A qualifier that fetches pages (``web``, later ``llm``) may be handed a :class:`PageCache`
when it is built: the worker passes the store's page store (``qualify.store.pages``). Before
fetching a URL the qualifier looks for a copy young enough for its run; what it fetched it
puts back, so a retry, a rerun or a rescore with a new ICP does not fetch it again.

This module sits below both the qualifiers and the store, so the qualifier never imports the
store and the store never imports a qualifier: each only knows these values.

A copy belongs to no run. It is either a page (``content``: a JSON-serialisable document the
qualifier made from it, such as its extracted text and signals) or a failure that is a fact
about the site (``error_code``: a 404, a bot wall, robots.txt forbidding it). A failure of
our side (a timeout, a refused connection) is never kept: it is not a fact about a company.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: How old a kept copy may be for ``qualify run`` to use it instead of fetching (30 days).
DEFAULT_MAX_PAGE_AGE = 30 * 86400.0


@dataclass(frozen=True)
class PageCopy:
    """One URL as it was fetched."""

    url: str  # the URL asked for
    final_url: str | None = None  # where it ended, after redirects
    status: int | None = None  # the HTTP status of the final answer, when there was one
    redirects: tuple[str, ...] = ()  # URLs passed through on the way
    error_code: str | None = None  # a failure that is a fact about the site
    error: str | None = None
    content: Any = None  # the qualifier's document (None for a failure)
    #: When it was fetched (seconds since the epoch, the store's clock); set by the store.
    fetched_at: float | None = None
    #: sha256 of the stored document, set by the store (copies with one hash share storage).
    content_hash: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_code is not None


class PageCache(Protocol):
    """Where copies are kept. Implementations must be safe to call from many threads."""

    def site(self, site: str, max_age: float | None) -> Mapping[str, PageCopy]:
        """The copies kept for ``site`` (the domain a qualifier was asked about), by URL,
        fetched within the last ``max_age`` seconds (None: of any age)."""
        ...

    def put(self, site: str, copies: Sequence[PageCopy]) -> None:
        """Keep ``copies`` as ``site``'s, fetched now; each replaces any older copy of its
        URL. Putting the same copies twice changes nothing but their age."""
        ...
