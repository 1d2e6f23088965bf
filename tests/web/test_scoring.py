"""Scoring is a pure function of stored signals and the ICP: outcomes, weights, verdicts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from qualify.errors import ICPError
from qualify.qualifiers.web import criteria, score
from qualify.qualifiers.web.scoring import normalized_icp
from tests.web.conftest import reason

FILLER = " ".join(["lorem"] * 300)


def signals(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": 1, "domain": "acme.company", "error": None,
        "final_url": "https://acme.company/", "redirects": [], "offsite_redirect": None,
        "pages": [{"url": "https://acme.company/", "kind": "home", "title": "", "words": 300}],
        "skipped_pages": [], "title": "", "description": "", "og": {}, "lang": None,
        "hreflangs": [], "detected_language": None, "generator": None, "headings": [],
        "text": {"home": FILLER}, "footer": "", "word_count": 300, "organization": None,
        "technologies": [], "cues": {}, "country_hints": [], "employees": [], "social": {},
    }  # fmt: skip
    base.update(overrides)
    return base


def cue(evidence: str = "home: '…'") -> dict[str, str]:
    return {"evidence": evidence, "source_url": "https://acme.company/"}


def hint(countries: list[str], weight: float, evidence: str = "footer: '…'") -> dict[str, Any]:
    return {"countries": countries, "kind": "address", "weight": weight, "evidence": evidence,
            "source_url": "https://acme.company/"}  # fmt: skip


def size(lo: int, hi: int, kind: str = "text") -> dict[str, Any]:
    return {"min": lo, "max": hi, "kind": kind, "evidence": f"home: '{lo} employees'",
            "source_url": "https://acme.company/about"}  # fmt: skip


def only(criterion: str, **icp: Any) -> dict[str, Any]:
    return normalized_icp({"name": "t", **icp})


def outcome(sig: dict[str, Any], **icp: Any) -> tuple[str, dict[str, Any]]:
    result = score(sig, {"name": "t", **icp})
    json.dumps(result)
    criterion = next(iter(k for k in icp if k not in ("hard_filters", "weights", "thresholds")))
    return reason(result, criterion)["outcome"], result


LOGISTICS = {"industries": [{"name": "Logistics software", "keywords": ["freight", "fleet"]}]}


@pytest.mark.parametrize(
    ("sig", "expected"),
    [
        (signals(title="Acme freight", text={"home": FILLER + " fleet"}), "match"),
        (signals(text={"home": FILLER + " we move freights"}), "partial"),
        (signals(), "mismatch"),
        (signals(text={"home": "tiny page"}, word_count=2), "unknown"),
    ],
)
def test_industries_outcomes(sig, expected):
    assert outcome(sig, **LOGISTICS)[0] == expected


def test_keyword_match_requires_whole_words():
    corpus = criteria.Corpus.from_signals(signals(text={"home": "apiary and rapid. API docs"}))
    assert [h.excerpt for h in corpus.find("api")] == ["apiary and rapid. API docs"]
    assert corpus.find("apiary docs") == []


@pytest.mark.parametrize(
    ("text", "kw", "expected"),
    [
        (FILLER + " api platform", {"any": ["api"], "all": ["platform"]}, "match"),
        (FILLER + " api", {"any": ["api"], "all": ["platform", "sso"]}, "partial"),
        (FILLER, {"any": ["api"]}, "mismatch"),
        ("short", {"any": ["api"]}, "unknown"),
        (FILLER, {"none": ["casino"]}, "match"),
        (FILLER + " casino", {"none": ["casino"]}, "mismatch"),
    ],
)
def test_keywords_outcomes(text, kw, expected):
    words = text.count(" ") + 1
    assert outcome(signals(text={"home": text}, word_count=words), keywords=kw)[0] == expected


def test_one_passing_mention_of_an_excluded_keyword_is_not_a_hard_filter():
    sig = signals(text={"home": FILLER + " unlike a casino, we"})
    result = score(sig, {"name": "t", "keywords": {"none": ["casino"]}})
    assert reason(result, "keywords")["outcome"] == "mismatch"
    assert not any(r["criterion"] == "hard_filters" for r in result["reasons"])
    repeated = signals(title="Casino night", text={"home": FILLER})
    assert score(repeated, {"name": "t", "keywords": {"none": ["casino"]}})["verdict"] == (
        "unqualified"
    )


@pytest.mark.parametrize(
    ("cues", "wanted", "expected"),
    [
        ({"demo_cta": cue(), "contact_sales": cue()}, ["b2b"], "match"),
        ({"demo_cta": cue(), "contact_sales": cue(),
          "marketplace": cue("home: 'online marketplace'")}, ["marketplace"], "partial"),
        ({"demo_cta": cue(), "marketplace": cue()}, ["marketplace"], "match"),  # a tie
        ({"cart": cue(), "checkout": cue(), "shipping": cue()}, ["b2b"], "mismatch"),
        ({"cart": cue(), "checkout": cue()}, ["b2c"], "match"),
        ({"integrations": cue()}, ["b2b"], "unknown"),
        ({}, ["ecommerce"], "unknown"),
    ],
)  # fmt: skip
def test_business_model_outcomes(cues, wanted, expected):
    assert outcome(signals(cues=cues), business_model=wanted)[0] == expected


@pytest.mark.parametrize(
    ("sizes", "expected", "confident"),
    [
        ([size(250, 250, "jsonld")], "match", False),
        ([size(40, 40)], "partial", False),
        ([size(900, 1350)], "partial", False),
        ([size(10, 10)], "mismatch", True),
        ([size(5000, 7500)], "mismatch", True),
        ([size(1200, 1200)], "partial", False),
        ([], "unknown", False),
    ],
)
def test_employees_outcomes(sizes, expected, confident):
    assessment = criteria.employees(sizes, {"min": 50, "max": 1000})
    assert assessment.outcome == expected
    assert assessment.confident is confident


def test_jsonld_size_beats_prose_and_largest_prose_figure_wins():
    picked = criteria.employees([size(10, 10), size(300, 300, "jsonld")], {"min": 50, "max": None})
    assert picked.outcome == "match" and "300" in picked.evidence
    prose = criteria.employees([size(12, 12), size(400, 400)], {"min": 50, "max": None})
    assert prose.outcome == "match" and "400" in prose.evidence


@pytest.mark.parametrize(
    ("hints", "wanted", "expected", "confident"),
    [
        ([hint(["DE"], 2), hint(["DE", "AT", "CH"], 1.5)], {"include": ["DE", "AT"]}, "match",
         False),
        ([hint(["US"], 4), hint(["DE"], 1.5)], {"include": ["DE"]}, "partial", False),
        ([hint(["FR"], 2), hint(["FR"], 2)], {"include": ["DE"]}, "mismatch", True),
        ([hint(["FR"], 2)], {"include": ["DE"]}, "mismatch", False),
        ([hint(["RU"], 4)], {"exclude": ["RU"]}, "mismatch", True),
        ([hint(["DE"], 4)], {"exclude": ["RU"]}, "match", False),
        ([], {"include": ["DE"]}, "unknown", False),
    ],
)  # fmt: skip
def test_countries_outcomes(hints, wanted, expected, confident):
    full = {"include": [], "exclude": [], **wanted}
    assessment = criteria.countries(hints, full)
    assert assessment.outcome == expected
    assert assessment.confident is confident


def test_country_hard_filter_needs_a_confident_mismatch():
    icp = {"name": "t", "countries": {"include": ["DE"]}, "hard_filters": ["countries"]}
    weak = score(signals(country_hints=[hint(["FR"], 2)]), icp)
    assert weak["verdict"] != "unqualified" or weak["score"] < 45
    assert not any(r["criterion"] == "hard_filters" for r in weak["reasons"])
    strong = score(signals(country_hints=[hint(["FR"], 2), hint(["FR"], 2)]), icp)
    assert strong["verdict"] == "unqualified"
    assert reason(strong, "hard_filters")["evidence"].startswith("hard filter countries: FR")


def tech(name: str, category: str = "crm") -> dict[str, str]:
    return {"name": name, "category": category, "evidence": f"script from {name.lower()}.js",
            "source_url": "https://acme.company/"}  # fmt: skip


@pytest.mark.parametrize(
    ("found", "wanted", "expected"),
    [
        ([tech("HubSpot")], {"any": ["HubSpot", "Segment"]}, "match"),
        ([tech("Shopify", "ecommerce")], {"none": ["Shopify"]}, "mismatch"),
        ([tech("Matomo")], {"any": ["HubSpot"]}, "mismatch"),
        ([tech("Matomo")], {"none": ["Shopify"]}, "match"),
        ([], {"any": ["HubSpot"]}, "unknown"),
    ],
)
def test_technologies_outcomes(found, wanted, expected):
    assert outcome(signals(technologies=found), technologies=wanted)[0] == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"lang": "de-DE"}, "match"),
        ({"lang": "fr", "hreflangs": ["fr", "en-GB"]}, "partial"),
        ({"lang": "fr"}, "mismatch"),
        ({"detected_language": "de"}, "match"),
        ({}, "unknown"),
    ],
)
def test_languages_outcomes(overrides, expected):
    assert outcome(signals(**overrides), languages=["de", "en"])[0] == expected


@pytest.mark.parametrize(
    ("cues", "words", "expected"),
    [
        ({"pricing_page": cue(), "demo_cta": cue()}, 300, "match"),
        ({"pricing_page": cue()}, 300, "partial"),
        ({}, 300, "mismatch"),
        ({}, 20, "unknown"),
    ],
)
def test_preferred_signals_outcomes(cues, words, expected):
    sig = signals(cues=cues, word_count=words, text={"home": " ".join(["w"] * words)})
    assert outcome(sig, signals={"prefer": ["pricing_page", "demo_cta"]})[0] == expected


def test_unknown_weight_is_spread_and_confidence_is_the_observed_share():
    icp = {
        "name": "t", **LOGISTICS, "employees": {"min": 50},
        "weights": {"industries": 30, "employees": 10},
    }  # fmt: skip
    result = score(signals(title="freight fleet"), icp)
    assert reason(result, "employees")["outcome"] == "unknown"
    assert reason(result, "employees")["points"] == 0
    assert result["score"] == 100  # all observed weight matched
    assert result["confidence"] == 0.75  # 30 of 40
    assert result["verdict"] == "qualified"
    assert result["tier"] == "A"


def test_low_confidence_caps_the_verdict_at_review():
    icp = {"name": "t", **LOGISTICS, "employees": {"min": 50}, "countries": {"include": ["DE"]}}
    result = score(signals(title="freight fleet"), icp)
    assert result["score"] == 100 and result["confidence"] < 0.5
    assert result["verdict"] == "review" and result["tier"] == "C"
    assert "could be observed" in reason(result, "confidence")["evidence"]


def test_nothing_observed_is_unknown_with_a_null_score():
    icp = {"name": "t", "employees": {"min": 50}, "technologies": {"any": ["HubSpot"]}}
    result = score(signals(), icp)
    assert result["score"] is None and result["verdict"] == "unknown"
    assert result["confidence"] == 0.0


def test_zero_weight_criteria_are_reported_but_not_scored():
    icp = {"name": "t", **LOGISTICS, "languages": ["de"], "weights": {"languages": 0}}
    result = score(signals(title="freight fleet", lang="fr"), icp)
    assert reason(result, "languages")["outcome"] == "mismatch"
    assert result["score"] == 100 and result["confidence"] == 1.0


@pytest.mark.parametrize(
    ("text", "verdict", "tier"),
    [
        ("freight fleet", "qualified", "A"),
        ("freight", "review", "C"),
        ("nothing relevant", "unqualified", "D"),
    ],
)
def test_verdicts_and_tiers_follow_thresholds(text, verdict, tier):
    icp = {**LOGISTICS, "name": "t", "thresholds": {"qualified": 80, "review": 40}}
    result = score(signals(text={"home": FILLER + " " + text}), icp)
    assert (result["verdict"], result["tier"]) == (verdict, tier)


def test_tier_b_is_qualified_with_moderate_confidence():
    icp = {"name": "t", **LOGISTICS, "employees": {"min": 50}, "weights": {"industries": 60,
           "employees": 40}}  # fmt: skip
    result = score(signals(title="freight fleet"), icp)
    assert result["confidence"] == 0.6 and (result["verdict"], result["tier"]) == (
        "qualified", "B",
    )  # fmt: skip


def test_score_is_pure():
    sig = signals(title="freight fleet", cues={"demo_cta": cue()})
    before = copy.deepcopy(sig)
    icp = {"name": "t", **LOGISTICS, "business_model": ["b2b"]}
    first = score(sig, icp)
    assert score(sig, icp) == first
    assert sig == before


def test_invalid_icp_is_rejected_by_score():
    with pytest.raises(ICPError):
        score(signals(), {"name": "t", "employees": {"min": "x"}})


def test_failure_signals_score_as_unknown_or_parked():
    error = {"code": "http_4xx", "message": "HTTP 404", "url": "https://x.company/"}
    failed = {"version": 1, "domain": "x.company", "error": error}
    result = score(failed, {"name": "t"})
    assert (result["verdict"], result["score"], result["error"]) == ("unknown", None, "http_4xx")
    parked = {**failed, "error": {**failed["error"], "code": "parked_domain"}}
    assert score(parked, {"name": "t"})["verdict"] == "unqualified"
