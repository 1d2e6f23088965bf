"""Signal extraction from HTML: technologies, JSON-LD, countries, sizes, cues, links."""

from __future__ import annotations

import json

import pytest

from qualify.qualifiers.web import extract, language, site_signals, walls
from qualify.qualifiers.web.fingerprints import table
from tests.web.sites import page

URL = "https://acme.company/"


def parse(html: str, **kwargs):
    signals, links = extract.parse_page(html, URL, **kwargs)
    json.dumps(signals)
    return signals, links


def techs(signals) -> dict[str, str]:
    return {t["name"]: t["evidence"] for t in signals["technologies"]}


def test_fingerprint_table_is_large_and_consistent():
    fingerprints = table()
    assert len(fingerprints.names) >= 100
    categories = {fp.category for fp in fingerprints.by_host.values()}
    assert {"crm", "analytics", "chat", "cdp", "ecommerce", "cms"} <= categories
    assert fingerprints.host_match("acme.my.force.com").name == "Salesforce"
    assert fingerprints.host_match("example.com") is None


@pytest.mark.parametrize(
    ("snippet", "name", "evidence"),
    [
        ('<script src="https://js.hs-scripts.com/1.js"></script>', "HubSpot",
         "script from js.hs-scripts.com"),
        ("<script>(function(w,d,s,l,i){j.src='https://www.googletagmanager.com/gtm.js?id='+i"
         "})(window,document,'script','dataLayer','GTM-X');</script>", "Google Tag Manager",
         "googletagmanager.com/gtm.js"),
        ('<script>var cfg={"src":"https:\\/\\/widget.intercom.io\\/widget\\/abc"}</script>',
         "Intercom", "widget.intercom.io"),
        ('<meta name="generator" content="WordPress 6.5">', "WordPress",
         "meta generator 'WordPress 6.5'"),
        ('<link rel="stylesheet" href="/wp-content/themes/x/style.css">', "WordPress",
         "/wp-content/"),
        ('<noscript><img src="https://px.ads.linkedin.com/collect/?pid=1"></noscript>',
         "LinkedIn Insight Tag", "px.ads.linkedin.com"),
        ('<iframe src="https://fast.wistia.net/embed/iframe/x"></iframe>', "Wistia",
         "fast.wistia.net"),
        ('<script id="__NEXT_DATA__" type="application/json">{}</script>', "Next.js",
         "__next_data__"),
    ],
)  # fmt: skip
def test_technologies_from_markup(snippet, name, evidence):
    signals, _ = parse(page("T", "<p>x</p>", head=snippet))
    assert evidence in techs(signals)[name]


def test_technologies_from_headers_and_cookies():
    signals, _ = parse(
        page("T", "<p>x</p>"),
        headers={"server": "cloudflare", "x-shopid": "42"},
        cookies=["_shopify_y", "hubspotutk"],
    )
    found = techs(signals)
    assert found["Cloudflare"] == "response header server: cloudflare"
    assert found["Shopify"] == "response header x-shopid: 42"
    assert found["HubSpot"] == "cookie hubspotutk"
    assert "ecommerce_platform" in signals["cues"]


def test_own_host_and_unknown_hosts_are_not_technologies():
    body = (
        '<img src="https://acme.company/logo.png">'
        '<script src="https://cdn.unknown-vendor.company/x.js"></script>'
    )
    signals, _ = parse(page("T", body))
    assert signals["technologies"] == []


def test_jsonld_organization_in_a_graph():
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Acme"},
            {
                "@type": ["Organization", "Corporation"],
                "name": "Acme AG",
                "numberOfEmployees": {"@type": "QuantitativeValue", "minValue": 51,
                                      "maxValue": 200},
                "address": [{"@type": "PostalAddress", "addressCountry": {"name": "CH"}}],
                "foundingDate": "2009-05-01",
                "sameAs": "https://www.linkedin.com/company/acme",
            },
        ],
    }  # fmt: skip
    signals, _ = parse(page("T", "<p>x</p>", jsonld=ld))
    org = signals["organization"]
    assert org["name"] == "Acme AG" and org["country"] == "CH"
    assert org["employees"]["min"] == 51 and org["employees"]["max"] == 200
    assert org["employees"]["evidence"] == "JSON-LD numberOfEmployees: 51-200"
    assert org["founding_date"] == "2009-05-01"
    assert org["same_as"] == ["https://www.linkedin.com/company/acme"]


