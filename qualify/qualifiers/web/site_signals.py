"""A site's signals document: its pages' signals merged (the homepage first), or the
error that kept it from being judged.

Everything here is JSON-serialisable and independent of the ICP, so a result can be
re-scored against another ICP later without refetching (``SIGNALS_VERSION`` says which
shape a stored document has).
"""

from __future__ import annotations

from typing import Any

from qualify.qualifiers.web import countries
from qualify.qualifiers.web.domains import host_of, public_suffix, registrable_domain, same_site

SIGNALS_VERSION = 1


def _jsonld_country_hint(org: dict[str, Any]) -> list[dict[str, Any]]:
    raw = str(org.get("country") or "").strip()
    code = raw.upper() if len(raw) == 2 and raw.isalpha() else countries.place_country(raw)
    if not code:
        return []
    evidence = f"JSON-LD addressCountry: {raw}"
    hint = {"countries": [code], "kind": "jsonld", "weight": 4.0, "evidence": evidence,
            "source_url": org.get("source_url")}  # fmt: skip
    return [hint]


def merge_site(
    domain: str,
    pages: list[dict[str, Any]],
    *,
    final_url: str,
    redirects: list[str] | None = None,
    skipped: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One signals document for the site from its pages (the homepage first)."""
    home = pages[0]
    final_host = host_of(final_url)
    suffix = public_suffix(final_host)
    offsite = None if same_site(domain, final_host) else registrable_domain(final_host)

    technologies: dict[str, dict[str, Any]] = {}
    found_cues: dict[str, dict[str, str]] = {}
    social: dict[str, str] = {}
    for page in pages:
        for tech in page["technologies"]:
            technologies.setdefault(tech["name"], tech)
        for cue, value in page["cues"].items():
            found_cues.setdefault(cue, value)
        for network, url in page["social"].items():
            social.setdefault(network, url)

    organization = next((p["organization"] for p in pages if p["organization"]), None)
    hints = countries.from_cctld(final_host, suffix)
    hints += countries.from_language(home["lang"], home["url"])
    if organization:
        hints += _jsonld_country_hint(organization)
    seen: set[tuple[str, str]] = set()
    for page in pages:
        for hint in page["country_hints"]:
            key = (hint["kind"], "/".join(hint["countries"]))
            if key not in seen:
                seen.add(key)
                hints.append(hint)

    sizes = [organization["employees"]] if organization and organization.get("employees") else []
    sizes += [e for page in pages for e in page["employees"]][:5]

    return {
        "version": SIGNALS_VERSION,
        "domain": domain,
        "error": None,
        "final_url": final_url,
        "redirects": list(redirects or []),
        "offsite_redirect": offsite,
        "pages": [
            {"url": p["url"], "kind": p["kind"], "title": p["title"], "words": p["word_count"]}
            for p in pages
        ],
        "skipped_pages": list(skipped or []),
        "title": home["title"],
        "description": home["description"],
        "og": home["og"],
        "lang": home["lang"],
        "hreflangs": sorted({h for p in pages for h in p["hreflangs"]})[:30],
        "detected_language": home["detected_language"]
        or next((p["detected_language"] for p in pages if p["detected_language"]), None),
        "generator": home["generator"],
        "headings": [h for p in pages for h in p["headings"]][:30],
        "text": {p["kind"]: p["text"] for p in reversed(pages)},
        "footer": home["footer"],
        "word_count": sum(p["word_count"] for p in pages),
        "organization": organization,
        "technologies": list(technologies.values()),
        "cues": found_cues,
        "country_hints": hints,
        "employees": sizes,
        "social": social,
    }


def failure_signals(
    domain: str, code: str, message: str, url: str | None, **extra: Any
) -> dict[str, Any]:
    """Signals of a site that could not be judged: the error is kept so re-scoring agrees."""
    return {
        "version": SIGNALS_VERSION,
        "domain": domain,
        "error": {"code": code, "message": message, "url": url, **extra},
    }
