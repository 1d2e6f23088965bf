"""Country hints: ccTLD, phone prefixes, legal forms, addresses, currency, language tags.

Each hint names candidate countries and a weight; scoring adds them up. Weak, ambiguous
hints (a GmbH could be German, Austrian or Swiss) spread their weight over candidates.
"""

from __future__ import annotations

import re
from typing import Any

Hint = dict[str, Any]

# Country-code TLDs that are mostly used generically (.io, .ai, ...) say nothing.
_GENERIC_CCTLDS = {
    "io", "ai", "co", "me", "tv", "fm", "ly", "gg", "to", "sh", "so", "cc", "ws", "la", "vc",
    "gl", "ms", "nu", "tk", "ac", "im", "app", "dev",
}  # fmt: skip
_CCTLD_TO_ISO = {"uk": "GB", "su": "RU"}

CALLING_CODES = {
    "1": "US", "7": "RU", "27": "ZA", "30": "GR", "31": "NL", "32": "BE", "33": "FR",
    "34": "ES", "36": "HU", "39": "IT", "40": "RO", "41": "CH", "43": "AT", "44": "GB",
    "45": "DK", "46": "SE", "47": "NO", "48": "PL", "49": "DE", "52": "MX", "55": "BR",
    "61": "AU", "64": "NZ", "65": "SG", "81": "JP", "86": "CN", "90": "TR", "91": "IN",
    "351": "PT", "352": "LU", "353": "IE", "358": "FI", "359": "BG", "370": "LT", "371": "LV",
    "372": "EE", "380": "UA", "381": "RS", "385": "HR", "386": "SI", "420": "CZ", "421": "SK",
    "971": "AE", "972": "IL",
}  # fmt: skip
# No lookbehind: it would defeat the regex engine's fast scan for "+"/"0"; the character
# before a match is checked in Python instead.
_PHONE = re.compile(r"(?:\+|00)\s?\(?([1-9][\d\s().\-/]{6,18}\d)")

# Legal forms -> the countries that use them.
_LEGAL_FORMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"GmbH\s*&\s*Co\.?\s*KG", ("DE",)),
    (r"g?GmbH", ("DE", "AT", "CH")),
    (r"UG\s*\(haftungsbeschränkt\)", ("DE",)),
    (r"AG", ("DE", "CH", "AT")),
    (r"KG", ("DE", "AT")),
    (r"e\.\s?K\.", ("DE",)),
    (r"Ltd\.?|Limited|LLP|PLC|plc", ("GB", "IE")),
    (r"Inc\.?|LLC|Corp\.?|Corporation", ("US",)),
    (r"SAS|SARL|S\.A\.S\.|S\.A\.R\.L\.|SA\s?à\s?directoire", ("FR",)),
    (r"S\.L\.U?\.?|S\.L", ("ES",)),
    (r"S\.r\.l\.?|S\.p\.A\.?|Srl|SpA", ("IT",)),
    (r"B\.V\.?|BV", ("NL",)),
    (r"N\.V\.?", ("NL", "BE")),
    (r"AB", ("SE",)),
    (r"Oy|Oyj", ("FI",)),
    (r"ApS|A/S", ("DK", "NO")),
    (r"Pty\.?\s?Ltd\.?", ("AU",)),
    (r"Sp\.\s?z\s?o\.\s?o\.", ("PL",)),
    (r"s\.\s?r\.\s?o\.", ("CZ", "SK")),
)
_LEGAL = re.compile(
    r"([A-Z0-9][\w&.'\-]*(?:\s+[A-Z0-9&][\w&.'\-]*){0,3})\s*,?\s+("
    + "|".join(f"(?:{p})" for p, _ in _LEGAL_FORMS)
    + r")(?![\w])"
)
_LEGAL_LOOKUP = [(re.compile(rf"^(?:{p})$"), countries) for p, countries in _LEGAL_FORMS]