def test_broken_jsonld_is_ignored():
    html = page("T", "<p>x</p>", head='<script type="application/ld+json">{oops</script>')
    signals, _ = parse(html)
    assert signals["organization"] is None


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("Heute arbeiten über 250 Mitarbeiterinnen und Mitarbeiter bei uns.", 250, 375),
        ("We are a team of 40 engineers.", 40, 40),
        ("With 1,200 employees in nine countries.", 1200, 1200),
        ("Mehr als 300 Mitarbeitende in Wien.", 300, 450),
        ("Plus de 200 collaborateurs en France.", 200, 300),
        ("Company size: 51-200 employees.", 51, 200),
    ],
)
def test_employee_counts_in_prose(text, lo, hi):
    signals, _ = parse(page("T", f"<p>{text}</p>"))
    assert (signals["employees"][0]["min"], signals["employees"][0]["max"]) == (lo, hi)


@pytest.mark.parametrize(
    "text", ["Since 2015 employees have loved it.", "Trusted by 5,000 customers.", "Call 0800 1234"]
)
def test_numbers_that_are_not_headcounts(text):
    signals, _ = parse(page("T", f"<p>{text}</p>"))
    assert signals["employees"] == []


def test_country_hints_from_footer_and_legal_page():
    footer = "© 2024 Acme Freight GmbH · Friedrichstraße 1 · D-10117 Berlin · +49 30 1234567"
    signals, _ = parse(page("T", "<p>Prices from 49 € a month.</p>", footer=footer))
    kinds = {(h["kind"], tuple(h["countries"])) for h in signals["country_hints"]}
    assert ("phone", ("DE",)) in kinds
    assert ("address", ("DE",)) in kinds
    assert ("legal_form", ("DE", "AT", "CH")) in kinds
    assert any(h["kind"] == "currency" for h in signals["country_hints"])
    address = next(h for h in signals["country_hints"] if h["kind"] == "address")
    assert address["evidence"].startswith("footer: '") and "D-10117 Berlin" in address["evidence"]
    legal, _ = extract.parse_page(
        page("Impressum", "<p>Acme Ltd, 1 King Street, London, United Kingdom</p>"),
        URL + "imprint", kind="legal",
    )  # fmt: skip
    assert {"GB"} <= {c for h in legal["country_hints"] for c in h["countries"]}


def test_site_level_hints_cctld_language_and_jsonld():
    home, _ = extract.parse_page(page("T", "<p>x</p>", lang="de-AT"), "https://acme.co.at/")
    site = site_signals.merge_site("acme.co.at", [home], final_url="https://acme.co.at/")
    kinds = {(h["kind"], tuple(h["countries"])) for h in site["country_hints"]}
    assert ("cctld", ("AT",)) in kinds and ("language", ("AT",)) in kinds
    generic, _ = extract.parse_page(page("T", "<p>x</p>"), "https://acme.io/")
    assert (
        site_signals.merge_site("acme.io", [generic], final_url="https://acme.io/")["country_hints"]
        == []
    )


def test_cues_in_several_languages_with_quotes():
    body = (
        "<p>Jetzt Demo vereinbaren oder kostenlos testen.</p><p>Nos études de cas.</p>"
        "<button>In den Warenkorb</button><p>SOC 2 Type II certified.</p>"
    )
    signals, _ = parse(page("T", body))
    cues = signals["cues"]
    assert "Demo vereinbaren" in cues["demo_cta"]["evidence"]
    assert "kostenlos testen" in cues["free_trial"]["evidence"]
    assert "études de cas" in cues["case_studies"]["evidence"]
    assert "In den Warenkorb" in cues["cart"]["evidence"]
    assert "SOC 2" in cues["security_compliance"]["evidence"]


def test_cue_phrases_match_whole_words_only():
    signals, _ = parse(page("T", "<p>Die Krankenkasse zahlt. Our saasy brand.</p>"))
    assert "checkout" not in signals["cues"] and "enterprise" not in signals["cues"]


