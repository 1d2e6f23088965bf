"""Business cues (B2B, B2C, e-commerce, marketplace), navigation links and profiles.

Phrase tables are multilingual and matched on lower-cased visible text with ``str.find``
(much faster than one big regex alternation). Each cue names the business model it
points to and how strongly.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# cue -> (business model it supports or None, weight, phrases)
CUES: dict[str, tuple[str | None, float, tuple[str, ...]]] = {
    "demo_cta": ("b2b", 2.0, (
        "book a demo", "request a demo", "schedule a demo", "get a demo", "request demo",
        "book demo", "demo anfragen", "demo buchen", "demo vereinbaren", "demo anfordern",
        "demander une démo", "réserver une démo", "solicitar demo", "solicita una demo",
        "richiedi una demo", "prenota una demo", "demo aanvragen", "plan een demo",
    )),
    "contact_sales": ("b2b", 2.0, (
        "contact sales", "talk to sales", "talk to an expert", "speak to sales",
        "contact our sales", "vertrieb kontaktieren", "kontakt zum vertrieb",
        "contacter les ventes", "contacter notre équipe commerciale", "contactar con ventas",
        "contatta le vendite", "neem contact op met sales",
    )),
    "case_studies": ("b2b", 1.5, (
        "case studies", "case study", "customer stories", "success stories", "fallstudien",
        "erfolgsgeschichten", "kundenreferenzen", "referenzen", "études de cas",
        "témoignages clients", "casos de éxito", "casi di successo", "klantverhalen",
    )),
    "security_compliance": ("b2b", 1.5, (
        "soc 2", "soc2", "iso 27001", "iso/iec 27001", "hipaa", "tisax",
    )),
    "enterprise": ("b2b", 1.0, (
        "enterprise", "for teams", "for businesses", "for companies", "b2b", "saas",
        "für unternehmen", "pour les entreprises", "para empresas", "per le aziende",
        "voor bedrijven",
    )),
    "free_trial": ("b2b", 1.0, (
        "free trial", "start your trial", "try it free", "try for free", "kostenlos testen",
        "testversion", "essai gratuit", "prueba gratuita", "prova gratuita", "gratis proberen",
    )),
    "api_docs": ("b2b", 1.0, (
        "api documentation", "developer docs", "rest api", "api reference", "graphql api",
    )),
    "integrations": ("b2b", 1.0, (
        "integrations", "integrationen", "intégrations", "integraciones", "integrazioni",
    )),
    "cart": ("ecommerce", 2.0, (
        "add to cart", "add to bag", "add to basket", "shopping cart", "in den warenkorb",
        "warenkorb", "ajouter au panier", "añadir al carrito", "aggiungi al carrello",
        "in winkelwagen", "winkelwagen", "do koszyka",
    )),
    "checkout": ("ecommerce", 1.5, (
        "checkout", "zur kasse", "passer commande", "finalizar compra",
    )),
    "shipping": ("ecommerce", 1.5, (
        "free shipping", "free delivery", "versandkostenfrei", "kostenloser versand",
        "gratis versand", "livraison gratuite", "envío gratis", "envío gratuito",
        "spedizione gratuita", "gratis verzending",
    )),
    "gift_cards": ("b2c", 1.0, (
        "gift card", "gift cards", "gutschein", "carte cadeau", "tarjeta regalo",
    )),
    "consumer_app": ("b2c", 1.5, (
        "download the app", "get the app", "app herunterladen", "télécharger l'application",
        "descarga la app",
    )),
    "marketplace": ("marketplace", 2.0, (
        "become a seller", "become a vendor", "become a host", "list your property",
        "sell on our marketplace", "online marketplace", "b2b marketplace", "our marketplace",
        "marketplace for", "marketplace connecting", "buyers and sellers", "verkäufer werden",
        "marktplatz für", "devenir vendeur", "place de marché",
    )),
    "careers_page": (None, 0.0, (
        "we're hiring", "we are hiring", "join our team", "open positions", "stellenangebote",
        "offene stellen", "wir stellen ein", "nous recrutons", "trabaja con nosotros",
        "lavora con noi", "vacatures",
    )),
}  # fmt: skip

# Cues found from links, markup or technology rather than phrases.
LINK_CUES: dict[str, tuple[str | None, float]] = {
    "pricing_page": ("b2b", 1.0),
    "careers_page": (None, 0.0),
    "job_board": (None, 0.0),
    "social_profiles": (None, 0.0),
    "cart": ("ecommerce", 2.0),
    "product_offers": ("ecommerce", 2.0),
    "ecommerce_platform": ("ecommerce", 2.0),
    "consumer_app": ("b2c", 1.5),
}
CUE_NAMES = frozenset(CUES) | frozenset(LINK_CUES)
BUSINESS_MODELS = ("b2b", "b2c", "marketplace", "ecommerce")


def cue_model(cue: str) -> tuple[str | None, float]:
    if cue in CUES:
        return CUES[cue][0], CUES[cue][1]
    return LINK_CUES.get(cue, (None, 0.0))


_PUNCT = ".,;:!?()[]{}\"'«»„“”‘’…–—-/|*"


def tokens(text_lower: str) -> set[str]:
    """The distinct words of a text, with and without surrounding punctuation."""
    words = set(text_lower.split())
    words |= {w.strip(_PUNCT) for w in words if not (w[0].isalnum() and w[-1].isalnum())}
    return words


def _anchor(phrase: str) -> str:
    # The longest word of a phrase must be present for the phrase to be; checking the
    # word set first skips most of the (comparatively slow) substring searches.
    return max((w.strip(_PUNCT) for w in phrase.split()), key=len)


_ANCHORED = {
    cue: tuple((_anchor(p), p) for p in phrases) for cue, (_m, _w, phrases) in CUES.items()
}


def find_phrases(
    text: str, text_lower: str, words: set[str], label: str, url: str
) -> dict[str, dict[str, str]]:
    """The first occurrence of each cue's phrases, quoted from the original text.

    ``text_lower`` must be ``text.lower()`` (same length for the scripts we handle) and
    ``words`` its :func:`tokens`.
    """
    found: dict[str, dict[str, str]] = {}
    for cue, anchored in _ANCHORED.items():
        for anchor, phrase in anchored:
            if anchor not in words:
                continue
            at = text_lower.find(phrase)
            while at >= 0:
                end = at + len(phrase)
                # Whole words only: "saas" must not match inside another word.
                if (at == 0 or not text_lower[at - 1].isalnum()) and (
                    end >= len(text_lower) or not text_lower[end].isalnum()
                ):
                    break
                at = text_lower.find(phrase, end)
            if at < 0:
                continue
            lo, hi = max(0, at - 30), min(len(text), at + len(phrase) + 30)
            excerpt = " ".join(text[lo:hi].split())
            found[cue] = {"evidence": f"{label}: '…{excerpt}…'", "source_url": url}
            break
    return found


# Navigation: which same-site pages are worth a visit, recognised by path or link text.
NAV_KINDS = ("about", "legal", "contact", "pricing", "careers", "cart")
_NAV_PATHS = {
    "about": "about|about-us|aboutus|company|ueber-uns|uber-uns|über-uns|unternehmen|a-propos|"
    "qui-sommes-nous|quienes-somos|sobre-nosotros|chi-siamo|over-ons|om-oss|o-nas|team",
    "legal": "impressum|imprint|legal-notice|mentions-legales|aviso-legal|note-legali|colofon",
    "contact": "contact|contact-us|kontakt|contacto|contatti|contatto|contactez-nous",
    "pricing": "pricing|prices|preise|tarife|tarifs|precios|prezzi|prijzen|plans|pricing-plans",
    "careers": "careers|career|jobs|karriere|stellenangebote|carrieres|carrières|empleo|"
    "trabaja-con-nosotros|lavora-con-noi|vacatures|join-us",
    "cart": "cart|warenkorb|basket|panier|checkout|carrito|carrello|winkelwagen",
}
_NAV_PATH = re.compile(
    "/(?:"
    + "|".join(f"(?P<{kind}>{alts})" for kind, alts in _NAV_PATHS.items())
    + r")(?:/|\.html?|\.php|$)"
)
_NAV_TEXTS = {
    "about": "about|about us|company|über uns|unternehmen|à propos|qui sommes-nous|"
    "quiénes somos|sobre nosotros|chi siamo|over ons|om oss|our story",
    "legal": "impressum|imprint|legal notice|mentions légales|aviso legal|note legali",
    "contact": "contact|contact us|kontakt|contacto|contatti|nous contacter",
    "pricing": "pricing|prices|preise|tarife|tarifs|precios|prezzi|prijzen|plans & pricing",
    "careers": "careers|jobs|karriere|we're hiring|join us|carrières|empleo|lavora con noi|"
    "vacatures|jobs & karriere",
    "cart": "cart|warenkorb|basket|panier|carrito|carrello",
}
_NAV_TEXT = {text: kind for kind, alts in _NAV_TEXTS.items() for text in alts.split("|")}


def nav_kind(path_lower: str, text_lower: str) -> str | None:
    match = _NAV_PATH.search(path_lower)
    if match:
        return match.lastgroup
    return _NAV_TEXT.get(text_lower)


SOCIAL_HOSTS = {
    "linkedin.com": "linkedin", "twitter.com": "x", "x.com": "x", "facebook.com": "facebook",
    "instagram.com": "instagram", "youtube.com": "youtube", "github.com": "github",
    "xing.com": "xing", "tiktok.com": "tiktok",
}  # fmt: skip
_SHARE_PATHS = ("/share", "/sharer", "/intent/", "/sharing/", "/dialog/")
APP_STORE_HOSTS = ("apps.apple.com", "itunes.apple.com", "play.google.com")
JOB_BOARD_HOSTS = (
    "stepstone.de", "stepstone.at", "stepstone.com", "indeed.com", "glassdoor.com",
    "welcometothejungle.com", "kununu.com",
)  # fmt: skip


def social_network(url: str) -> str | None:
    """The network of a company profile link, ignoring share buttons."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return None
    host = host[host.find(".") + 1 :] if host.count(".") > 1 else host  # de.linkedin.com
    network = SOCIAL_HOSTS.get(host)
    if network is None or any(p in parts.path for p in _SHARE_PATHS) or len(parts.path) < 2:
        return None
    if network == "linkedin" and not parts.path.startswith(("/company/", "/school/")):
        return None
    return network
