"""Pages that are not the company's site: bot walls (challenges) and parked domains."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

# (name, substrings that must all occur in the lower-cased page). Challenge pages are small
# and distinctive; a marker alone (Cloudflare injects challenge-platform scripts into normal
# pages) is never enough.
_WALL_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Cloudflare challenge", ("<title>just a moment...</title>",)),
    ("Cloudflare challenge", ("attention required! | cloudflare",)),
    ("Cloudflare challenge", ("cf-browser-verification",)),
    ("Cloudflare challenge", ("cf_chl_opt",)),
    ("DataDome captcha", ("captcha-delivery.com",)),
    ("Imperva/Incapsula", ("_incapsula_resource",)),
    ("Imperva/Incapsula", ("incapsula incident id",)),
    ("Imperva/Distil", ("pardon our interruption",)),
    ("PerimeterX captcha", ("px-captcha",)),
    ("Akamai access denied", ("access denied", "errors.edgesuite.net")),
    ("AWS WAF challenge", ("awswafintegration",)),
    ("Sucuri firewall", ("sucuri website firewall",)),
    ("browser check", ("checking your browser before accessing",)),
    ("browser check", ("ddos protection by",)),
    ("captcha", ("are you a robot", "captcha")),
    ("captcha", ("verify you are human",)),
)
_WALL_HEADERS = {"cf-mitigated": "challenge", "x-datadome": "", "x-sucuri-block": ""}
# A challenge is a small page; a large page mentioning these words is a real page.
_MAX_WALL_PAGE = 40_000


def detect_bot_wall(status: int, headers: Mapping[str, str], text: str) -> str | None:
    """A short description of the bot wall this response is, or None."""
    for name, value in _WALL_HEADERS.items():
        seen = headers.get(name)
        if seen is None or (value and seen.strip().lower() != value):
            continue
        # DataDome tags every response it passes; only a refusal is a wall.
        if name != "x-datadome" or status in (401, 403, 429):
            return f"bot wall: response header {name}: {seen.strip()[:40]}"
    if len(text) > _MAX_WALL_PAGE and 200 <= status < 300:
        return None
    sample = text[:_MAX_WALL_PAGE].lower()
    for name, needles in _WALL_SIGNATURES:
        if all(n in sample for n in needles):
            return f"bot wall: {name} (HTTP {status}, page contains {needles[0]!r})"
    return None


PARKING_HOSTS = (
    "sedoparking.com", "sedo.com", "parkingcrew.net", "bodis.com", "above.com", "dan.com",
    "afternic.com", "hugedomains.com", "undeveloped.com", "parklogic.com", "domainmarket.com",
    "dsparking.com", "skenzo.com", "domainsponsor.com", "smartname.com", "fabulous.com",
    "brandbucket.com", "squadhelp.com", "buydomains.com", "uniregistry.com", "epik.com",
    "parked-content.godaddy.com", "perfectdomain.com", "parkweb.co",
)  # fmt: skip
PARKING_URL_MARKERS = ("/parking-lander/", "porkbun.com/parked", "godaddy.com/domainfind")

PARKING_PHRASES = (
    "this domain is for sale", "domain is for sale", "this domain may be for sale",
    "buy this domain", "the domain name is for sale", "make an offer on this domain",
    "inquire about this domain", "this domain is parked", "parked free", "domain parking",
    "this domain has been registered", "is available for purchase", "get this domain",
    "diese domain steht zum verkauf", "diese domain kaufen", "domain ist zu verkaufen",
    "ce nom de domaine est à vendre", "ce domaine est à vendre", "este dominio está a la venta",
    "este dominio se vende", "questo dominio è in vendita", "dit domein is te koop",
)  # fmt: skip
_MAX_PARKED_WORDS = 600  # parking pages are short; a long page saying "domain parking" is not


def _parking_url(url: str) -> bool:
    lowered = url.lower()
    if any(marker in lowered for marker in PARKING_URL_MARKERS):
        return True
    try:
        host = urlsplit(lowered).hostname or ""
    except ValueError:
        return False
    return any(host == h or host.endswith("." + h) for h in PARKING_HOSTS)


def detect_parked(
    text: str, resource_urls: Iterable[str], link_urls: Iterable[str], word_count: int
) -> str | None:
    """Evidence that a page is a parked (for-sale or ad-parking) domain, or None.

    Scripts, frames and redirects served by a parking service are conclusive; links to a
    domain marketplace and for-sale phrases only count on a short page.
    """
    for url in resource_urls:
        if _parking_url(url):
            return f"parking service: {url[:120]}"
    if word_count > _MAX_PARKED_WORDS:
        return None
    for url in link_urls:
        if _parking_url(url):
            return f"link to parking service: {url[:120]}"
    lowered = text.lower()
    for phrase in PARKING_PHRASES:
        at = lowered.find(phrase)
        if at >= 0:
            return f"page says '{text[at : at + len(phrase) + 40].strip()}'"
    return None