# Country names (English and native) and major business cities, searched only in
# address-like places (footer, contact and legal pages), never in marketing copy.
_PLACES: dict[str, str] = {}
for _code, _names in {
    "DE": "Germany|Deutschland|Berlin|München|Munich|Hamburg|Frankfurt am Main|Frankfurt|Köln|"
    "Cologne|Stuttgart|Düsseldorf|Leipzig|Dresden|Hannover|Nürnberg|Bremen|Karlsruhe|Mannheim",
    "AT": "Austria|Österreich|Wien|Vienna|Graz|Linz|Salzburg|Innsbruck",
    "CH": "Switzerland|Schweiz|Suisse|Svizzera|Zürich|Zurich|Genève|Geneva|Basel|Bern|Lausanne|"
    "Zug|Luzern|Lucerne",
    "GB": "United Kingdom|England|Scotland|London|Manchester|Birmingham|Edinburgh|Glasgow|"
    "Bristol|Leeds",
    "IE": "Ireland|Dublin|Cork",
    "US": "United States|USA|U\\.S\\.A\\.|New York|San Francisco|Los Angeles|Chicago|Boston|"
    "Seattle|Austin|Denver|Atlanta|Miami|Palo Alto|Mountain View|Delaware",
    "FR": "France|Frankreich|Paris|Lyon|Marseille|Toulouse|Lille|Nantes|Bordeaux",
    "ES": "Spain|España|Spanien|Madrid|Barcelona|Valencia|Sevilla",
    "IT": "Italy|Italia|Italien|Milano|Milan|Roma|Rome|Torino|Turin|Bologna",
    "NL": "Netherlands|Nederland|Niederlande|Amsterdam|Rotterdam|Utrecht|Eindhoven|Den Haag",
    "BE": "Belgium|Belgique|België|Belgien|Brussels|Bruxelles|Brussel|Antwerpen|Antwerp",
    "SE": "Sweden|Sverige|Schweden|Stockholm|Göteborg|Gothenburg|Malmö",
    "DK": "Denmark|Danmark|Dänemark|Copenhagen|København|Aarhus",
    "NO": "Norway|Norge|Norwegen|Oslo",
    "FI": "Finland|Suomi|Finnland|Helsinki",
    "PL": "Poland|Polska|Polen|Warsaw|Warszawa|Kraków|Krakow|Wrocław",
    "PT": "Portugal|Lisbon|Lisboa|Porto",
    "CZ": "Czech Republic|Czechia|Prague|Praha",
    "CA": "Canada|Toronto|Vancouver|Montreal|Montréal",
    "AU": "Australia|Sydney|Melbourne",
    "SG": "Singapore",
    "IN": "India|Bangalore|Bengaluru|Mumbai",
    "IL": "Israel|Tel Aviv",
}.items():
    for _name in _names.split("|"):
        _PLACES[_name.replace("\\", "").lower()] = _code
_PLACE = re.compile(
    r"(?<![\w-])("
    + "|".join(sorted((re.escape(p) for p in _PLACES), key=len, reverse=True))
    + r")(?![\w-])",
    re.I,
)
_POSTAL_PREFIX = {"D": "DE", "A": "AT", "CH": "CH", "F": "FR", "I": "IT", "NL": "NL", "B": "BE",
                  "DK": "DK", "S": "SE", "N": "NO", "FIN": "FI", "PL": "PL", "L": "LU"}  # fmt: skip
_POSTAL = re.compile(r"(?<![\w-])(D|A|CH|F|I|NL|B|DK|S|N|FIN|PL|L)-(\d{4,5})(?!\d)")

_CURRENCY_COUNTRIES = {
    "CHF": ("CH",), "£": ("GB",), "GBP": ("GB",), "$": ("US",), "US$": ("US",), "USD": ("US",),
    "€": ("DE", "AT", "FR", "ES", "IT", "NL", "BE", "IE", "FI", "PT", "LU"),
    "EUR": ("DE", "AT", "FR", "ES", "IT", "NL", "BE", "IE", "FI", "PT", "LU"),
}  # fmt: skip

_LANGUAGE_COUNTRIES = {
    "de": ("DE", "AT", "CH"), "fr": ("FR", "BE", "CH", "LU", "CA"), "nl": ("NL", "BE"),
    "it": ("IT", "CH"), "es": ("ES", "MX", "AR", "CO", "CL"), "pl": ("PL",), "sv": ("SE",),
    "da": ("DK",), "fi": ("FI",), "pt": ("PT", "BR"), "cs": ("CZ",), "nb": ("NO",),
    "no": ("NO",), "hu": ("HU",), "ja": ("JP",),
}  # fmt: skip


def _hint(countries: tuple[str, ...] | list[str], kind: str, weight: float, evidence: str,
          url: str | None) -> Hint:  # fmt: skip
    return {"countries": list(countries), "kind": kind, "weight": weight,
            "evidence": evidence, "source_url": url}  # fmt: skip


