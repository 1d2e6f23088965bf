"""A run's results a page at a time (``store.results.page``): every filter and order, paged
with small pages and small windows, gives exactly the rows a plain filter over all of them
gives, in order, each once; cursors of the wrong kind are refused."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from qualify.api import Qualify
from qualify.errors import InputError
from qualify.store import JobRecord, ResultFilter, ResultRow
from tests.support import create_run, raw
from tests.ui_support import varied_domains, worked_run

FILTERS = [
    ResultFilter(),
    ResultFilter(outcome="qualified"),
    ResultFilter(outcome="review"),
    ResultFilter(outcome="unqualified"),
    ResultFilter(outcome="unknown"),
    ResultFilter(outcome="failed"),
    ResultFilter(outcome="pending"),
    ResultFilter(tier="A"),
    ResultFilter(tier="D", outcome="unknown"),
    ResultFilter(code="dns_nxdomain"),
    ResultFilter(code="nope"),
    ResultFilter(text="CO01"),  # any case, in the domain
    ResultFilter(text="logistics gmbh"),  # in the evidence
    ResultFilter(outcome="qualified", tier="B", text="x"),
    ResultFilter(text="no-such-thing"),
]


def matches(record: JobRecord, f: ResultFilter) -> bool:
    verdict = record.verdict
    if f.outcome == "pending":
        if record.state not in ("queued", "running", "waiting"):
            return False
    elif f.outcome in ("failed", "cancelled"):
        if record.state != f.outcome:
            return False
    elif f.outcome and verdict != f.outcome:
        return False
    if f.tier and record.extra.get("tier") != f.tier:
        return False
    if f.code and (record.error_code or record.extra.get("error")) != f.code:
        return False
    if f.text:
        text = f.text.lower()
        evidence = json.dumps(record.evidence, ensure_ascii=False).lower() if verdict else ""
        if text not in record.domain and text not in evidence:
            return False
    return True


def expected(app: Qualify, run_id: int, sort: str, f: ResultFilter) -> list[str]:
    """The listing computed the slow way: every record, filtered in Python, in the order the
    database itself sorts names (PostgreSQL's collation is not Python's)."""
    records = {r.domain: r for r in app.runs.records(run_id) if matches(r, f)}
    by_name = [
        d
        for (d,) in raw(app).fetchall(
            "SELECT domain FROM jobs WHERE run_id = ? ORDER BY domain", (run_id,)
        )
        if d in records
    ]
    if sort == "domain":
        return by_name
    result_ids = dict(
        raw(app).fetchall(
            "SELECT j.domain, r.id FROM results r JOIN jobs j ON j.id = r.job_id"
            " WHERE r.run_id = ?",
            (run_id,),
        )
    )
    scored = [d for d in by_name if records[d].score is not None]
    scored.sort(key=lambda d: (records[d].score, result_ids[d]), reverse=sort == "score_desc")
    return scored + [d for d in by_name if records[d].score is None]


def page_through(
    next_page: Callable[[str | None], tuple[list[ResultRow], str | None, bool]], limit: int
) -> tuple[list[str], int]:
    seen: list[str] = []
    partial = 0
    after: str | None = None
    for _ in range(1000):
        rows, after, was_partial = next_page(after)
        assert len(rows) <= limit
        partial += was_partial
        seen += [row.domain for row in rows]
        if after is None:
            return seen, partial
    raise AssertionError("the listing never ended")


@pytest.fixture
def varied_run(app: Qualify) -> int:
    run_id = worked_run(app, varied_domains(130, failures=5))
    # A second run in the same store: its rows must never leak into the first one's pages.
    worked_run(app, varied_domains(40))
    return run_id


@pytest.mark.parametrize("sort", ["domain", "score_desc", "score_asc"])
def test_every_filter_pages_through_exactly_its_rows_in_order(
    app: Qualify, varied_run: int, sort: str
) -> None:
    for f in FILTERS:
        want = expected(app, varied_run, sort, f)

        def next_page(
            after: str | None, f: ResultFilter = f
        ) -> tuple[list[ResultRow], str | None, bool]:
            page = app.results.page(
                varied_run, sort=sort, filters=f, after=after, limit=7, window=11, budget=40
            )
            return page.rows, page.next, page.partial

        got, _ = page_through(next_page, 7)
        assert got == want, (sort, f)


def test_a_sparse_filter_returns_short_pages_that_go_on_searching(
    app: Qualify, varied_run: int
) -> None:
    f = ResultFilter(code="nope")  # the 5 failures, all at the end of the name order

    def next_page(after: str | None) -> tuple[list[ResultRow], str | None, bool]:
        page = app.results.page(varied_run, filters=f, after=after, limit=10, window=20, budget=40)
        return page.rows, page.next, page.partial

    got, partial = page_through(next_page, 10)
    assert got == expected(app, varied_run, "domain", f)
    assert partial >= 2, "each call reads at most its budget, then says where it stopped"


def test_rows_carry_what_the_table_shows(app: Qualify, varied_run: int) -> None:
    page = app.results.page(varied_run, sort="score_desc", limit=3)
    best = page.rows[0]
    assert best.score == 100 and best.verdict == "qualified" and best.state == "done"
    assert best.title and best.title.endswith("Logistics GmbH")
    assert best.tier in ("A", "B", "C", "D") and best.confidence is not None
    assert best.reasons[0]["criterion"] == "industries"
    unknown = app.results.page(varied_run, filters=ResultFilter(outcome="unknown"), limit=1)
    assert unknown.rows[0].code == "dns_nxdomain" and unknown.rows[0].score is None
    failed = app.results.page(varied_run, filters=ResultFilter(outcome="failed"), limit=1)
    row = failed.rows[0]
    assert (row.state, row.code, row.verdict) == ("failed", "nope", None)
    assert "cannot be judged" in (row.error or "")


def test_pending_jobs_are_listed_and_have_no_score(app: Qualify) -> None:
    run_id = create_run(app, ["b.com", "a.com", "c.com"])
    for sort in ("domain", "score_desc"):
        page = app.results.page(run_id, sort=sort, filters=ResultFilter(outcome="pending"))
        assert [r.domain for r in page.rows] == ["a.com", "b.com", "c.com"]
        assert page.next is None and all(r.state == "queued" for r in page.rows)


def test_kinds_and_provenance(app: Qualify, varied_run: int) -> None:
    tiers, errors = app.results.kinds(varied_run)
    records = [r for r in app.runs.records(varied_run) if r.state == "done"]
    assert sum(tiers.values()) == len(records)
    assert errors == {"dns_nxdomain": sum(r.verdict == "unknown" for r in records)}
    job = app.runs.job(varied_run, records[0].domain)
    found = app.results.provenance(job.job_id)
    assert found is not None and found.worker_id and found.recorded_at > 0
    failed = next(r for r in app.runs.records(varied_run) if r.state == "failed")
    assert app.results.provenance(failed.job_id) is None


def test_bad_arguments_are_refused_with_the_culprit(app: Qualify, varied_run: int) -> None:
    first = app.results.page(varied_run, sort="score_desc", limit=5)
    assert first.next is not None and first.next.startswith("s:")
    with pytest.raises(InputError, match=r"after: .* not a cursor of this listing"):
        app.results.page(varied_run, sort="domain", after=first.next)
    with pytest.raises(InputError, match="after: 's:nan:1' is not a cursor"):
        app.results.page(varied_run, sort="score_desc", after="s:nan:1")
    with pytest.raises(InputError, match="after:"):
        app.results.page(varied_run, sort="score_asc", after="s:high:1")
    with pytest.raises(InputError, match="sort: 'name'"):
        app.results.page(varied_run, sort="name")
    with pytest.raises(InputError, match="limit: must be between 1 and 500"):
        app.results.page(varied_run, limit=0)
    with pytest.raises(InputError, match="outcome: 'great'"):
        ResultFilter(outcome="great")
