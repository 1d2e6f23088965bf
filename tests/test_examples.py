"""The README's first command, and the example qualifier it uses."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import qualify
from qualify.cli import cli
from qualify.examples.name_match import qualify as name_match

EXAMPLES = Path(qualify.__file__).parent / "examples"


def test_readme_first_command_runs_offline(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    first = readme.split("```sh\n", 1)[1].splitlines()[0]
    assert first.startswith("pip install . && qualify run ")
    args = first.split("&& qualify ", 1)[1].split()
    args = [
        str(EXAMPLES.parent.parent / a) if a.startswith("qualify/examples/") else a for a in args
    ]
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "q.db"), *args])
    assert result.exit_code == 0, result.output
    assert "6 queued, 1 duplicate and 1 invalid line skipped" in result.stdout
    assert "COMPLETED: 6 done (4 qualified), 0 failed" in result.stderr


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