def quote(text: str, start: int, end: int, pad: int = 25) -> str:
    """A short excerpt around text[start:end], whitespace collapsed."""
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    snippet = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else "")


def place_country(name: str) -> str | None:
    """ISO code for a country or city name we know ("Deutschland" -> "DE")."""
    return _PLACES.get(name.strip().lower())


def from_cctld(host: str, suffix: str) -> list[Hint]:
    tld = suffix.rsplit(".", 1)[-1].lower() if suffix else ""
    if len(tld) != 2 or tld in _GENERIC_CCTLDS:
        return []
    country = _CCTLD_TO_ISO.get(tld, tld.upper())
    return [_hint([country], "cctld", 2.0, f"domain ends in .{suffix}", None)]


def from_language(tag: str | None, url: str | None) -> list[Hint]:
    """A regional tag (de-AT) names a country; a bare language only narrows it a little."""
    if not tag:
        return []
    parts = tag.replace("_", "-").split("-")
    primary = parts[0].lower()
    if len(parts) > 1 and len(parts[1]) == 2 and parts[1].upper() not in ("US",):
        return [_hint([parts[1].upper()], "language", 0.75, f"html lang '{tag}'", url)]
    countries = _LANGUAGE_COUNTRIES.get(primary)
    return [_hint(countries, "language", 0.75, f"html lang '{tag}'", url)] if countries else []


def from_phones(text: str, label: str, url: str) -> list[Hint]:
    hints: dict[str, Hint] = {}
    for match in _PHONE.finditer(text):
        start = match.start()
        if start and (text[start - 1].isalnum() or text[start - 1] == "+"):
            continue
        digits = re.sub(r"\D", "", match.group(1))
        for size in (3, 2, 1):
            country = CALLING_CODES.get(digits[:size])
            if country:
                if country not in hints:
                    excerpt = quote(text, match.start(), match.end(), pad=10)
                    hints[country] = _hint([country], "phone", 2.0, f"{label}: '{excerpt}'", url)
                break
    return list(hints.values())


def from_legal_forms(text: str, label: str, url: str) -> list[Hint]:
    hints: list[Hint] = []
    seen: set[str] = set()
    for match in _LEGAL.finditer(text):
        form = match.group(2)
        countries = next((c for pattern, c in _LEGAL_LOOKUP if pattern.match(form)), None)
        if countries is None:
            continue
        key = "/".join(countries)
        if key in seen:
            continue
        seen.add(key)
        excerpt = quote(text, match.start(), match.end(), pad=20)
        hints.append(_hint(countries, "legal_form", 1.5, f"{label}: '{excerpt}'", url))
        if len(hints) >= 3:
            break
    return hints


def from_places(text: str, label: str, url: str) -> list[Hint]:
    """Country names, cities and prefixed postcodes (D-10115) in address-like text."""
    hints: dict[str, Hint] = {}
    for match in _POSTAL.finditer(text):
        country = _POSTAL_PREFIX[match.group(1)]
        excerpt = quote(text, match.start(), match.end())
        hints.setdefault(country, _hint([country], "address", 2.0, f"{label}: '{excerpt}'", url))
    for match in _PLACE.finditer(text):
        country = _PLACES[match.group(1).lower()]
        if country in hints:
            continue
        excerpt = quote(text, match.start(), match.end())
        hints[country] = _hint([country], "address", 1.5, f"{label}: '{excerpt}'", url)
    return list(hints.values())


_CURRENCY_SYMBOLS = ("€", "EUR", "CHF", "£", "GBP", "US$", "USD", "$")


def from_currency(text: str, label: str, url: str) -> list[Hint]:
    """The dominant price currency on a page, if any symbol stands next to a number."""
    counts = {symbol: text.count(symbol) for symbol in _CURRENCY_SYMBOLS}
    counts["$"] -= counts["US$"]
    for symbol in sorted(counts, key=lambda s: counts[s], reverse=True):
        if not counts[symbol]:
            break
        at = text.find(symbol)
        while at >= 0:
            near = text[max(0, at - 2) : at + len(symbol) + 2]
            if any(ch.isdigit() for ch in near):
                excerpt = quote(text, at, at + len(symbol), pad=15)
                return [_hint(_CURRENCY_COUNTRIES[symbol], "currency", 0.75,
                              f"{label}: prices like '{excerpt}'", url)]  # fmt: skip
            at = text.find(symbol, at + len(symbol))
    return []
