"""The live dashboard's data: which runs move and how fast, which are stuck, which leases are
about to expire, which errors recur; and that none of it walks the jobs table."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.api import Qualify
from qualify.dashboard import Dashboard, RateMeter, eta
from tests.support import create_run, raw
from tests.test_cli import age_run, work_all
from tests.test_jobs import RESULT


def test_rate_meter_measures_over_the_window() -> None:
    meter = RateMeter(window=60)
    assert meter.sample(0, 0) is None  # one sample says nothing about speed
    assert meter.sample(10, 20) == pytest.approx(2.0)
    # The first sample falls out of the window: the rate is the last 90 s's.
    assert meter.sample(100, 30) == pytest.approx(10 / 90)
    # `retry` took failed jobs back, so the count went down: start measuring again.
    assert meter.sample(101, 25) is None
    assert meter.sample(102, 27) == pytest.approx(2.0)


def test_eta() -> None:
    assert eta(100, 2.0) == 50
    assert eta(100, 0.0) is None and eta(100, None) is None
    assert eta(0, None) == 0


def _register(app: Qualify, worker_id: str, *, silent_for: float = 0.0) -> None:
    app.workers.register(
        worker_id, hostname=worker_id.split(":")[0], pid=1, concurrency=2, lease=30, version="t"
    )
    raw(app).execute(
        "UPDATE workers SET heartbeat_at = {now} - ? WHERE id = ?", (silent_for, worker_id)
    )


def test_refresh_shows_moving_stuck_and_finished_runs(app: Qualify) -> None:
    finished = create_run(app, ["acme.com", "permanent-globex.io"])
    work_all(app)
    moving = create_run(app, ["a.com", "b.com", "c.com", "d.com"])
    stuck = create_run(app, ["e.com", "f.com"])
    _register(app, "alive:1:aa")
    _register(app, "gone:2:bb", silent_for=300)

    # The moving run: one job whose holder renews normally, one whose lease runs low, and
    # one waiting for a retry.
    _, claimed = app.jobs.claim_next(3, "alive:1:aa", 30)
    healthy, low, flaky = claimed
    raw(app).execute("UPDATE jobs SET lease_expires_at = {now} + 3 WHERE id = ?", (low.id,))
    app.jobs.retry_later(flaky, 60, "flaky", "down for a minute")
    # The stuck run: its worker died holding a job, and nothing moved for ten minutes.
    app.jobs.claim([app.runs.job(stuck, "e.com").job_id], "gone:2:bb", 30)
    raw(app).execute(
        "UPDATE jobs SET lease_expires_at = {now} - 500 WHERE run_id = ? AND state = 'running'",
        (stuck,),
    )
    age_run(app, stuck, 600)

    dashboard = Dashboard(app, stuck_after=300)
    first = dashboard.refresh()
    lines = {line.run.id: line for line in first.runs}
    assert set(lines) == {finished, moving, stuck}
    assert [run.id for run in first.stuck] == [stuck]
    assert lines[moving].rate is None  # nothing to compare with yet
    states = {w.id: w.state for w in first.workers}
    assert (states["alive:1:aa"], states["gone:2:bb"]) == ("alive", "dead")
    assert sorted(states.values()) == ["alive", "dead", "stopped"]  # work_all's worker

    expiring = {item.lease.domain: item for item in first.expiring}
    assert set(expiring) == {low.domain, "e.com"}  # the healthy lease is not listed
    assert expiring[low.domain].owner_state == "alive"
    assert 0 < expiring[low.domain].lease.expires_in <= 3
    assert expiring["e.com"].owner_state == "dead" and expiring["e.com"].lease.expires_in < 0

    assert [(e.code, e.count, e.run_ids) for e in first.failures] == [("nope", 1, (finished,))]
    assert [(e.code, e.count, e.run_ids) for e in first.retrying] == [("flaky", 1, (moving,))]

    time.sleep(0.05)
    app.jobs.complete(healthy, RESULT)
    second = {line.run.id: line for line in dashboard.refresh().runs}
    assert second[moving].rate is not None and second[moving].rate > 0
    assert second[moving].eta == pytest.approx(3 / second[moving].rate)
    assert second[stuck].rate == 0 and second[stuck].eta is None
    assert second[finished].rate is None and not second[finished].run.active


def test_one_run_dashboard_keeps_to_that_run(app: Qualify) -> None:
    create_run(app, ["permanent-a.com"])
    work_all(app)
    second = create_run(app, ["permanent-b.com", "c.com"])
    work_all(app)
    snapshot = Dashboard(app, run_id=second).refresh()
    assert [line.run.id for line in snapshot.runs] == [second]
    assert [(e.code, e.run_ids) for e in snapshot.failures] == [("nope", (second,))]


# -- cost: no refresh walks the jobs table ----------------------------------------------------

# A plan step that reads jobs in bulk: a full scan, or every job of a run via the unique
# (run_id, domain) index. Scans of the small partial indexes are what the design relies on.
_WALKS_JOBS = re.compile(
    r"SCAN (jobs|j)\b(?! USING (COVERING )?INDEX jobs_(running|failed|waiting|queued)\b)"
    r"|USING (COVERING )?INDEX jobs_run_domain"
)


def _plans(app: Qualify, action: object) -> list[tuple[str, str]]:
    """(statement, plan step) for every SELECT that ``action`` runs."""
    statements: list[str] = []
    raw = app.database.db.connection()
    raw.set_trace_callback(statements.append)
    try:
        action()  # type: ignore[operator]
    finally:
        raw.set_trace_callback(None)
    steps = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            for row in raw.execute("EXPLAIN QUERY PLAN " + sql).fetchall():
                steps.append((" ".join(sql.split())[:120], row[3]))
    return steps


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Qualify]:
    """Query plans are read with SQLite's EXPLAIN QUERY PLAN, which depends on the schema
    alone; PostgreSQL's planner also weighs table statistics, so it is not checked here."""
    app = Qualify.open(str(tmp_path / "plans.db"))
    yield app
    app.close()


def test_dashboard_and_status_queries_read_indexes_only(sqlite_app: Qualify) -> None:
    app = sqlite_app
    create_run(app, ["acme.com", "permanent-x.com"])
    work_all(app)
    run_id = create_run(app, ["a.com", "b.com"])
    app.jobs.claim_next(1, "w", 30)
    age_run(app, run_id, 600)
    for action in (
        Dashboard(app).refresh,
        Dashboard(app, run_id=run_id).refresh,
        lambda: app.runs.list(stuck_after=300),  # `status` and `status --check`
        lambda: app.runs.get(run_id, stuck_after=300),  # `status RUN_ID`
    ):
        steps = _plans(app, action)
        assert steps, "nothing was traced"
        walks = [(sql, step) for sql, step in steps if _WALKS_JOBS.search(step)]
        assert walks == [], walks
    # The test can fail: a query over a run's jobs is caught.
    caught = _plans(app, lambda: app.runs.count_jobs_by_state(run_id))
    assert any(_WALKS_JOBS.search(step) for _, step in caught)
