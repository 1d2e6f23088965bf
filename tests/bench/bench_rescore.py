"""Rescore from kept pages: `qualify rescore` + `qualify worker --burst`, against the bare
scoring loop, and what the page store costs on disk.

Run: python tests/bench/bench_rescore.py [--domains 100000] [--concurrency 1 4] [--text 3000]

Generated: ``--domains`` sites of four pages each (home, about, legal notice, pricing), each
page the web qualifier's own extraction of a demo site's page with its text made unique and
``--text`` characters long (what a real page keeps: the extractor caps text at 5,000), kept
in a fresh SQLite page store. Then, in the same run:
- store bytes per domain: the page store's compressed documents, its rows and indexes (the
  database file grown by the pages, after a checkpoint);
- (a) the limit: ``qualify.qualifiers.web.score(signals, icp)`` in a bare loop in this
  process, over the signals of the first 5,000 generated sites;
- (b) the web qualifier called in a bare loop in this process (read the kept pages, merge
  them, score): what one domain costs without the pipeline;
- `qualify rescore` of the run, worked by one `qualify worker --burst` process per
  ``--concurrency``: domains/s from the store (first claim to last completion), and the
  worker's peak RSS. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qualify.api import Qualify, prepare_run  # noqa: E402
from qualify.demo.sites import SITES  # noqa: E402
from qualify.pagecache import PageCopy  # noqa: E402
from qualify.qualifiers.web import WebQualifier, extract, score  # noqa: E402
from qualify.qualifiers.web.visit import COPY_VERSION  # noqa: E402
from qualify.settings import FetchSettings  # noqa: E402

ICP = ROOT / "qualify" / "examples" / "icp.json"
KINDS = {"index": "home", "ueber-uns": "about", "impressum": "legal", "preise": "pricing"}
_VOCABULARY = (
    "Spedition Logistik Software Plattform Fuhrpark Tourenplanung Transport Kunden Lager "
    "Sendungen Echtzeit Schnittstelle Team Service Qualität Partner Lösung digital Prozesse "
    "Lieferkette Versand Auftrag Kosten Preise Angebot Beratung Entwicklung Zukunft Erfahrung"
)
WORDS = _VOCABULARY.split(" ")
BASELINE_SITES = 5000
ORIGIN = "https://acme.example.com"
# A dead gateway on loopback: if a page were missing, nothing would leave the machine.
DEAD_GATEWAY = "http://127.0.0.1:9/fetch?url={url}"


def demo_pages() -> dict[str, tuple[str, str]]:
    """kind -> (path, html) of the demo's acme-freight site."""
    site = next(s for s in SITES if s.host.startswith("acme-freight"))
    found = {}
    for name, kind in KINDS.items():
        item = site.page(f"/{name}" if name != "index" else "/")
        assert item is not None, name
        found[kind] = ("/" if name == "index" else f"/{name}", item.read_text(encoding="utf-8"))
    return found


def parsed_pages(pages: dict[str, tuple[str, str]]) -> dict[str, tuple[str, dict, Any]]:
    """kind -> (path, signals, links), extracted once (per site only text and URL differ)."""
    found = {}
    for kind, (path, html) in pages.items():
        signals, links = extract.parse_page(html, f"{ORIGIN}{path}", kind=kind)
        found[kind] = (path, signals, links)
    return found


