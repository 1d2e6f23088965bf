"""Quote verification: normalised exact matches, fuzzy ones recorded as such, and quotes
that prove nothing (invented, too short) left unverified."""

from __future__ import annotations

import pytest

from qualify.qualifiers.llm import grounding

PAGE = (
    "Fleetbase is the platform that logistics companies use to track their fleet, plan "
    "routes and share shipment ETAs with customers. Founded in Zürich in 2016 \u2014 a team "
    "of 80 engineers. We\u2019re \u201ctrusted\u201d by freight forwarders across Europe."
)


@pytest.mark.parametrize(
    "quote",
    [
        "the platform that logistics companies use to track their fleet",
        "THE PLATFORM that   logistics\ncompanies use",  # case and whitespace
        'We\'re "trusted" by freight forwarders',  # straight quotes for curly ones
        "Founded in Zürich in 2016 - a team of 80 engineers",  # a hyphen for an em dash
        "Founded in Zu\u0308rich in 2016",  # decomposed umlaut (NFKC)
        "Fleetbase is the platform\u00a0that logistics",  # non-breaking space
    ],
)
def test_a_quote_retyped_with_other_characters_is_exact(quote: str) -> None:
    assert grounding.verify(quote, PAGE).status == grounding.EXACT


def test_an_elided_quote_is_checked_piece_by_piece_in_order() -> None:
    assert grounding.verify("Fleetbase is the platform ... share shipment ETAs", PAGE).verified
    # The same pieces in the wrong order were not on the page like that.
    wrong = grounding.verify("share shipment ETAs with customers ... Fleetbase is the", PAGE)
    assert wrong.status != grounding.EXACT


def test_a_nearly_exact_quote_is_fuzzy_with_its_ratio() -> None:
    check = grounding.verify(
        "the platform that logistic companies use to track the fleet and plan routes", PAGE
    )
    assert check.status == grounding.FUZZY
    assert grounding.FUZZY_THRESHOLD <= check.ratio < 1


@pytest.mark.parametrize(
    "quote",
    [
        "the leading logistics platform for DACH enterprises",  # invented
        "we serve over 500 enterprise customers in Germany and Austria",
        "Fleetbase is a marketing agency for fashion brands",  # words from the page, remixed
    ],
)
def test_an_invented_quote_is_unverified(quote: str) -> None:
    check = grounding.verify(quote, PAGE)
    assert check.status == grounding.UNVERIFIED
    assert check.why == "quote not found on the cited page"


@pytest.mark.parametrize("quote", [".", "", "   ", "Fleetbase", "a b c", "—"])
def test_a_quote_too_short_to_prove_anything_is_unverified(quote: str) -> None:
    check = grounding.verify(quote, PAGE)
    assert check.status == grounding.UNVERIFIED
    assert check.why == "quote too short to verify"


def test_a_fuzzy_quote_that_alters_a_figure_is_unverified() -> None:
    # One digit more aligns at over 0.9, and is exactly what a size criterion turns on.
    check = grounding.verify("Founded in Zürich in 2016 - a team of 800 engineers", PAGE)
    assert check.status == grounding.UNVERIFIED
    assert check.why == "figure 800 is not on the page"
    # Retyped figures that are on the page stay fuzzy.
    kept = grounding.verify("Founded in Zurich in 2016 - a team of 80 engineers", PAGE)
    assert kept.status == grounding.FUZZY


@pytest.mark.parametrize(
    ("claim", "verified"),
    [
        ("The company has 80 engineers.", True),
        ("It was founded in 2016 and has 80 engineers.", True),
        ("The company has about 250 employees.", False),  # not what the quote says
        ("It is a mid-sized engineering company.", True),  # no figure to hold it to
    ],
)
def test_the_quote_must_hold_the_figures_its_claim_states(claim: str, verified: bool) -> None:
    check = grounding.verify("Founded in Zürich in 2016 — a team of 80 engineers", PAGE, claim)
    assert check.verified is verified, check
    if not verified:
        assert check.why == "the claim's 250 is not in the quote"


@pytest.mark.parametrize("written", ["1,000", "1.000", "1000", "1 000"])
def test_figures_are_compared_without_their_separators(written: str) -> None:
    assert grounding.figures(f"over {written} trucks") == {"1000"}
