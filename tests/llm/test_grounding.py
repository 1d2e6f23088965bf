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