def site_copies(domain: str, parsed: dict[str, tuple[str, dict, Any]], text: int,
                rng: random.Random) -> list[PageCopy]:  # fmt: skip
    copies = []
    for kind, (path, signals, links) in parsed.items():
        url = f"https://{domain}{path}"
        filler = " ".join(rng.choice(WORDS) for _ in range(text // 8))
        page = dict(signals, url=url, text=f"{domain} {signals['text']} {filler}"[:text])
        # Its links lead to its own pages, so the crawl finds all four kept.
        page["nav"] = {k: v.replace(ORIGIN, f"https://{domain}") for k, v in signals["nav"].items()}
        page["word_count"] = max(signals["word_count"], 120 if kind == "home" else 30)
        document: dict[str, Any] = {"v": COPY_VERSION, "page": page}
        if kind == "home":
            document["resource_urls"] = links.resource_urls
            document["link_urls"] = links.link_urls
        copies.append(PageCopy(url, url, 200, content=document))
    return copies


def generate(db: Path, count: int, text: int) -> tuple[list[str], float]:
    """Kept pages for ``count`` domains, and the database file's growth in bytes/domain."""
    pages = parsed_pages(demo_pages())
    rng = random.Random(14)
    domains = [f"site{i}.example.com" for i in range(count)]
    with Qualify.open(str(db)) as app:
        app.database.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        empty = db.stat().st_size
        for start in range(0, count, 2000):
            with app.database.write():
                for domain in domains[start : start + 2000]:
                    app.pages.put(domain, site_copies(domain, pages, text, rng))
        app.database.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        grown = (db.stat().st_size - empty) / count
        stats = app.pages.stats()
    print(
        f"page store: {count:,} sites, {stats.pages:,} pages; documents"
        f" {stats.raw_bytes / count:,.0f} bytes/site as JSON,"
        f" {stats.stored_bytes / count:,.0f} compressed;"
        f" database file {grown:,.0f} bytes/site with rows and indexes"
        f" ({grown * 1e6 / 1e9:,.1f} GB per million sites)"
    )
    return domains, grown


def bare_loops(db: Path, domains: list[str]) -> tuple[float, float]:
    """(a) score() over ready signals; (b) the qualifier from kept pages; both domains/s."""
    icp = json.loads(ICP.read_text())
    sample = domains[:BASELINE_SITES]
    with Qualify.open(str(db)) as app:
        qualifier = WebQualifier(FetchSettings(fetch_via=DEAD_GATEWAY), app.pages,
                                 max_page_age=None)  # fmt: skip
        started = time.perf_counter()
        signals = [qualifier(domain, icp)["signals"] for domain in sample]
        from_pages = len(sample) / (time.perf_counter() - started)
        qualifier.close()
    pages_read = sum(len(s.get("pages", [])) for s in signals) / len(signals)
    assert pages_read == len(KINDS), f"{pages_read} pages read per site, not {len(KINDS)}"
    score(signals[0], icp)
    started = time.perf_counter()
    for item in signals:
        score(item, icp)
    bare = len(signals) / (time.perf_counter() - started)
    return bare, from_pages


def rescore_once(db: Path, source: int, concurrency: int) -> tuple[float, float, float]:
    env = {**os.environ, "QUALIFY_FETCH_VIA": DEAD_GATEWAY, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "qualify", "--db", str(db)]
    created = subprocess.run(
        [*cli, "rescore", str(source), "--icp", str(ICP), "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    run_id = json.loads(created.stdout)["run_id"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [*cli, "worker", "--burst", "--concurrency", str(concurrency), "-q"], env=env, check=True
    )
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    conn = sqlite3.connect(db)
    first, last, done = conn.execute(
        "SELECT MIN(started_at), MAX(finished_at), COUNT(*) FROM jobs"
        " WHERE run_id = ? AND state = 'done'",
        (run_id,),
    ).fetchone()
    result_bytes = conn.execute(
        "SELECT SUM(length(reasons) + length(evidence) + length(extra)) FROM results"
        " WHERE run_id = ?",
        (run_id,),
    ).fetchone()[0]
    conn.close()
    return done / (last - first), peak_mb, result_bytes / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--text", type=int, default=3000, help="characters of text per page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        domains, _ = generate(db, args.domains, args.text)
        listing = Path(tmp) / "domains.txt"
        listing.write_text("".join(f"{d}\n" for d in domains))
        with Qualify.open(str(db)) as app:
            source = app.create_run(prepare_run(str(ICP), str(listing), "web")).run_id
            app.cancel(source)  # the source run is never worked: only its rescores are
        bare, from_pages = bare_loops(db, domains)
        print(f"(a) score(signals, icp), bare loop: {bare:,.0f} domains/s (the limit)")
        print(f"(b) web qualifier from kept pages, bare loop: {from_pages:,.0f} domains/s")
        for concurrency in args.concurrency:
            rate, peak, result_bytes = rescore_once(db, source, concurrency)
            print(
                f"rescore, 1 worker x {concurrency}: {rate:,.0f} domains/s"
                f" ({rate / bare:.2f} of (a), {rate / from_pages:.2f} of (b)),"
                f" peak RSS {peak:,.0f} MB; results {result_bytes:,.0f} bytes/domain"
            )


if __name__ == "__main__":
    main()
