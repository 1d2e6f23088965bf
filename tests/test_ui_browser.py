"""``qualify ui`` in a real browser: headless Chromium from the distribution's packages,
driven by Playwright (its own browser download is never used). A run moving live while a
real worker process works it, filtering and paging a 100k-job run, a domain page, every
action (and its refusals), a bad upload, and hostile sites that must not script the page.
The screenshots in docs/screenshots/ are taken here (written there with
QUALIFY_UPDATE_SCREENSHOTS=1, else into the test's directory).

Skipped with the reason when Chromium or Playwright is missing; with CI=true, failed
instead, since .ci/run installs both."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qualify.api import Qualify
from qualify.demo import DemoGateway, fetch_settings
from qualify.settings import Settings
from qualify.siteserver import Resp, SiteServer
from qualify.ui import UiConfig
from qualify.worker import WorkerOptions
from tests.support import ROOT, Stack, WorkerProcess, create_run, wait_until
from tests.test_cli import age_run, work_all
from tests.ui_support import HOSTILE, UiServer, worked_run

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
TOKEN = "browser-test-token-0123456789"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"no browser at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary --user-data-dir of its own.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.dialogs = []  # type: ignore[attr-defined]
    opened.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    yield opened
    context.close()


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    folder = SCREENSHOTS if os.environ.get("QUALIFY_UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def number(page: Any, selector: str) -> int:
    return int(page.locator(selector).first.inner_text().replace(",", "").strip())


# -- live -----------------------------------------------------------------------------------


def test_a_run_moves_live_while_a_worker_works_it(
    sqlite_stack: Stack, page: Any, tmp_path: Path
) -> None:
    app = sqlite_stack.open()
    run_id = create_run(app, [f"slow300-{i}.com" for i in range(40)], max_attempts=1)
    config = UiConfig(poll_seconds=1.0)
    with UiServer(app, config) as server:
        page.goto(f"{server.url}/runs/{run_id}")
        page.evaluate("window.loadedOnce = 'yes'")  # gone if the page reloads
        assert number(page, "#run-live [data-field=completed]") == 0
        worker = WorkerProcess(sqlite_stack, "--concurrency", "2", "--burst")
        try:
            wait_until(lambda: number(page, "#run-live [data-field=completed]") >= 3, 30)
            moving = number(page, "#run-live [data-field=completed]")
            wait_until(lambda: number(page, "#run-live [data-field=completed]") > moving, 30)
            assert page.evaluate("window.loadedOnce") == "yes", "the page reloaded"
            page.goto(server.url + "/")
            page.evaluate("window.loadedOnce = 'yes'")
            assert "ALIVE" in page.locator("table.workers").inner_text()
            row = f"#run-{run_id} [data-field=completed]"
            before = number(page, row)
            wait_until(lambda: number(page, row) > before, 30)
            assert page.evaluate("window.loadedOnce") == "yes"
            screenshot(page, "runs", tmp_path)
            assert page.locator(f"#run-{run_id} progress").count() == 1
            wait_until(lambda: number(page, row) == 40, 60)
            assert "COMPLETED" in page.locator(f"#run-{run_id}").inner_text()
        finally:
            assert worker.wait(60) == 0
        assert page.dialogs == []


# -- a 100k-job run ---------------------------------------------------------------------------


def build_big_run(path: str, jobs: int = 100_000) -> int:
    """A finished run of ``jobs`` jobs with results, inserted directly (as the benchmark does):
    a worker would take minutes. Scores repeat, every verdict and tier occurs."""
    Qualify.open(path).close()
    conn = sqlite3.connect(path)
    now = time.time()
    conn.execute(
        "INSERT INTO runs (id, name, qualifier, icp, status, total, completed, failed,"
        " qualified, cancelled, max_attempts, backoff, created_at, updated_at, finished_at)"
        " VALUES (1, 'A hundred thousand', 'web', '{}', 'COMPLETED', ?, ?, 0, ?, 0, 5, 10,"
        " ?, ?, ?)",
        (jobs, jobs, sum(1 for i in range(jobs) if i % 100 >= 70), now - 600, now, now),
    )
    conn.executemany(
        "INSERT INTO jobs (id, run_id, domain, state, attempts, finished_at, updated_at)"
        " VALUES (?, 1, ?, 'done', 1, ?, ?)",
        ((i + 1, f"company{i:06d}.com", now, now) for i in range(jobs)),
    )
    conn.executemany(
        "INSERT INTO results (job_id, run_id, verdict, score, reasons, evidence, extra,"
        " worker_id, created_at) VALUES (?, 1, ?, ?, ?, ?, ?, 'bench', ?)",
        (
            (
                i + 1,
                "qualified" if i % 100 >= 70 else "review" if i % 100 >= 45 else "unqualified",
                i % 100,
                '[{"criterion": "industries", "outcome": "match", "evidence": "freight"}]',
                f'{{"title": "Company {i}"}}',
                f'{{"tier": "{"ABCD"[i % 4]}"}}',
                now,
            )
            for i in range(jobs)
        ),
    )
    conn.commit()
    conn.close()
    return 1


def test_filtering_and_paging_a_100k_job_run(
    sqlite_stack: Stack, page: Any, tmp_path: Path
) -> None:
    run_id = build_big_run(sqlite_stack.db)
    app = sqlite_stack.open()
    with UiServer(app) as server:
        page.goto(f"{server.url}/runs/{run_id}")
        page.select_option("select[name=outcome]", "qualified")
        page.select_option("select[name=tier]", "B")
        page.select_option("select[name=sort]", "score_desc")
        page.click("form.filters button[type=submit]")
        seen: list[tuple[str, float]] = []
        for expected_page in range(1, 5):
            assert f"Page {expected_page}" in page.locator("nav.pager").inner_text()
            rows = page.locator("#results-table tbody tr")
            assert rows.count() == 50
            for cells in rows.evaluate_all(
                "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
            ):
                assert cells[2] == "qualified" and cells[4] == "B", cells
                seen.append((cells[0], float(cells[3])))
            page.click("#next-page")
        scores = [score for _, score in seen]
        assert scores == sorted(scores, reverse=True) and scores[0] == 97  # best tier-B score
        assert len({domain for domain, _ in seen}) == 200, "a row was shown twice"
        # Text search, then the domain order: the address carries it all.
        page.fill("input[name=q]", "company00012")
        page.select_option("select[name=outcome]", "")
        page.select_option("select[name=tier]", "")
        page.select_option("select[name=sort]", "domain")
        page.click("form.filters button[type=submit]")
        domains = page.locator("#results-table tbody td.domain").all_inner_texts()
        # A search reads the run a stretch at a time: the page may fill over several.
        assert domains == [f"company{n:06d}.com" for n in range(120, 130)]
        screenshot(page, "results-100k", tmp_path)
    assert page.dialogs == []


# -- a real run, the README's screenshots and the domain page ----------------------------------


@pytest.fixture
def demo_run(sqlite_stack: Stack) -> Iterator[tuple[Qualify, int]]:
    """The demo's seven companies, qualified by the real web qualifier through the demo's
    local gateway (as `qualify demo` does)."""
    from qualify.api import prepare_run
    from qualify.demo import write_inputs

    with DemoGateway() as gateway:
        inputs = write_inputs(Path(sqlite_stack.db).parent / "demo")
        settings = Settings(db=sqlite_stack.db, fetch=fetch_settings(gateway))
        app = Qualify.open(settings=settings)
        created = app.create_run(
            prepare_run(str(inputs.icp), str(inputs.domains)), name="Fair leads: DACH logistics",
            max_attempts=3, backoff=0.2,
        )  # fmt: skip
        app.work_run(created.run_id, WorkerOptions(concurrency=4, handle_signals=False))
        yield app, created.run_id
        app.close()


def test_a_domain_page_shows_every_reason_with_its_quote_and_link(
    demo_run: tuple[Qualify, int], page: Any, tmp_path: Path
) -> None:
    app, run_id = demo_run
    with UiServer(app) as server:
        page.goto(f"{server.url}/")
        page.click(f"#run-{run_id} td.name a")
        page.select_option("select[name=outcome]", "qualified")
        page.click("form.filters button[type=submit]")
        screenshot(page, "run", tmp_path)
        page.click("text=acme-freight.example.com")
        assert page.locator("h1").inner_text() == "acme-freight.example.com"
        record = app.runs.job(run_id, "acme-freight.example.com")
        rows = page.locator("table.reasons tbody tr")
        assert rows.count() == len(record.reasons)
        for row, reason in zip(rows.all(), record.reasons, strict=True):
            text = row.inner_text()
            assert reason["criterion"] in text and reason["outcome"] in text
            assert reason["evidence"][:40] in text
            link = row.locator("td.source a")
            if reason.get("source_url"):
                assert link.get_attribute("href") == reason["source_url"]
                assert link.get_attribute("rel") == "noopener noreferrer"
        facts = page.locator("dl.facts").inner_text()
        assert "qualified" in facts and "RECORDED BY\nworker " in facts and "TIER\nA" in facts
        screenshot(page, "domain", tmp_path)
    assert page.dialogs == []


# -- actions -------------------------------------------------------------------------------------


def test_each_action_from_the_run_page(sqlite_stack: Stack, page: Any) -> None:
    app = sqlite_stack.open()
    failing = create_run(app, ["acme.com", "permanent-a.com", "permanent-b.com"], max_attempts=1)
    work_all(app)
    stuck = create_run(app, ["globex.com", "initech.com"])
    age_run(app, stuck, 900)
    with UiServer(app) as server:
        page.goto(f"{server.url}/runs/{failing}")
        page.click("#retry")
        assert f"Run {failing}: 2 failed jobs queued again" in page.locator(".flash").inner_text()
        assert app.runs.get(failing).failed == 0
        page.goto(f"{server.url}/runs/{stuck}")
        assert "STUCK" in page.locator("#run-live").inner_text()
        page.click("#recover")
        assert f"Run {stuck} resumed" in page.locator(".flash").inner_text()
        page.click("text=Cancel…")
        page.click("#cancel")
        assert f"Run {stuck} cancelled: 2 unfinished jobs" in page.locator(".flash").inner_text()
        assert app.runs.get(stuck).status == "CANCELLED"
        assert "CANCELLED" in page.locator("#run-live").inner_text()


def test_actions_are_refused_without_the_token_or_the_csrf_token(
    sqlite_stack: Stack, browser: Any
) -> None:
    app = sqlite_stack.open()
    run_id = create_run(app, ["acme.com", "globex.com"])
    evil_page = (
        f"<form id=f method=post action='{{url}}/runs/{run_id}/cancel'>"
        "<input name=csrf value=x></form><script>document.getElementById('f').submit()</script>"
    )
    with UiServer(app, UiConfig(token=TOKEN)) as server:
        before = sqlite_stack.snapshot()
        stranger = browser.new_context()
        response = stranger.new_page().goto(f"{server.url}/runs/{run_id}")
        assert response.status == 401
        refused = stranger.request.post(f"{server.url}/runs/{run_id}/cancel", form={"csrf": "x"})
        assert refused.status == 401
        stranger.close()
        user = browser.new_context()
        tab = user.new_page()
        tab.goto(f"{server.url}/runs/{run_id}?token={TOKEN}")
        assert tab.url == f"{server.url}/runs/{run_id}"  # the token left the address
        no_csrf = user.request.post(f"{server.url}/runs/{run_id}/cancel", form={"mode": "x"})
        assert no_csrf.status == 403
        # Another site (another origin) posting a form at the user's ui, with their cookies.
        site = {"localhost": {"/": Resp(body=evil_page.replace("{url}", server.url))}}
        with SiteServer(site) as evil:
            tab.goto(f"http://localhost:{evil.port}/", wait_until="load")
            tab.wait_for_load_state("networkidle")
        assert app.runs.get(run_id).status == "PENDING"
        assert sqlite_stack.snapshot() == before
        # With both tokens, the same action goes through.
        tab.goto(f"{server.url}/runs/{run_id}")
        tab.click("text=Cancel…")
        tab.click("#cancel")
        assert app.runs.get(run_id).status == "CANCELLED"
        user.close()


# -- uploads -------------------------------------------------------------------------------------


def test_a_bad_upload_shows_its_error_and_writes_nothing(
    sqlite_stack: Stack, page: Any, tmp_path: Path
) -> None:
    app = sqlite_stack.open()
    icp = tmp_path / "icp.json"
    icp.write_text('{"name": "Fair leads", "employees": {"min": "fifty"}}')
    domains = tmp_path / "leads.txt"
    domains.write_text("acme.com\nglobex.io\n")
    with UiServer(app) as server:
        before = sqlite_stack.snapshot()
        page.goto(f"{server.url}/runs/new")
        page.set_input_files("input[name=icp]", str(icp))
        page.set_input_files("input[name=domains]", str(domains))
        page.click("#start-run")
        error = page.locator("#form-error").inner_text()
        assert error.startswith("icp.json: employees.min: expected an integer"), error
        assert sqlite_stack.snapshot() == before
        icp.write_text('{"name": "Fair leads"}')
        page.set_input_files("input[name=icp]", str(icp))
        page.set_input_files("input[name=domains]", str(domains))
        page.click("#start-run")
        assert "2 queued" in page.locator(".flash").inner_text()
        assert app.runs.list()[0].total == 2


# -- hostile sites -------------------------------------------------------------------------------

SCRIPT = "<script>alert('script')</script>"
IMG = "<img src=x onerror=\"alert('img')\" id=injected>"
HOSTILE_HOME = f"""<!doctype html><html lang="en"><head>
<title>Evil Corp {SCRIPT} {IMG}</title>
<meta name="description"
 content="&quot;&gt;&lt;script&gt;alert('meta')&lt;/script&gt;&lt;b id=injected&gt;">
