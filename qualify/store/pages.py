"""The page store: copies of fetched pages, shared by every run, compressed, kept once per
content hash. It implements :class:`qualify.pagecache.PageCache` for the qualifiers.

A page row per URL holds its newest copy (status, final URL, redirects, when it was fetched,
or the failure that is a fact about the site); its document goes into ``page_contents``
under the sha256 of its JSON, zlib-compressed. A page fetched again unchanged, or two URLs
that give the same document, share one stored document. Nothing here belongs to a run:
``prune`` removes old copies and never touches a result.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qualify.pagecache import PageCopy
from qualify.store.database import Database

# zlib's default level: the documents are text; 9 saves ~2 % more for twice the time.
_LEVEL = 6


@dataclass(frozen=True)
class PageStoreStats:
    pages: int
    sites: int
    contents: int
    stored_bytes: int  # compressed documents
    raw_bytes: int  # the same documents as JSON
    oldest: float | None  # when the oldest copy was fetched


@dataclass(frozen=True)
class PruneReport:
    older_than: float
    dry_run: bool
    pages: int  # copies removed (or, with dry_run, that would be)
    sites: int
    contents: int  # documents no copy refers to any more, removed (0 with dry_run)
    freed_bytes: int
    remaining: PageStoreStats


def encode(content: Any) -> tuple[str, bytes, int]:
    """A document as stored: its hash, its compressed JSON, and the JSON's size."""
    data = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest(), zlib.compress(data, _LEVEL), len(data)


def decode(body: bytes | memoryview) -> Any:
    return json.loads(zlib.decompress(body))


class Pages:
    """The store's page copies; thread-safe (each thread uses its own connection)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def site(self, site: str, max_age: float | None) -> dict[str, PageCopy]:
        rows = self.database.rows("site_pages", site=site, max_age=max_age)
        return {row["url"]: _copy_of(row) for row in rows}

    def put(self, site: str, copies: Sequence[PageCopy]) -> None:
        if not copies:
            return
        db = self.database
        with db.write():
            for copy in copies:
                content_hash = None
                if copy.content is not None:
                    content_hash, body, raw_bytes = encode(copy.content)
                    db.execute(
                        "insert_page_content",
                        {
                            "hash": content_hash,
                            "body": body,
                            "raw_bytes": raw_bytes,
                            "stored_bytes": len(body),
                        },
                    )
                db.execute(
                    "upsert_page",
                    {
                        "url": copy.url,
                        "site": site,
                        "final_url": copy.final_url,
                        "status": copy.status,
                        "redirects": json.dumps(list(copy.redirects)) if copy.redirects else None,
                        "error_code": copy.error_code,
                        "error": copy.error,
                        "content_hash": content_hash,
                    },
                )

    def count_sites_of_run(self, run_id: int) -> int:
        """How many domains of run ``run_id`` have copies kept."""
        return int(self.database.value("count_domains_with_pages", run_id=run_id))

    def stats(self) -> PageStoreStats:
        row = self.database.row("page_store_stats")
        assert row is not None  # an aggregate always has its row
        return PageStoreStats(
            pages=int(row["pages"]),
            sites=int(row["sites"]),
            contents=int(row["contents"]),
            stored_bytes=int(row["stored_bytes"]),
            raw_bytes=int(row["raw_bytes"]),
            oldest=row["oldest"],
        )

    def prune(self, older_than: float, *, dry_run: bool = False) -> PruneReport:
        """Remove copies fetched more than ``older_than`` seconds ago, then the documents no
        copy refers to any more. Results, runs and jobs are never touched."""
        db = self.database
        with db.write():
            old = db.row("count_old_pages", older_than=older_than)
            assert old is not None
            pages, sites = int(old["pages"]), int(old["sites"])
            contents = freed = 0
            if not dry_run:
                db.execute("delete_old_pages", {"older_than": older_than})
                orphans = db.row("unreferenced_page_contents")
                assert orphans is not None
                contents, freed = int(orphans["contents"]), int(orphans["stored_bytes"])
                db.execute("delete_unreferenced_page_contents")
        return PruneReport(older_than, dry_run, pages, sites, contents, freed, self.stats())


def _copy_of(row: Mapping[str, Any]) -> PageCopy:
    body = row["body"]
    return PageCopy(
        url=row["url"],
        final_url=row["final_url"],
        status=row["status"],
        redirects=tuple(json.loads(row["redirects"])) if row["redirects"] else (),
        error_code=row["error_code"],
        error=row["error"],
        content=decode(body) if body is not None else None,
        fetched_at=row["fetched_at"],
        content_hash=row["content_hash"],
    )
