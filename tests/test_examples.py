"""The README's first command (`qualify demo`), and the example name-matching qualifier."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from qualify.cli import cli
from qualify.examples.name_match import qualify as name_match
from qualify.qualifiers import web


def test_readme_first_command_runs_offline(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    first = readme.split("```sh\n", 1)[1].splitlines()[0]
    assert first.startswith("pip install . && qualify ")
    args = first.split("&& qualify ", 1)[1].split()
    try:
        result = CliRunner().invoke(cli, args)  # in this test's own directory
    finally:
        web.reset_configuration()  # the demo pointed the web qualifier at its gateway
    assert result.exit_code == 0, result.output
    assert "Run 1 COMPLETED: 7 done (3 qualified), 0 failed." in result.stderr
    assert (tmp_path / "qualify-demo" / "qualify.db").is_file()
    assert "qualify --db qualify-demo/qualify.db show 1 acme-freight.example.com" in result.stdout


def test_name_match_cites_what_it_matched() -> None:
    icp = {
        "name": "x",
        "industries": [{"name": "Logistics", "keywords": ["freight"]}],
        "keywords": {"none": ["casino"]},
    }
    fit = name_match("acme-freight.com", icp)
    assert fit["verdict"] == "qualified" and fit["score"] == 70
    assert fit["reasons"][0]["evidence"] == "domain name contains 'freight'"
    assert name_match("freight-casino.com", icp)["verdict"] == "unqualified"
    unknown = name_match("bakery.de", icp)
    assert (unknown["verdict"], unknown["score"]) == ("unknown", None)
