"""End to end: the qualifier against fixture sites served over real HTTP on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

import qualify.qualifiers.web as web
from qualify.errors import OurSideError, PermanentError, TransientError
from qualify.qualifiers import check_result
from qualify.settings import FetchSettings, Settings
from qualify.siteserver import SiteServer
from tests.web.conftest import gateway_settings, reason, reasons


def run(qualify: web.WebQualifier, domain: str, icp: dict[str, Any]) -> dict[str, Any]:
    result = qualify(domain, icp)
    check_result(result)  # the pipeline's own contract check
    json.dumps(result)  # everything must be JSON-serialisable
    return result


def test_clear_fit_is_qualified_with_reasons_that_quote_the_site(qualify, gateway, icp):
    result = run(qualify, "acme-freight.company", icp)
    assert result["verdict"] == "qualified"
    assert result["tier"] == "A"
    assert result["error"] is None
    assert result["score"] >= 90 and result["confidence"] == 1.0
    assert "js.hs-scripts.com" in reason(result, "technologies")["evidence"]
    assert "JSON-LD numberOfEmployees: 250" in reason(result, "employees")["evidence"]
    assert "+49 30 1234567" in reason(result, "countries")["evidence"]
    assert "freight" in reason(result, "industries")["evidence"]
    assert "Demo buchen" in reason(result, "business_model")["evidence"]
    assert reason(result, "technologies")["source_url"] == "https://acme-freight.company/"
    # Points add up to the score (rounding aside).
    assert abs(sum(r["points"] for r in result["reasons"]) - result["score"]) < 1
    # Same-site pages were read, the robots-disallowed one skipped.
    kinds = {p["kind"] for p in result["signals"]["pages"]}
    assert kinds == {"home", "about", "legal", "pricing"}
    assert gateway.requested("acme-freight.company", "/robots.txt")


def test_fit_from_prose_uses_about_page_and_skips_robots_disallowed_and_broken_pages(
    qualify, gateway, icp
):
    result = run(qualify, "fleetbase.company", icp)
    assert result["verdict"] == "qualified"
    assert "team of 80" in reason(result, "employees")["evidence"]
    assert reason(result, "employees")["source_url"] == "https://fleetbase.company/about"
    assert reason(result, "countries")["evidence"].startswith("CH")
    skipped = {s["url"]: s["code"] for s in result["signals"]["skipped_pages"]}
    assert skipped == {
        "https://fleetbase.company/careers": "robots_disallowed",
        "https://fleetbase.company/contact": "http_5xx",
    }
    # The careers page is disallowed by robots.txt: it was never requested.
    assert not gateway.requested("fleetbase.company", "/careers")
    assert gateway.requested("fleetbase.company", "/contact")
    assert [p["kind"] for p in result["signals"]["pages"]] == ["home", "about", "pricing"]


def test_shopify_shop_is_disqualified_by_technologies_none(qualify, icp):
    result = run(qualify, "shoply.company", icp)
    assert result["verdict"] == "unqualified"
    hard = reason(result, "hard_filters")
    assert "technologies.none" in hard["evidence"] and "cdn.shopify.com" in hard["evidence"]
    model = reason(result, "business_model")
    assert model["outcome"] == "mismatch"
    assert "Add to cart" in model["evidence"]


def test_excluded_keyword_in_title_is_a_confident_hard_filter(qualify, icp):
    result = run(qualify, "royal-casino.company", icp)
    assert result["verdict"] == "unqualified"
    assert "keywords.none" in reason(result, "hard_filters")["evidence"]
    assert "Crypto" in reason(result, "keywords")["evidence"]


def test_us_company_fails_the_countries_hard_filter_even_with_a_high_score(qualify, icp):
    result = run(qualify, "bigfreight.company", icp)
    assert result["verdict"] == "unqualified"
    assert result["score"] >= 45  # a good fit on everything but geography
    assert "hard filter countries: US" in reasons(result, "hard_filters")
    assert "hard filter employees: 5,000" in reasons(result, "hard_filters")
    assert "+1 415" in reason(result, "countries")["evidence"]
    assert "5,000" in reason(result, "employees")["evidence"]


@pytest.mark.parametrize(
    ("domain", "language", "country"),
    [("translyon.company", "fr", "FR"), ("logimadrid.company", "es", "ES")],
)
def test_other_languages_and_countries_are_read(qualify, icp, domain, language, country):
    result = run(qualify, domain, icp)
    assert reason(result, "languages")["outcome"] == "mismatch"
    assert reason(result, "languages")["evidence"].startswith(language)
    assert reason(result, "countries")["evidence"].startswith(country)
    assert reason(result, "business_model")["outcome"] == "match"  # demo CTA in its language
    assert result["verdict"] == "unqualified"


def test_german_freight_forwarder_is_not_logistics_software(qualify, icp):
    # windows-1252 page with its charset only in <meta>: umlauts must survive.
    result = run(qualify, "mueller-logistik.company", icp)
    assert result["signals"]["title"] == "Müller Logistik – Spedition und Lagerlogistik"
    assert reason(result, "industries")["outcome"] == "mismatch"
    assert reason(result, "employees")["outcome"] == "match"
    assert "Über 120 Mitarbeiter" in reason(result, "employees")["evidence"]
    assert result["verdict"] == "unqualified"


def test_employee_counts_partial_and_confident_mismatch(qualify, icp):
    small = run(qualify, "smallfleet.company", icp)
    assert reason(small, "employees")["outcome"] == "partial"
    assert "40 Mitarbeitern" in reason(small, "employees")["evidence"]
    tiny = run(qualify, "tinyfleet.company", icp)
    assert reason(tiny, "employees")["outcome"] == "mismatch"
    assert tiny["verdict"] == "unqualified"
    assert "hard filter employees" in reason(tiny, "hard_filters")["evidence"]
    # Without employees as a hard filter the same signals only lose points.
    soft = dict(icp, hard_filters=["countries"])
    rescored = web.score(tiny["signals"], soft)
    assert rescored["verdict"] != "unqualified" or rescored["score"] < 45
    assert not any(r["criterion"] == "hard_filters" for r in rescored["reasons"])


def test_consumer_app_is_a_business_model_mismatch(qualify, icp):
    result = run(qualify, "fitly.company", icp)
    model = reason(result, "business_model")
    assert model["outcome"] == "mismatch"
    assert "Download the app" in model["evidence"]
    assert result["verdict"] != "qualified"


def test_marketplace_is_partial_for_a_marketplace_icp_with_b2b_cues(qualify, icp):
    marketplace_icp = dict(icp, business_model=["marketplace"])
    result = run(qualify, "loadhub.company", marketplace_icp)
    model = reason(result, "business_model")
    assert model["outcome"] == "partial"
    assert "Become a seller" in model["evidence"]


def test_thin_single_page_app_goes_to_review_not_qualified(qualify, icp):
    result = run(qualify, "routely.company", icp)
    assert result["verdict"] == "review"
    assert result["confidence"] < 0.5
    assert reason(result, "countries")["evidence"] == "DE (JSON-LD addressCountry: Germany)"
    assert reason(result, "employees")["outcome"] == "unknown"
    assert reason(result, "confidence")["outcome"] == "partial"


def test_same_site_redirect_to_www(qualify, icp):
    result = run(qualify, "redirect-same.company", icp)
    assert result["verdict"] == "qualified"
    assert result["signals"]["final_url"] == "https://www.redirect-same.company/"
    assert result["signals"]["redirects"] == ["https://redirect-same.company/"]
    assert result["signals"]["offsite_redirect"] is None


def test_offsite_redirect_is_followed_and_said(qualify, icp):
    result = run(qualify, "old-brand.company", icp)
    assert result["signals"]["offsite_redirect"] == "acme-freight.company"
    assert "redirects to https://acme-freight.company/" in reason(result, "site")["evidence"]
    assert result["verdict"] == "qualified"


def test_redirect_to_an_excluded_domain_is_unqualified(qualify, icp):
    result = run(qualify, "old-brand.company", dict(icp, exclude_domains=["acme-freight.company"]))
    assert result["verdict"] == "unqualified"
    assert reason(result, "exclude_domains")["outcome"] == "mismatch"


def test_excluded_domain_is_not_fetched_at_all(qualify, gateway, icp):
    result = run(qualify, "shop.competitor.com", icp)
    assert result["verdict"] == "unqualified" and result["score"] is None
    assert "competitor.com" in reason(result, "exclude_domains")["evidence"]
    assert gateway.log == []


@pytest.mark.parametrize(
    ("domain", "code", "verdict"),
    [
        ("loop.company", "redirect_loop", "unknown"),
        ("too-many-redirects.company", "redirect_loop", "unknown"),
        ("to-private.company", "blocked_private_address", "unknown"),
        ("to-metadata.company", "blocked_private_address", "unknown"),
        ("to-localhost.company", "blocked_private_address", "unknown"),
        ("to-file.company", "blocked_private_address", "unknown"),
        ("huge.company", "too_large", "unknown"),
        ("declared-huge.company", "too_large", "unknown"),
        ("gzip-bomb.company", "too_large", "unknown"),
        ("pdf-home.company", "non_html", "unknown"),
        ("gone.company", "http_4xx", "unknown"),
        ("botwall.company", "bot_wall", "unknown"),
        ("robots-all.company", "robots_disallowed", "unknown"),
        ("robots-ours.company", "robots_disallowed", "unknown"),
        ("coming-soon.company", "thin_content", "unknown"),
        ("robots-5xx.company", "robots_unavailable", "unknown"),
        ("forsale-domain.company", "parked_domain", "unqualified"),
        ("domain-kaufen.company", "parked_domain", "unqualified"),
    ],
)
def test_permanent_failures_are_results_not_exceptions(qualify, icp, domain, code, verdict):
    result = run(qualify, domain, icp)
    assert result["error"] == code
    assert result["verdict"] == verdict
    assert result["tier"] == "D"
    assert result["score"] == (0 if verdict == "unqualified" else None)
    site = reason(result, "site")
    assert site["evidence"].startswith(code)
    # Re-scoring the stored signals reproduces the failure.
    assert web.score(result["signals"], icp)["error"] == code


def test_redirect_to_private_address_is_never_requested(qualify, gateway, icp):
    run(qualify, "to-private.company", icp)
    run(qualify, "to-localhost.company", icp)
    assert not gateway.requested("127.0.0.1") and not gateway.requested("localhost")


def test_robots_disallow_means_the_homepage_is_never_requested(qualify, gateway, icp):
    run(qualify, "robots-all.company", icp)
    assert gateway.requested("robots-all.company", "/robots.txt")
    assert not gateway.requested("robots-all.company", "/")


def test_bot_wall_reason_names_the_challenge(qualify, icp):
    result = run(qualify, "botwall.company", icp)
    assert "cf-mitigated" in reason(result, "site")["evidence"]


def test_parked_reason_quotes_the_parking_service(qualify, icp):
    result = run(qualify, "forsale-domain.company", icp)
    assert "sedoparking.com" in reason(result, "site")["evidence"]


@pytest.mark.parametrize(
    ("domain", "code", "retry_after"),
    [
        ("flaky.company", "http_5xx", 30.0),
        ("busy.company", "http_429", 120.0),
        ("down.company", "connect_failed", None),
        ("dns-flaky.company", "dns_temporary", None),
        ("timing-out.company", "timeout", None),
    ],
)
def test_transient_failures_raise_for_the_pipeline_to_retry(
    qualify, icp, domain, code, retry_after
):
    with pytest.raises(TransientError) as caught:
        qualify(domain, icp)
    assert caught.value.code == code
    assert caught.value.retry_after == retry_after
    assert domain in str(caught.value)


@pytest.mark.parametrize(
    ("domain", "code", "kind"),
    [("tls-only.company", "tls_invalid", "TLS handshake"),
     ("does-not-exist.company", "dns_nxdomain", "lookup")],
)  # fmt: skip
def test_failures_that_may_be_our_network_carry_the_result_they_would_be(
    qualify, icp, domain, code, kind
):
    # A name that does not resolve, a TLS handshake that fails: a dead site, or our network
    # down. The worker's outage breaker decides which; the result for "a dead site" travels
    # with the error.
    with pytest.raises(OurSideError) as caught:
        qualify(domain, icp)
    error = caught.value
    assert (error.code, error.kind, error.subject, error.scope) == (code, kind, domain, "network")
    assert not error.certain
    assert error.result is not None
    result = check_result(error.result)
    assert (result.verdict, result.extra["error"], result.extra["tier"]) == ("unknown", code, "D")
    assert reason(error.result, "site")["evidence"].startswith(code)


@pytest.mark.parametrize(
    ("domain", "code"),
    [("down.company", "connect_failed"), ("dns-flaky.company", "dns_temporary")],
)
def test_transient_failures_that_may_be_ours_carry_no_result(qualify, icp, domain, code):
    with pytest.raises(OurSideError) as caught:
        qualify(domain, icp)
    assert caught.value.code == code and caught.value.result is None


def test_robots_5xx_disallows_the_site_for_a_while_without_asking_again(qualify, gateway, icp):
    first = run(qualify, "robots-5xx.company", icp)
    again = run(qualify, "robots-5xx.company", icp)
    assert first["error"] == again["error"] == "robots_unavailable"
    assert "HTTP 503" in reason(first, "site")["evidence"]
    assert not gateway.requested("robots-5xx.company", "/")
    asked = [e for e in gateway.log if e[1:] == ("robots-5xx.company", "/robots.txt")]
    assert len(asked) == 1  # the second visit believed the cached "unavailable"


def test_slow_drip_is_cut_off_by_the_deadline(make_qualifier, gateway, icp):
    qualify = make_qualifier(gateway_settings(gateway, deadline=1.0))
    with pytest.raises(TransientError) as caught:
        qualify("slow-drip.company", icp)
    assert caught.value.code == "timeout"


def test_unreachable_gateway_is_a_transient_connect_failure(make_qualifier, server, icp):
    qualify = make_qualifier(
        FetchSettings(fetch_via="http://127.0.0.1:9/fetch?url={url}", host_delay=0.0)
    )
    with pytest.raises(TransientError) as caught:
        qualify("acme-freight.company", icp)
    assert caught.value.code == "connect_failed"


def test_https_failure_falls_back_to_http(qualify, icp):
    result = run(qualify, "tls-then-http.company", icp)
    assert result["error"] is None
    assert result["signals"]["final_url"] == "http://tls-then-http.company/"


def test_missing_apex_falls_back_to_www(qualify, icp):
    result = run(qualify, "www-only.company", icp)
    assert result["error"] is None
    assert result["signals"]["final_url"] == "https://www.www-only.company/"


@pytest.mark.parametrize("domain", ["localhost", "10.0.0.1", "not a domain", "acme.invalid", ""])
def test_invalid_domains_raise_permanent_invalid_input(qualify, gateway, icp, domain):
    with pytest.raises(PermanentError) as caught:
        qualify(domain, icp)
    assert caught.value.code == "invalid_input"
    assert gateway.log == []


def test_rescoring_stored_signals_matches_and_follows_a_new_icp(qualify, icp):
    result = run(qualify, "acme-freight.company", icp)
    stored = json.loads(json.dumps(result["signals"]))  # as if read back from the store
    again = web.score(stored, icp)
    assert {k: again[k] for k in ("score", "verdict", "tier", "reasons")} == {
        k: result[k] for k in ("score", "verdict", "tier", "reasons")
    }
    swiss_only = dict(icp, countries={"include": ["CH"], "exclude": []})
    moved = web.score(stored, swiss_only)
    assert moved["verdict"] == "unqualified"
    assert "hard filter countries" in reason(moved, "hard_filters")["evidence"]


def test_qualifier_exposes_validate_icp(icp):
    web.WebQualifier.validate_icp(icp)  # no instance (and no settings) needed
    with pytest.raises(Exception, match=r"employees\.min: expected an integer"):
        web.WebQualifier.validate_icp(dict(icp, employees={"min": "fifty"}))


def test_environment_configures_gateway_mode(make_qualifier, server: SiteServer, icp, monkeypatch):
    monkeypatch.setenv("QUALIFY_FETCH_VIA", server.fetch_via)
    settings = Settings.resolve().with_fetch(host_delay=0.0)  # overrides merge with it
    qualify = make_qualifier(settings.fetch)
    server.clear_log()
    result = qualify("acme-freight.company", icp)
    assert result["verdict"] == "qualified"
    assert server.requested("acme-freight.company", "/")