def test_navigation_social_profiles_job_boards_and_app_stores():
    body = (
        '<a href="/ueber-uns">Über uns</a><a href="/en/pricing/">Plans</a>'
        '<a href="https://acme.company/karriere">Jobs</a><a href="kontakt.html">Kontakt</a>'
        '<a href="/legal">Impressum</a>'
        '<a href="https://de.linkedin.com/company/acme">LinkedIn</a>'
        '<a href="https://twitter.com/intent/tweet?url=x">Share</a>'
        '<a href="https://x.com/acme">X</a>'
        '<a href="https://boards.greenhouse.io/acme">Open roles</a>'
        '<a href="https://apps.apple.com/app/id1">App Store</a>'
    )  # fmt: skip
    signals, links = parse(page("T", body))
    assert links.nav == {
        "about": "https://acme.company/ueber-uns",
        "pricing": "https://acme.company/en/pricing/",
        "careers": "https://acme.company/karriere",
        "contact": "https://acme.company/kontakt.html",
        "legal": "https://acme.company/legal",
    }
    assert signals["social"] == {
        "linkedin": "https://de.linkedin.com/company/acme", "x": "https://x.com/acme",
    }  # fmt: skip
    assert signals["cues"]["job_board"]["evidence"] == "link to boards.greenhouse.io"
    assert signals["cues"]["consumer_app"]["evidence"] == "link to apps.apple.com"
    assert {"pricing_page", "careers_page", "social_profiles"} <= set(signals["cues"])


def test_text_excludes_chrome_but_cues_see_it():
    html = page(
        "T", "<p>Main copy about freight.</p>",
        nav='<a href="/demo">Book a demo</a>', footer="Acme Ltd, London",
    )  # fmt: skip
    signals, _ = parse(html)
    assert signals["text"] == "Main copy about freight."
    assert signals["footer"] == "Acme Ltd, London"
    assert "demo_cta" in signals["cues"]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Wir sind die Plattform für die Logistik und wir helfen mit der Software von uns "
         "den Speditionen, die nicht warten wollen, und sie sind auf dem Weg zu einer", "de"),
        ("We are the platform for the logistics industry and we help you with the tools that "
         "your team needs to move freight from the port to the customer on time", "en"),
        ("Nous sommes la plateforme pour les transporteurs et nous aidons les entreprises de "
         "la logistique avec des outils pour le fret et la gestion des flottes dans", "fr"),
        ("short text", None),
    ],
)  # fmt: skip
def test_language_detection(text, lang):
    assert language.detect(text.lower()) == lang


def test_parked_and_bot_wall_detection_rules():
    assert walls.detect_parked("Welcome", ["https://img.sedoparking.com/x.js"], [], 10)
    assert walls.detect_parked("This domain is for sale", [], [], 20)
    # A long, real page that happens to mention domain parking is not parked.
    assert walls.detect_parked("domain parking " + "word " * 700, [], [], 702) is None
    assert walls.detect_parked("Jordan shoes", ["https://jordan.com/x.js"], [], 10) is None
    assert walls.detect_bot_wall(503, {}, "<title>Just a moment...</title>")
    big = "<p>challenge-platform</p>" + "x" * 50_000
    assert walls.detect_bot_wall(200, {}, big) is None
    assert walls.detect_bot_wall(200, {"x-datadome": "protected"}, "ok") is None
    assert walls.detect_bot_wall(403, {"x-datadome": "protected"}, "ok")


@pytest.mark.parametrize(
    "html",
    [
        "", "<", "\x00\x01\x02 binary", "<html><body>" + "<div>" * 500 + "deep",
        "<script>never closed", "<a href='http://[::1'>bad url</a>",
        '<script type="application/ld+json">' + "[" * 10_000 + "</script>",
        "<meta name=generator content=''><title></title>" + "<p>x</p>" * 20_000,
    ],
)  # fmt: skip
def test_hostile_markup_does_not_crash_extraction(html):
    signals, _ = parse(html)
    site = site_signals.merge_site("acme.company", [signals], final_url=URL)
    json.dumps(site)


def test_absurd_nesting_is_cut_before_parsing():
    deep = "<html><head><title>Deep</title></head><body><p>start</p>" + "<div>" * 60_000
    signals, _ = parse(deep + "<p>tail</p></body></html>")
    assert signals["title"] == "Deep" and "start" in signals["text"]
    assert "tail" not in signals["text"]
    # Many tags at a sane depth are left alone.
    flat = "<html><body>" + "<div><p>x</p></div>" * 15_000 + "<p>tail</p></body></html>"
    assert extract.bound_depth(flat) is flat
