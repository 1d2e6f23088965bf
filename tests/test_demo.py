"""`qualify demo`: its gateway speaks the web qualifier's protocol, its fictional sites pass
`qualify run`'s checks as separate sites, and the whole demo runs offline end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from qualify.api import Qualify
from qualify.demo import SITES, DemoGateway, DemoSite, fetch_settings
from qualify.domains import normalise
from qualify.qualifiers.web import WebQualifier
from tests.test_cli import invoke

# What the example ICP must make of each site: the first word of its description says so.
EXPECTED = {"fit": "qualified", "review": "review", "misfit": "unqualified"}


def test_demo_hosts_are_valid_distinct_public_names() -> None:
    hosts = [site.host for site in SITES]
    assert 6 <= len(hosts) <= 10 and len(set(hosts)) == len(hosts)
    for host in hosts:
        assert normalise(host) == host  # a public suffix, and not shortened to example.com
        assert host.endswith((".example.com", ".example.net", ".example.org"))
        assert SITES[hosts.index(host)].about.split(":")[0].split()[0] in EXPECTED


def test_gateway_answers_like_the_sites_would() -> None:
    flaky = DemoSite("flaky.example.com", "for this test", unavailable_first=1)
    with DemoGateway((*SITES, flaky)) as gateway:
        status, headers, body = gateway.respond("https://acme-freight.example.com/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b"Acme Freight" in body
        status, headers, body = gateway.respond("https://acme-freight.example.com/robots.txt")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert gateway.respond("http://acme-freight.example.com/preise")[0] == 200
        assert gateway.respond("https://acme-freight.example.com/nope")[0] == 404
        assert gateway.respond("https://acme-freight.example.com/../server.py")[0] == 404
        assert gateway.respond("https://acme-freight.example.com/%2e%2e/sites.py")[0] == 404
        status, headers, _ = gateway.respond("https://elsewhere.example.com/")
        assert (status, headers) == (502, {"X-Qualify-Error": "dns_nxdomain"})
        assert [gateway.respond("https://flaky.example.com/")[0] for _ in range(2)] == [503, 404]


def test_the_web_qualifier_fetches_the_demo_through_the_gateway(icp: dict) -> None:
    with DemoGateway() as gateway, WebQualifier(fetch_settings(gateway)) as qualify:
        result = qualify("acme-freight.example.com", icp)
        assert result["verdict"] == "qualified"
        # Only the demo's own URLs reached the gateway, and nothing was resolved.
        assert gateway.requested
        assert all(url.startswith("https://acme-freight.example.com/") for url in gateway.requested)


@pytest.fixture
def icp() -> dict:
    path = Path(__file__).resolve().parent.parent / "qualify" / "examples" / "icp.json"
    return json.loads(path.read_text(encoding="utf-8"))


def readme_first_command() -> list[str]:
    """The arguments of `qualify` in README's first set-up command (CI runs the second)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    first = readme.split("```sh\n", 1)[1].splitlines()[0]
    assert first.startswith("pip install . && qualify ")
    return first.split("&& qualify ", 1)[1].split()


def test_readme_first_command_runs_the_whole_pipeline_offline(tmp_path: Path) -> None:
    args = readme_first_command()
    assert args == ["demo"]
    result = invoke(*args)  # in this test's own directory: ./qualify-demo
    assert result.exit_code == 0, result.output
    folder = Path("qualify-demo")
    assert folder.resolve() == tmp_path / "qualify-demo"
    assert json.loads((folder / "icp.json").read_text())["name"].startswith("Mid-market")
    listed = [
        line.split()[0]
        for line in (folder / "domains.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert listed == [site.host for site in SITES]

    with Qualify.open(str(folder / "qualify.db"), create=False) as app:
        run = app.runs.get(1)
        assert (run.status, run.qualifier, run.total) == ("COMPLETED", "web", len(SITES))
        records = {r.domain: r for r in app.runs.records(1)}
    for site in SITES:
        record = records[site.host]
        expected = EXPECTED[site.about.split(":")[0].split()[0]]
        assert record.verdict == expected, (site.host, record.reasons[:2])
        # Each fictional company was judged on its own site, though all share example.*.
        assert record.evidence["url"] == f"https://{site.host}/"
        pages = record.evidence.get("pages", [])
        assert all(page.startswith(f"https://{site.host}/") for page in pages)
        # The one that was down for maintenance was retried by the pipeline.
        assert record.attempts == 1 + site.unavailable_first
    assert records["freight-deals.example.net"].extra["error"] == "parked_domain"
    assert any(site.unavailable_first for site in SITES)

    out = result.stdout
    assert "DOMAIN" in out and "TOP REASON" in out
    for site in SITES:
        assert site.host in out
    db = folder / "qualify.db"
    assert f"The run is stored in {db}. Next:" in out
    assert f"qualify --db {db} show 1 acme-freight.example.com" in out
    assert f"qualify --db {db} export 1 -o demo.csv" in out
    assert "Run 1 COMPLETED: 7 done (3 qualified), 0 failed." in result.stderr

    # The demo says on screen which site was down and that it was retried.
    assert (
        "lagerwerk.example.org was down on the first visit: qualify waited and retried it,"
        " and judged it on attempt 2." in " ".join(out.split())
    )

    # Its CSV is ready for a spreadsheet: flat columns, each cell on one line.
    exported = invoke("--db", str(db), "export", "1", "--verdict", "qualified")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert list(rows[0])[:7] == [
        "input",
        "domain",
        "state",
        "verdict",
        "score",
        "tier",
        "confidence",
    ]
    assert {r["tier"] for r in rows} <= {"A", "B"} and len(rows) == 3
    assert rows[0]["reason_1"].startswith("industries: match (+")
    assert rows[0]["company_name"] and rows[0]["country"] in ("DE", "CH", "AT")
    assert rows[0]["industry"] in ("Logistics software", "Supply chain SaaS")
    assert len(exported.stdout.splitlines()) == 1 + len(rows)
