"""The page store: copies kept per URL, documents once per hash, ages, and prune (which
never touches a result), on every backend."""

from __future__ import annotations

from qualify.api import Qualify
from qualify.pagecache import PageCopy
from tests.support import create_run, raw
from tests.test_cli import invoke, work_all

DOC = {"v": 1, "page": {"kind": "home", "text": "Freight software " * 50}}


def age_pages(app: Qualify, seconds: float, site: str | None = None) -> None:
    if site is None:
        raw(app).execute("UPDATE pages SET fetched_at = {now} - ?", (seconds,))
    else:
        raw(app).execute("UPDATE pages SET fetched_at = {now} - ? WHERE site = ?", (seconds, site))


def test_copies_round_trip_and_a_failure_is_kept_without_content(app: Qualify) -> None:
    app.pages.put(
        "acme.com",
        [
            PageCopy("https://acme.com/", "https://www.acme.com/", 200,
                     ("https://acme.com/",), content=DOC),
            PageCopy("https://www.acme.com/about", "https://www.acme.com/about",
                     error_code="http_4xx", error="HTTP 404"),
        ],
    )  # fmt: skip
    kept = app.pages.site("acme.com", None)
    home, about = kept["https://acme.com/"], kept["https://www.acme.com/about"]
    assert home.content == DOC and home.final_url == "https://www.acme.com/"
    assert home.redirects == ("https://acme.com/",) and home.status == 200
    assert home.fetched_at is not None and not home.failed and home.content_hash
    assert about.failed and about.content is None and about.error == "HTTP 404"
    assert app.pages.site("other.com", None) == {}


def test_a_document_is_stored_once_whatever_the_urls_and_refetches(app: Qualify) -> None:
    for site in ("a.com", "b.com"):
        app.pages.put(site, [PageCopy(f"https://{site}/", f"https://{site}/", 200, content=DOC)])
    app.pages.put("a.com", [PageCopy("https://a.com/", "https://a.com/", 200, content=DOC)])
    stats = app.pages.stats()
    assert (stats.pages, stats.sites, stats.contents) == (2, 2, 1)
    assert 0 < stats.stored_bytes < stats.raw_bytes / 5  # repetitive text compresses
    # A new copy of a URL replaces the old one; its old document goes at the next prune.
    other = {"v": 1, "page": {"kind": "home", "text": "changed"}}
    app.pages.put("a.com", [PageCopy("https://a.com/", "https://a.com/", 200, content=other)])
    assert app.pages.site("a.com", None)["https://a.com/"].content == other
    assert app.pages.stats().contents == 2


def test_max_age_selects_young_copies_and_none_takes_any(app: Qualify) -> None:
    app.pages.put("a.com", [PageCopy("https://a.com/", content=DOC)])
    assert set(app.pages.site("a.com", 3600)) == {"https://a.com/"}
    age_pages(app, 7200)
    assert app.pages.site("a.com", 3600) == {}
    assert set(app.pages.site("a.com", None)) == {"https://a.com/"}


def test_prune_removes_old_copies_and_their_documents_and_never_a_result(
    app: Qualify, stack
) -> None:
    run_id = create_run(app, ["acme.com", "globex.io"])
    work_all(app)
    app.pages.put("old.com", [PageCopy("https://old.com/", content=DOC)])
    app.pages.put("new.com", [PageCopy("https://new.com/", content={"v": 1, "page": {}})])
    age_pages(app, 100 * 86400, site="old.com")
    results = raw(app).fetchall("SELECT * FROM results ORDER BY id")
    jobs = raw(app).fetchall("SELECT * FROM jobs ORDER BY id")

    dry = invoke(*stack.cli, "prune", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0 and "Would remove 1 pages of 1 sites" in dry.stdout
    assert app.pages.stats().pages == 2

    done = invoke(*stack.cli, "prune", "--older-than", "90d", "--json")
    assert done.exit_code == 0, done.output
    assert '"pages": 1' in done.stdout
    assert set(app.pages.site("new.com", None)) == {"https://new.com/"}
    assert app.pages.site("old.com", None) == {}
    assert app.pages.stats().contents == 1  # old.com's document went with it
    assert raw(app).fetchall("SELECT * FROM results ORDER BY id") == results
    assert raw(app).fetchall("SELECT * FROM jobs ORDER BY id") == jobs
    assert app.runs.get(run_id).completed == 2


def test_prune_needs_a_duration_and_writes_nothing_without_one(app: Qualify, stack) -> None:
    app.pages.put("old.com", [PageCopy("https://old.com/", content=DOC)])
    before = stack.snapshot()
    for args in (["prune"], ["prune", "--older-than", "soon"]):
        result = invoke(*stack.cli, *args)
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1 and "--older-than" in result.output
    assert stack.snapshot() == before