<meta property="og:site_name" content="</title><script>alert('og')</script>">
<script type="application/ld+json">{{"@type": "Organization",
 "name": "Evil </script><script>alert('ld')</script>", "numberOfEmployees": 120}}</script>
</head><body>
<h1>Freight software {IMG}</h1>
<p>We build logistics software for freight forwarders. {SCRIPT}
<a href="javascript:alert('link')">About us</a> <a href="/about">About</a>
<iframe id="injected" src="javascript:alert('frame')"></iframe></p>
{"<p>Freight logistics platform for carriers and shippers in Germany.</p>" * 30}
</body></html>"""


def test_nothing_a_crawled_site_writes_runs_in_the_page(
    sqlite_stack: Stack, page: Any, tmp_path: Path
) -> None:
    sites = {"evil-corp.example.com": {"/": Resp(body=HOSTILE_HOME), "/robots.txt": Resp(
        body="", content_type="text/plain")}}  # fmt: skip
    with SiteServer(sites) as gateway:
        settings = Settings(
            db=sqlite_stack.db,
            fetch=fetch_settings(gateway),  # type: ignore[arg-type]  (any gateway will do)
        )
        app = Qualify.open(settings=settings)
        crawled = create_run(app, ["evil-corp.example.com"], qualifier="web", max_attempts=1)
        app.work_run(crawled, WorkerOptions(concurrency=1, handle_signals=False))
        record = app.runs.job(crawled, "evil-corp.example.com")
        assert record.state == "done" and "<script>" in (record.evidence.get("title") or "")
        shaped = worked_run(app, ["evil-shaped.com"], qualifier=HOSTILE)
        with UiServer(app) as server:
            pages = [
                "/",
                f"/runs/{crawled}",
                f"/runs/{crawled}/domains/evil-corp.example.com",
                f"/runs/{shaped}",
                f"/runs/{shaped}/domains/evil-shaped.com",
                f"/runs/{shaped}?q=script",
            ]
            for path in pages:
                page.goto(server.url + path)
                page.wait_for_timeout(300)  # let any planted handler fire
                assert page.locator("#injected").count() == 0, path
                assert page.locator("iframe, img[src=x], b#injected").count() == 0, path
                hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
                assert all(re.match(r"https?://", h) for h in hrefs), (path, hrefs)
                scripts = page.eval_on_selector_all("script", "s => s.map(x => x.src)")
                assert scripts == [f"{server.url}/static/live.js?v=0.1.0"], (path, scripts)
            # The payloads are there, as text anyone can read.
            page.goto(f"{server.url}/runs/{shaped}/domains/evil-shaped.com")
            title = page.locator("p.site-title").inner_text()
            assert "<script>alert('x')</script><img src=x" in title
            assert "javascript:alert('reason')" in page.locator("table.reasons").inner_text()
            for link in page.locator("table.reasons a").all():
                assert link.get_attribute("rel") == "noopener noreferrer"
            page.goto(f"{server.url}/runs/{crawled}/domains/evil-corp.example.com")
            assert "Evil Corp <script>" in page.locator("p.site-title").inner_text()
            screenshot(page, "hostile-domain", tmp_path)
        app.close()
    assert page.dialogs == []


def test_the_screenshots_in_the_readme_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("runs", "run", "domain"):
        assert f"docs/screenshots/{name}.png" in readme
        assert (SCREENSHOTS / f"{name}.png").exists()
    assert shutil.which("chromium") or not os.environ.get("CI")
