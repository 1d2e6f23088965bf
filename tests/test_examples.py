"""The example name-matching qualifier (README's first command, the demo: tests/test_demo.py)."""

from __future__ import annotations

from qualify.examples.name_match import qualify as name_match


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
