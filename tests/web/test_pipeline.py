"""The web qualifier through the whole pipeline: `qualify run --wait` in a real process,
fetching fixture sites through the local gateway, with retries for a site that recovers."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.siteserver import Request, Resp, SiteServer
from tests.web.sites import BOTWALL, CASINO, FLEETBASE, GONE, PARKED, SHOPLY

EXAMPLE_ICP = Path(__file__).resolve().parents[2] / "qualify" / "examples" / "icp.json"


def _recovering_site() -> dict:
    """Down for maintenance on the first visit, up afterwards."""
    visits = itertools.count()

    def home(request: Request) -> Resp:
        if next(visits) == 0:
            return Resp(503, "<html><body>Maintenance</body></html>")
        return FLEETBASE["/"]

    return {**FLEETBASE, "/": home}


@pytest.fixture
def public_sites() -> Iterator[SiteServer]:
    # The same fixtures under public suffixes, since `qualify run` only takes public domains.
    server = SiteServer(
        {
            "fleetbase.ch": FLEETBASE,
            "shoply.com": SHOPLY,
            "royal-casino.com": CASINO,
            "forsale-domain.com": PARKED,
            "botwall.io": BOTWALL,
            "gone.io": GONE,
            "recovering.ch": _recovering_site(),
        }
    ).start()
    yield server
    server.stop()


def qualify_cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qualify", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_wait_qualifies_fixture_sites_end_to_end(
    public_sites: SiteServer, tmp_path: Path
) -> None:
    domains = tmp_path / "domains.txt"
    domains.write_text(
        "https://www.fleetbase.ch/\nshoply.com\nroyal-casino.com\nforsale-domain.com\n"
        "botwall.io\ngone.io\nrecovering.ch\n"
    )
    db = tmp_path / "qualify.db"
    created = qualify_cli(
        "run", str(EXAMPLE_ICP), str(domains), "--wait", "--json", "--backoff", "100ms",
        "--fetch-via", public_sites.fetch_via, db=db,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["status"] == "COMPLETED"

    exported = qualify_cli("export", "1", "--format", "jsonl", db=db)
    rows = {row["domain"]: row for row in map(json.loads, exported.stdout.splitlines())}
    verdicts = {domain: (row["verdict"], row["error"]) for domain, row in rows.items()}
    assert verdicts == {
        "fleetbase.ch": ("qualified", None),
        "shoply.com": ("unqualified", None),
        "royal-casino.com": ("unqualified", None),
        "forsale-domain.com": ("unqualified", "parked_domain"),
        "botwall.io": ("unknown", "bot_wall"),
        "gone.io": ("unknown", "http_4xx"),
        "recovering.ch": ("qualified", None),
    }
    fit = rows["fleetbase.ch"]
    assert fit["tier"] in ("A", "B") and fit["score"] >= 70
    by_criterion = {r["criterion"]: r for r in fit["reasons"]}
    assert by_criterion["employees"]["source_url"] == "https://fleetbase.ch/about"
    assert "team of 80" in by_criterion["employees"]["evidence"]
    assert "script from cdn.segment.com" in by_criterion["technologies"]["evidence"]
    shop = " ".join(r["evidence"] for r in rows["shoply.com"]["reasons"])
    assert "Shopify" in shop
    # The site that was down once was retried by the pipeline, not failed.
    assert rows["recovering.ch"]["attempts"] == 2
    assert all(row["attempts"] == 1 for d, row in rows.items() if d != "recovering.ch")
    # Every request went through the gateway on loopback.
    assert public_sites.requested("fleetbase.ch", "/")
