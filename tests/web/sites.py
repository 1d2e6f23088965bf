"""Fixture sites for the web qualifier tests, all under reserved .company names.

Each entry documents what it covers. The example ICP (qualify/examples/icp.json) wants
DACH logistics/supply-chain software, B2B, 50-1000 employees, HubSpot or Segment, no
Shopify, no crypto/casino, German or English, with pricing, demo and careers cues.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

from qualify.siteserver import Request, Resp, Site
from tests.web.streams import drip, endless

HUBSPOT = '<script id="hs-script-loader" src="//js.hs-scripts.com/4711.js"></script>'
SEGMENT = '<script src="https://cdn.segment.com/analytics.js/v1/abc/analytics.min.js"></script>'
SHOPIFY = '<script src="https://cdn.shopify.com/s/files/1/0001/theme.js"></script>'


def page(
    title: str,
    body: str,
    *,
    lang: str | None = "en",
    description: str = "",
    head: str = "",
    jsonld: dict[str, Any] | None = None,
    nav: str = "",
    footer: str = "",
    charset: str = "utf-8",
) -> str:
    lang_attr = f' lang="{lang}"' if lang else ""
    ld = f'<script type="application/ld+json">{json.dumps(jsonld)}</script>' if jsonld else ""
    meta = f'<meta name="description" content="{description}">' if description else ""
    return (
        f'<!doctype html><html{lang_attr}><head><meta charset="{charset}"><title>{title}</title>'
        f"{meta}{head}{ld}</head><body><header><nav>{nav}</nav></header><main>{body}</main>"
        f"<footer>{footer}</footer></body></html>"
    )


def html(text: str, **headers: str) -> Resp:
    return Resp(200, text, dict(headers))


def redirect(location: str, status: int = 301) -> Resp:
    return Resp(status, "", {"Location": location}, content_type=None)


def failure(code: str) -> Resp:
    """What the gateway answers when it cannot reach the target."""
    return Resp(502, f"gateway: {code}", {"X-Qualify-Error": code}, "text/plain")


# -- clear fit: German logistics SaaS, every criterion observed -------------------------
ACME_NAV = (
    '<a href="/ueber-uns">Über uns</a><a href="/preise">Preise</a>'
    '<a href="/karriere">Karriere</a><a href="/impressum">Impressum</a>'
    '<a class="btn" href="/demo">Demo buchen</a>'
)
ACME = {
    "/": html(
        page(
            "Acme Freight – Software für Spedition und Logistik",
            "<h1>Die Plattform für moderne Speditionen</h1>"
            "<p>Acme Freight digitalisiert Transportaufträge, Tourenplanung und Fuhrpark. "
            "Über unsere offene API verbinden sich Speditionen, 3PL-Dienstleister und "
            "Verlader in Echtzeit. Mehr als 400 Logistikunternehmen in Deutschland, "
            "Österreich und der Schweiz steuern ihre Sendungen mit Acme.</p>"
            "<h2>Fallstudien</h2><p>Lesen Sie, wie die Spedition Huber ihre Leerfahrten um "
            "30 Prozent gesenkt hat. Wir sind ISO 27001 zertifiziert.</p>"
            '<a href="https://www.linkedin.com/company/acme-freight">LinkedIn</a>',
            lang="de",
            description="Transportmanagement und Fuhrpark-Software für Speditionen und 3PL.",
            head=HUBSPOT
            + SEGMENT
            + '<link rel="alternate" hreflang="en" href="https://acme-freight.company/en/">',
            jsonld={
                "@context": "https://schema.org",
                "@type": "Organization",
                "name": "Acme Freight GmbH",
                "numberOfEmployees": {"@type": "QuantitativeValue", "value": 250},
                "address": {"@type": "PostalAddress", "addressCountry": "DE"},
                "foundingDate": "2014",
                "sameAs": ["https://www.linkedin.com/company/acme-freight"],
            },
            nav=ACME_NAV,
            footer="© 2024 Acme Freight GmbH, Friedrichstraße 1, 10117 Berlin · "
            "Tel. +49 30 1234567 · "
            '<a href="https://jobs.personio.de/acme-freight">Jobs bei Acme</a>',
        ),
        **{"Set-Cookie": "hubspotutk=abc; Path=/"},
    ),
    "/ueber-uns": html(
        page(
            "Über uns – Acme Freight",
            "<h1>Über uns</h1><p>Gegründet 2014 in Berlin. Heute arbeiten über 250 "
            "Mitarbeiterinnen und Mitarbeiter an der Zukunft der Logistik.</p>",
            lang="de",
            nav=ACME_NAV,
        )
    ),
    "/impressum": html(
        page(
            "Impressum",
            "<h1>Impressum</h1><p>Acme Freight GmbH<br>Friedrichstraße 1<br>10117 Berlin<br>"
            "Deutschland</p><p>Handelsregister: HRB 123456 B, Amtsgericht Charlottenburg</p>",
            lang="de",
            nav=ACME_NAV,
        )
    ),
    "/preise": html(
        page(
            "Preise – Acme Freight",
            "<h1>Preise</h1><p>Starter ab 490 € pro Monat, Business ab 1.490 € pro Monat. "
            "Enterprise: Vertrieb kontaktieren.</p>",
            lang="de",
            nav=ACME_NAV,
        )
    ),
    "/robots.txt": Resp(200, "User-agent: *\nDisallow: /intern/\n", content_type="text/plain"),
}

# -- fit from prose only: Swiss fleet SaaS in English (no JSON-LD) ----------------------
FLEETBASE_NAV = (
    '<a href="/about">About</a><a href="/pricing">Pricing</a><a href="/careers">Careers</a>'
    '<a href="/contact">Contact</a><a href="/demo">Book a demo</a>'
)
FLEETBASE = {
    "/": html(
        page(
            "Fleetbase – Fleet management software for logistics teams",
            "<h1>Fleet management, simplified</h1><p>Fleetbase is the platform that "
            "logistics companies use to track their fleet, plan routes and share shipment "
            "ETAs with customers. Connect your TMS through our REST API and integrations "
            "with SAP and Microsoft Dynamics. Trusted by freight forwarders across Europe; "
            "read our customer stories.</p><p>Dispatchers see every truck, trailer and "
            "driver on one live map, get warned about delays before customers call, and "
            "plan tomorrow's tours in minutes instead of hours. Drivers use a simple mobile "
            "app for checklists, documents and proof of delivery, which lands in your "
            "back office the moment it is signed.</p>",
            description="Fleet tracking and route planning for freight forwarders.",
            head=SEGMENT,
            nav=FLEETBASE_NAV,
            footer="© Fleetbase AG, Bahnhofstrasse 10, 8001 Zürich, Switzerland. +41 44 123 45 67",
        )
    ),
    "/about": html(
        page(
            "About Fleetbase",
            "<h1>About us</h1><p>Founded in Zurich in 2016, we are a team of 80 engineers, "
            "dispatchers and logistics experts.</p>",
            nav=FLEETBASE_NAV,
        )
    ),
    "/pricing": html(
        page(
            "Pricing",
            "<p>Team: CHF 49 per vehicle and month. Enterprise: contact sales.</p>",
            nav=FLEETBASE_NAV,
        )
    ),
    "/contact": Resp(500, "<html><body>Internal error</body></html>"),
    # robots.txt shuts the careers page for everyone: it must be skipped, not fetched.
    "/robots.txt": Resp(200, "User-agent: *\nDisallow: /careers\n", content_type="text/plain"),
}

# -- B2C shop on Shopify: technologies.none hard filter, e-commerce cues ------------------
SHOPLY = {
    "/": html(
        page(
            "Shoply – Sneakers & Streetwear",
            "<h1>New season sneakers</h1><p>Free shipping on orders over 50 €.</p>"
            '<div class="product"><h2>Runner One</h2><p>89,95 €</p>'
            "<button>Add to cart</button></div>"
            '<div class="product"><h2>Court Classic</h2><p>79,95 €</p>'
            "<button>Add to cart</button></div><p>Sign up for our newsletter and get 10% "
            "off your first order. Gift cards available for every occasion, delivered to "
            "your inbox in minutes. Returns are free within 30 days.</p>"
            "<p>Our sneakers are made for everyday life in the city, with recycled uppers and "
            "soft soles that you will love from the first step to the last. Browse the full "
            "collection for women, men and kids, find your size and check out in seconds.</p>",
            lang="de",
            head=SHOPIFY,
            jsonld={
                "@context": "https://schema.org",
                "@type": "Product",
                "name": "Runner One",
                "offers": {"@type": "Offer", "price": "89.95", "priceCurrency": "EUR"},
            },
            nav='<a href="/cart">Warenkorb</a>',
            footer="© Shoply GmbH, München",
        ),
        **{"X-ShopId": "123", "Set-Cookie": "_shopify_y=1; Path=/"},
    ),
}

# -- casino: keywords.none hard filter ----------------------------------------------------
CASINO = {
    "/": html(
        page(
            "Royal Crypto Casino – Play slots with Bitcoin",
            "<h1>The crypto casino with instant payouts</h1><p>Join the best online casino: "
            "deposit crypto, play 2,000 slots and win. Our casino platform is licensed in "
            "Curaçao. Fast API-driven payouts in crypto and fiat for every player, every "
            "day of the week, with live dealers, jackpots and weekly tournaments.</p>",
            footer="Royal Gaming N.V., Willemstad",
        )
    ),
}

# -- US logistics software: countries hard filter, employees far above range ------------
BIGFREIGHT = {
    "/": html(
        page(
            "BigFreight – The freight platform for America's shippers",
            "<h1>Move freight smarter</h1><p>BigFreight is the logistics platform trusted "
            "by 20,000 shippers. Our API connects carriers, 3PLs and fleet operators across "
            "North America. With more than 5,000 employees in 12 offices we support "
            "customers around the clock. Book a demo to see it live.</p>",
            head=HUBSPOT,
            nav='<a href="/pricing">Pricing</a>',
            footer="© 2024 BigFreight Inc., 500 Market Street, San Francisco, CA 94105, "
            "USA · +1 415 555 0100",
        )
    ),
}

# -- French and Spanish logistics software: countries and languages mismatch ------------
TRANSPORTS_LYON = {
    "/": html(
        page(
            "TransLyon – Logiciel de gestion de transport (TMS) pour les 3PL",
            "<h1>Le TMS des transporteurs et des 3PL</h1><p>TransLyon est la plateforme de "
            "gestion de flotte et de fret pour les transporteurs. Nous aidons les "
            "entreprises de transport à planifier leurs tournées et à suivre chaque "
            "expédition. Demander une démo : notre équipe vous répond sous 24 heures. "
            "Nous sommes une entreprise de 120 collaborateurs basée à Lyon.</p>",
            lang="fr",
            description="Logiciel TMS pour transporteurs et 3PL.",
            nav='<a href="/tarifs">Tarifs</a><a href="/mentions-legales">Mentions légales</a>',
            footer="TransLyon SAS, 12 rue de la République, 69002 Lyon, France. "
            "Tél. +33 4 72 00 00 00",
        )
    ),
}
LOGISTICA_MADRID = {
    "/": html(
        page(
            "LogiMadrid – Software de logística y gestión de flotas",
            "<h1>La plataforma para empresas de transporte</h1><p>LogiMadrid es el software "
            "de gestión de flotas y almacenes para empresas de logística. Integraciones con "
            "los principales ERP y una API abierta. Solicita una demo y descubre por qué "
            "más de 300 empresas confían en nosotros. Somos un equipo de 60 empleados en "
            "Madrid y Barcelona.</p>",
            lang="es",
            footer="LogiMadrid S.L., Calle de Alcalá 50, 28014 Madrid, España · +34 91 123 45 67",
        )
    ),
}

# -- employees: near the range (partial), far below (mismatch), not stated (unknown) ----
SMALLFLEET = {
    "/": html(
        page(
            "SmallFleet – Fuhrparkmanagement für Handwerksbetriebe",
            "<h1>Ihr Fuhrpark im Griff</h1><p>SmallFleet ist die Software für das "
            "Fuhrparkmanagement kleiner Logistik- und Handwerksbetriebe. Wir sind ein Team "
            "von 40 Mitarbeitern in Hamburg und entwickeln unsere Plattform gemeinsam mit "
            "unseren Kunden. Jetzt kostenlos testen oder eine Demo vereinbaren.</p>",
            lang="de",
            head=HUBSPOT,
            footer="SmallFleet GmbH · Hamburg · +49 40 999 888",
        )
    ),
}
TINYFLEET = {
    "/": html(
        page(
            "TinyFleet – Fleet tracking for small logistics companies",
            "<h1>Fleet tracking that just works</h1><p>TinyFleet is a fleet tracking "
            "platform for small logistics companies. We are 6 employees in Graz and love "
            "building simple software with a clean API for freight dispatchers. Start your "
            "trial today.</p><p>Every vehicle shows up on one live map, with arrival times "
            "your customers can follow themselves. Drivers get a small app that works "
            "offline and uploads proof of delivery as soon as they are back in coverage. "
            "Dispatchers see delays before they happen and can reroute with one click. "
            "Reports on mileage, idle time and fuel land in your inbox every Monday, and "
            "everything can be exported to your accounting tool.</p>",
            footer="TinyFleet GmbH, Graz, Austria",
        )
    ),
}

# -- consumer app (B2C): business model mismatch ----------------------------------------
FITAPP = {
    "/": html(
        page(
            "Fitly – Your personal running coach",
            "<h1>Run further with Fitly</h1><p>Fitly is the running app that builds a "
            "training plan around your life. Track every run, join challenges with friends "
            "and get tips from our coaches. Download the app for iPhone and Android and start "
            "your first run today. Loved by more than a million runners in Germany.</p>"
            '<a href="https://apps.apple.com/app/fitly/id123">App Store</a>'
            '<a href="https://play.google.com/store/apps/details?id=fitly">Google Play</a>',
            lang="de",
            footer="Fitly GmbH, Köln",
        )
    ),
}

# -- freight marketplace with B2B cues: business model partial ----------------------------
FREIGHTMARKET = {
    "/": html(
        page(
            "LoadHub – The online marketplace for freight",
            "<h1>The freight marketplace connecting shippers and carriers</h1><p>LoadHub is "
            "the online marketplace for road freight in Europe: shippers post loads, "
            "carriers bid. Over 10,000 transport companies use LoadHub every day. "
            "Become a seller of transport capacity in minutes. For large shippers we offer "
            "an enterprise plan and a freight API; request a demo.</p>",
            footer="LoadHub GmbH, Wien, Österreich · +43 1 234 56 78",
        )
    ),
}

# -- single-page app: thin text but JSON-LD; low confidence -> review -----------------
SPA = {
    "/": html(
        page(
            "Routely – Fleet API",
            '<div id="root"></div><noscript>You need to enable JavaScript to run this app.'
            "</noscript>",
            jsonld={
                "@context": "https://schema.org",
                "@type": "Organization",
                "name": "Routely GmbH",
                "address": {"addressCountry": "Germany"},
            },
        )
    ),
}

# -- legacy encoding: windows-1252 bytes, charset only in <meta> ----------------------
LEGACY = {
    "/": Resp(
        200,
        page(
            "Müller Logistik – Spedition und Lagerlogistik",
            "<h1>Lösungen für Ihre Spedition</h1><p>Seit 1950 organisieren wir Transporte "
            "für Industrie und Handel. Unsere Lagerlogistik in Nürnberg bietet 20.000 "
            "Palettenstellplätze. Über 120 Mitarbeiter kümmern sich um Ihre Sendungen.</p>"
            "<h2>Unsere Leistungen</h2><p>Wir übernehmen Teilladungen und Komplettladungen "
            "in ganz Europa, lagern Ihre Waren sicher ein und kommissionieren Ihre "
            "Bestellungen am selben Tag. Unsere Disponenten kennen jede Strecke zwischen "
            "Hamburg und Mailand, und unsere eigenen Lkw fahren täglich nach Österreich, in "
            "die Schweiz und nach Italien. Gefahrgut, Kühltransporte und Sondertransporte "
            "gehören ebenso zu unserem Alltag wie die Zollabwicklung für Kunden aus der "
            "Schweiz. Als Familienunternehmen in dritter Generation legen wir Wert auf "
            "persönliche Ansprechpartner, kurze Wege und faire Preise. Fragen Sie uns nach "
            "einem Angebot für Ihre nächste Sendung oder besuchen Sie uns in Nürnberg, wo "
            "wir seit über siebzig Jahren zu Hause sind und jedes Jahr junge Menschen zu "
            "Berufskraftfahrern und Kaufleuten für Spedition und Logistikdienstleistung "
            "ausbilden.</p>",
            lang="de",
            charset="windows-1252",
            footer="Müller Logistik GmbH & Co. KG, Nürnberg",
        ).encode("cp1252"),
        content_type="text/html",
    ),
}

# -- redirects ----------------------------------------------------------------------------
REDIRECT_SAME = {"/": redirect("https://www.redirect-same.company/")}
REDIRECT_SAME_WWW = ACME
OLD_BRAND = {"*": redirect("https://acme-freight.company/")}
LOOP = {"/": redirect("/a"), "/a": redirect("/b", 302), "/b": redirect("/a", 307)}
TO_PRIVATE = {"/": redirect("http://127.0.0.1:9/admin", 302)}
TO_METADATA = {"/": redirect("http://169.254.169.254/latest/meta-data/", 302)}
TO_LOCALHOST = {"/": redirect("http://localhost/", 302)}
TO_FILE = {"/": redirect("file:///etc/passwd", 302)}
TOO_MANY = {f"/{i}": redirect(f"/{i + 1}") for i in range(10)} | {"/": redirect("/0")}

# -- hostile and broken responses ---------------------------------------------------------
BOMB = gzip.compress(b"<html><body>" + b"\0" * 40_000_000, compresslevel=9)
SLOW = {"/": Resp(200, stream=drip(b"<p>.</p>", interval=0.1, limit=20))}
HUGE = {"/": Resp(200, stream=endless(6_000_000))}
DECLARED_HUGE = {"/": Resp(200, b"<html></html>", {"Content-Length": "50000000"},
                           stream=lambda h: h.wfile.write(b"<html></html>"))}  # fmt: skip
GZIP_BOMB = {"/": Resp(200, BOMB, {"Content-Encoding": "gzip"})}
PDF = {"/": Resp(200, b"%PDF-1.7 ...", content_type="application/pdf")}
GONE = {"/": Resp(404, "<html><body>Not found</body></html>")}
FLAKY = {"/": Resp(503, "<html><body>Maintenance</body></html>", {"Retry-After": "30"})}
BUSY = {"/": Resp(429, "<html><body>Slow down</body></html>", {"Retry-After": "120"})}
BOTWALL = {
    "/": Resp(
        403,
        "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
        "<div id='challenge'>Checking your browser before accessing the site.</div>"
        "<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'></script>"
        "</body></html>",
        {"cf-mitigated": "challenge", "Server": "cloudflare"},
    )
}
PARKED = {
    "/": html(
        "<html><head><title>forsale-domain.company</title>"
        '<script src="https://www.sedoparking.com/frmpark/forsale-domain.company/park.js">'
        "</script></head><body><h1>forsale-domain.company</h1>"
        "<p>This domain is for sale! Buy this domain today.</p>"
        "<p>Related searches: Logistics Software, Fleet Tracking</p></body></html>"
    )
}
PARKED_TEXT_ONLY = {
    "/": html(
        "<html><head><title>Domain kaufen</title></head><body>"
        "<p>Diese Domain steht zum Verkauf. Jetzt Angebot abgeben.</p></body></html>"
    )
}
COMING_SOON = {"/": html(page("Coming soon", "<h1>Coming soon</h1><p>Stay tuned.</p>"))}
ROBOTS_ALL = {
    "/": html(page("Hidden", "<p>You should never see this page.</p>")),
    "/robots.txt": Resp(200, "User-agent: *\nDisallow: /\n", content_type="text/plain"),
}
ROBOTS_OURS = {
    "/": html(page("Hidden from qualify", "<p>Only qualify is shut out.</p>")),
    "/robots.txt": Resp(
        200,
        "User-agent: Googlebot\nAllow: /\n\nUser-agent: qualify\nDisallow: /\n",
        content_type="text/plain",
    ),
}
ROBOTS_5XX = {
    "/": html(page("Fine", "<p>Homepage works.</p>")),
    "/robots.txt": Resp(503, "down", content_type="text/plain"),
}

# -- politeness and direct-mode helpers -------------------------------------------------
CRAWL_DELAY = {
    "/": html(page("Slow please", '<p>Read <a href="/about">about us</a>.</p>')),
    "/about": html(page("About", "<p>About us.</p>")),
    "/robots.txt": Resp(200, "User-agent: *\nCrawl-delay: 2\n", content_type="text/plain"),
}
# Redirects to another name on the fixture server's own port (direct-mode tests).
HOP = {"/": lambda r: redirect(f"http://www.hop.company:{r.port}/")}
HOP_WWW = {"/": html(page("Landed", "<p>Second hop.</p>"))}
DATADOME_200 = {
    "/": html(
        '<html><head><title>example</title></head><body><script src="https://ct.captcha-'
        'delivery.com/c.js"></script><p>Please enable JS and disable any ad blocker</p>'
        "</body></html>"
    )
}

# -- network failures the gateway reports ------------------------------------------------
TLS_THEN_HTTP = {"https:*": failure("tls_invalid"), "/": FLEETBASE["/"]}
TLS_ONLY = {"https:*": failure("tls_invalid"), "http:*": failure("connect_failed")}
DOWN = {"*": failure("connect_failed")}
DNS_FLAKY = {"*": failure("dns_temporary")}
TIMING_OUT = {"*": failure("timeout")}
WWW_ONLY_WWW = {"/": FLEETBASE["/"]}


# -- concurrency: each of N sites answers only once all N requests are in flight --------
def barrier_sites(n: int, timeout: float = 10.0) -> dict[str, Site]:
    barrier = threading.Barrier(n, timeout=timeout)

    def handler(_request: Request) -> Resp:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Resp(500, "barrier broken: requests were not concurrent")
        return FLEETBASE["/"]

    return {f"parallel-{i}.company": {"/": handler} for i in range(n)}


SITES: dict[str, Site] = {
    "acme-freight.company": ACME,
    "fleetbase.company": FLEETBASE,
    "shoply.company": SHOPLY,
    "royal-casino.company": CASINO,
    "bigfreight.company": BIGFREIGHT,
    "translyon.company": TRANSPORTS_LYON,
    "logimadrid.company": LOGISTICA_MADRID,
    "smallfleet.company": SMALLFLEET,
    "tinyfleet.company": TINYFLEET,
    "fitly.company": FITAPP,
    "loadhub.company": FREIGHTMARKET,
    "routely.company": SPA,
    "mueller-logistik.company": LEGACY,
    "redirect-same.company": REDIRECT_SAME,
    "www.redirect-same.company": REDIRECT_SAME_WWW,
    "old-brand.company": OLD_BRAND,
    "loop.company": LOOP,
    "to-private.company": TO_PRIVATE,
    "to-metadata.company": TO_METADATA,
    "to-localhost.company": TO_LOCALHOST,
    "to-file.company": TO_FILE,
    "too-many-redirects.company": TOO_MANY,
    "slow-drip.company": SLOW,
    "huge.company": HUGE,
    "declared-huge.company": DECLARED_HUGE,
    "gzip-bomb.company": GZIP_BOMB,
    "pdf-home.company": PDF,
    "gone.company": GONE,
    "flaky.company": FLAKY,
    "busy.company": BUSY,
    "botwall.company": BOTWALL,
    "forsale-domain.company": PARKED,
    "domain-kaufen.company": PARKED_TEXT_ONLY,
    "coming-soon.company": COMING_SOON,
    "robots-all.company": ROBOTS_ALL,
    "robots-ours.company": ROBOTS_OURS,
    "robots-5xx.company": ROBOTS_5XX,
    "tls-then-http.company": TLS_THEN_HTTP,
    "tls-only.company": TLS_ONLY,
    "down.company": DOWN,
    "dns-flaky.company": DNS_FLAKY,
    "timing-out.company": TIMING_OUT,
    "www.www-only.company": WWW_ONLY_WWW,
    "crawl-delay.company": CRAWL_DELAY,
    "hop.company": HOP,
    "www.hop.company": HOP_WWW,
    "captcha.company": DATADOME_200,
}
