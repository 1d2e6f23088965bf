"""Rescore with the web qualifier: from kept pages, with no request, after the sites have
gone away; domains never fetched are fetched in the same run; kill -9 in the middle of a
rescore still ends with exactly one result per domain."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qualify.api import Qualify, prepare_run
from qualify.pagecache import PageCopy
from qualify.qualifiers.web import extract, score
from qualify.settings import Settings
from qualify.siteserver import SiteServer
from qualify.worker import WorkerOptions
from tests.support import Stack, WorkerProcess, assert_consistent, wait_until
from tests.test_cli import invoke
from tests.web.conftest import EXAMPLE_ICP, gateway_settings
from tests.web.sites import ACME, FLEETBASE, GONE, PARKED, SHOPLY, SMALLFLEET

SITES = {
    "acme-freight.de": ACME,
    "fleetbase.ch": FLEETBASE,
    "shoply.com": SHOPLY,
    "smallfleet.de": SMALLFLEET,
    "gone.io": GONE,
    "forsale-domain.com": PARKED,
    "competitor.com": SMALLFLEET,  # excluded by the example ICP: never visited by run 1
}


@pytest.fixture
def sites() -> Iterator[SiteServer]:
    server = SiteServer(SITES).start()
    yield server
    server.stop()


def open_app(db: Path, server: SiteServer) -> Qualify:
    return Qualify.open(settings=Settings(db=str(db), fetch=gateway_settings(server)))


def work(app: Qualify, run_id: int) -> None:
    final = app.work_run(run_id, WorkerOptions(handle_signals=False, lease=5, concurrency=2))
    assert final.status == "COMPLETED"


def first_run(app: Qualify, tmp_path: Path) -> int:
    domains = tmp_path / "domains.txt"
    domains.write_text("".join(f"{d}\n" for d in SITES))
    created = app.create_run(prepare_run(str(EXAMPLE_ICP), str(domains), "web"), backoff=0.1)
    work(app, created.run_id)
    return created.run_id


def icp_file(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> str:
    icp = json.loads(EXAMPLE_ICP.read_text())
    change(icp)
    path = tmp_path / "icp-v2.json"
    path.write_text(json.dumps(icp))
    return str(path)


def bigger(icp: dict[str, Any]) -> None:
    icp["employees"] = {"min": 200, "max": 1000}


def test_rescore_after_the_sites_are_gone_reads_kept_pages_only(
    sites: SiteServer, tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    with open_app(db, sites) as app:
        source = first_run(app, tmp_path)
        before = {r.domain: r for r in app.runs.records(source)}
    icp_path = icp_file(tmp_path, bigger)
    new_icp = json.loads(Path(icp_path).read_text())
    sites.clear_log()
    sites.stop()  # every site is gone: a request now would fail and be retried

    with open_app(db, sites) as app:
        created = app.rescore(source, icp_path)
        assert (created.queued, created.with_pages) == (7, 6)  # competitor.com never visited
        # ...so, for this test, the new ICP keeps excluding it (its verdict needs no page).
        work(app, created.run_id)
        after = {r.domain: r for r in app.runs.records(created.run_id)}
        assert_consistent(app, created.run_id)
    assert sites.log == []
    assert set(after) == set(before)
    for domain, record in after.items():
        assert record.attempts == 1, f"{domain} needed {record.attempts} attempts"
        expected = score(before[domain].extra["signals"], new_icp)
        got = {"score": record.score, "verdict": record.verdict, "reasons": record.reasons}
        assert got == {k: expected[k] for k in ("score", "verdict", "reasons")}, domain
    changed = {d for d in after if after[d].verdict != before[d].verdict}
    assert changed == {"fleetbase.ch", "smallfleet.de"}  # 80 and 40 staff: now too small


def test_a_rescore_fetches_only_the_domains_it_has_no_pages_for(
    sites: SiteServer, tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    with open_app(db, sites) as app:
        source = first_run(app, tmp_path)
        sites.clear_log()
        created = app.rescore(source, icp_file(tmp_path, lambda icp: icp.pop("exclude_domains")))
        work(app, created.run_id)
        competitor = app.runs.job(created.run_id, "competitor.com")
    assert {host for _, host, _ in sites.log} == {"competitor.com"}
    assert competitor.verdict == "review" and competitor.extra["signals"]["pages"]


def test_the_readme_loop_end_to_end_through_the_cli(sites: SiteServer, tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with open_app(db, sites) as app:
        source = first_run(app, tmp_path)
    sites.stop()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "domain,label\nfleetbase.ch,no\nsmallfleet.de,NO\nacme-freight.de,Yes\nshoply.com,no\n"
    )
    cli = ("--db", str(db))
    first = json.loads(invoke(*cli, "eval", str(source), str(labels), "--json").stdout)
    assert first["agreement"] == pytest.approx(3 / 4)  # fleetbase.ch: qualified, labelled no
    assert ("employees", "up") in [(c["criterion"], c["direction"]) for c in first["criteria"]]
    rescored = invoke(*cli, "rescore", str(source), "--icp", icp_file(tmp_path, bigger), "--wait")
    assert rescored.exit_code == 0, rescored.output
    assert "6 from kept pages, 1 to fetch" in rescored.stdout
    second = json.loads(invoke(*cli, "eval", "2", str(labels), "--json").stdout)
    assert second["agreement"] == 1.0
    diff = invoke(*cli, "diff", str(source), "2").stdout
    assert "qualified → unqualified: 1" in diff and "fleetbase.ch" in diff


def kept_copies(count: int) -> list[tuple[str, PageCopy]]:
    """Kept homepages for ``count`` generated domains, from a real fixture page."""
    html = ACME["/"].body_bytes().decode()  # type: ignore[union-attr]
    signals, links = extract.parse_page(html, "https://acme-freight.de/", kind="home")
    document = {"v": 1, "page": signals, "resource_urls": links.resource_urls,
                "link_urls": links.link_urls}  # fmt: skip
    copies = []
    for i in range(count):
        domain = f"c{i}.example.com"
        url = f"https://{domain}/"
        copies.append((domain, PageCopy(url, url, 200, content=document)))
    return copies


def test_kill_9_during_a_rescore_still_records_each_domain_once(
    app: Qualify, stack: Stack, tmp_path: Path, workers: Callable[..., WorkerProcess]
) -> None:
    count = 3000
    copies = kept_copies(count)
    with app.database.write():
        for domain, copy in copies:
            app.pages.put(domain, [copy])
    domains = tmp_path / "domains.txt"
    domains.write_text("".join(f"{domain}\n" for domain, _ in copies))
    source = app.create_run(prepare_run(str(EXAMPLE_ICP), str(domains), "web")).run_id
    app.cancel(source)  # never worked: the rescore alone is
    run_id = app.rescore(source, str(EXAMPLE_ICP)).run_id
    # Nothing may leave the machine even if a page were missing: a dead local gateway.
    env = {"QUALIFY_FETCH_VIA": "http://127.0.0.1:9/fetch?url={url}"}
    victim = workers("--lease", "1s", "--concurrency", "4", "-q", env=env)
    wait_until(lambda: app.runs.get(run_id).completed > 0, timeout=60, interval=0.005)
    victim.kill9()
    at_kill = app.runs.get(run_id).completed
    assert at_kill < count, "the rescore finished before the kill: make it bigger"
    rescuer = workers("--burst", "--lease", "1s", "-q", env=env)
    assert rescuer.wait(timeout=120) == 0, rescuer.output
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", count, 0)
    assert_consistent(app, run_id)
    records = list(app.runs.records(run_id))
    assert sorted(r.domain for r in records) == sorted(d for d, _ in copies)
    assert len({(r.verdict, r.score) for r in records}) == 1  # one page, one judgement
    assert all(r.extra["signals"]["pages"][0]["url"] == "https://acme-freight.de/" for r in records)
