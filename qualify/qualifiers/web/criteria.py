"""One assessment per ICP criterion: match, partial, mismatch or unknown, with evidence.

Pure functions of the stored signals and the normalised ICP. ``confident`` marks a
mismatch strong enough for a hard filter; ``tripped`` names the sub-filters
(``keywords.none`` ...) it trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qualify.qualifiers.web.cues import cue_model

MATCH, PARTIAL, MISMATCH, UNKNOWN = "match", "partial", "mismatch", "unknown"
SUBSTANTIAL_WORDS = 150  # below this, not finding a keyword says little
_SUFFIXES = ("", "s", "es", "n", "en", "e", "er")  # plural and inflected forms


@dataclass
class Assessment:
    criterion: str
    outcome: str
    evidence: str
    source_url: str | None = None
    confident: bool = False
    tripped: tuple[str, ...] = ()
    #: What matched, by name (the ICP industry), for exports' columns.
    matched: str | None = None


@dataclass
class Hit:
    keyword: str
    label: str
    excerpt: str
    url: str | None
    strong: bool  # in the title, description or headings


@dataclass
class Corpus:
    """The site's text in labelled segments; keyword lookups are cached per scoring run."""

    segments: list[tuple[str, str, str, str | None, bool]] = field(default_factory=list)
    words: int = 0
    _cache: dict[str, list[Hit]] = field(default_factory=dict)

    @classmethod
    def from_signals(cls, signals: dict[str, Any]) -> Corpus:
        corpus = cls()
        home_url = signals.get("final_url")
        urls = {p["kind"]: p["url"] for p in signals.get("pages", [])}
        strong = [
            ("title", signals.get("title") or ""),
            ("meta description", signals.get("description") or ""),
            ("headings", " | ".join(signals.get("headings") or [])),
        ]
        for label, text in strong:
            corpus.add(label, text, home_url, True)
        for kind, text in (signals.get("text") or {}).items():
            corpus.add("home" if kind == "home" else f"{kind} page", text, urls.get(kind), False)
        corpus.add("footer", signals.get("footer") or "", home_url, False)
        return corpus

    def add(self, label: str, text: str, url: str | None, strong: bool) -> None:
        if text:
            self.segments.append((label, text, text.lower(), url, strong))
            self.words += text.count(" ") + 1

    def find(self, keyword: str, limit: int = 3) -> list[Hit]:
        key = keyword.lower().strip()
        if key in self._cache:
            return self._cache[key]
        hits: list[Hit] = []
        for label, text, lower, url, strong in self.segments:
            at = _find_word(lower, key)
            if at >= 0:
                lo, hi = max(0, at - 35), min(len(text), at + len(key) + 35)
                excerpt = " ".join(text[lo:hi].split())
                prefix, suffix = ("…" if lo else ""), ("…" if hi < len(text) else "")
                hits.append(Hit(keyword, label, f"{prefix}{excerpt}{suffix}", url, strong))
                if len(hits) >= limit:
                    break
        self._cache[key] = hits
        return hits


def _find_word(text: str, word: str) -> int:
    """Index of ``word`` as a whole word (allowing plural endings), or -1."""
    if not word:
        return -1
    at = text.find(word)
    while at >= 0:
        end = at + len(word)
        if at == 0 or not text[at - 1].isalnum():
            for suffix in _SUFFIXES:
                stop = end + len(suffix)
                if text.startswith(suffix, end) and (stop >= len(text) or not text[stop].isalnum()):
                    return at
        at = text.find(word, end)
    return -1


def _quote_hits(hits: list[Hit], limit: int = 2) -> str:
    return "; ".join(f"'{h.keyword}' in {h.label}: '{h.excerpt}'" for h in hits[:limit])


def industries(corpus: Corpus, wanted: list[dict[str, Any]]) -> Assessment:
    best: tuple[float, dict[str, Any], list[Hit]] | None = None
    for industry in wanted:
        hits = [hit for kw in industry["keywords"] for hit in corpus.find(kw, limit=1)]
        strength = sum(2.0 if h.strong else 1.0 for h in hits)
        if best is None or strength > best[0]:
            best = (strength, industry, hits)
    names = ", ".join(i["name"] for i in wanted)
    if best is None or best[0] == 0:
        if corpus.words < SUBSTANTIAL_WORDS:
            return Assessment("industries", UNKNOWN, f"too little text to judge ({names})")
        return Assessment(
            "industries", MISMATCH, f"no keyword of {names} in {corpus.words} words of site text",
            confident=corpus.words >= 2 * SUBSTANTIAL_WORDS,
        )  # fmt: skip
    strength, industry, hits = best
    hits.sort(key=lambda h: not h.strong)
    # Two different keywords, or one repeated in a prominent place, make a match.
    outcome = MATCH if strength >= 3 or len({h.keyword for h in hits}) >= 2 else PARTIAL
    evidence = f"{industry['name']}: {_quote_hits(hits)}"
    return Assessment("industries", outcome, evidence, hits[0].url, matched=industry["name"])


def keywords(corpus: Corpus, wanted: dict[str, list[str]]) -> Assessment:
    banned = [(kw, corpus.find(kw)) for kw in wanted["none"]]
    banned = [(kw, hits) for kw, hits in banned if hits]
    if banned:
        _, hits = banned[0]
        # One passing mention in body copy is not proof; the title, headings or repeated
        # mentions are.
        confident = (
            any(h.strong for _, hs in banned for h in hs) or sum(len(hs) for _, hs in banned) >= 2
        )
        return Assessment(
            "keywords", MISMATCH, f"excluded keyword {_quote_hits(hits, 1)}", hits[0].url,
            confident=confident, tripped=("keywords.none",) if confident else (),
        )  # fmt: skip
    any_found = [(kw, hits[0]) for kw in wanted["any"] if (hits := corpus.find(kw, limit=1))]
    all_found = [(kw, hits[0]) for kw in wanted["all"] if (hits := corpus.find(kw, limit=1))]
    missing_all = [kw for kw in wanted["all"] if kw not in {k for k, _ in all_found}]
    quoted = _quote_hits([h for _, h in (any_found + all_found)])
    url = next((h.url for _, h in any_found + all_found), None)
    wants_positive = bool(wanted["any"] or wanted["all"])
    if not wants_positive:
        if corpus.words < SUBSTANTIAL_WORDS:
            return Assessment("keywords", UNKNOWN, "too little text to check excluded keywords")
        return Assessment("keywords", MATCH, f"none of {', '.join(wanted['none'])} on the site")
    any_ok = not wanted["any"] or bool(any_found)
    if any_ok and not missing_all:
        return Assessment("keywords", MATCH, quoted, url)
    if any_found or all_found:
        missing = f"; missing {', '.join(missing_all)}" if missing_all else ""
        return Assessment("keywords", PARTIAL, quoted + missing, url)
    if corpus.words < SUBSTANTIAL_WORDS:
        return Assessment("keywords", UNKNOWN, "too little text to judge keywords")
    listed = ", ".join(wanted["any"] + wanted["all"])
    return Assessment("keywords", MISMATCH, f"none of {listed} on the site")


def business_models(cues: dict[str, dict[str, str]]) -> dict[str, tuple[float, list[str]]]:
    """Strength of each business model from the cues seen, with the cues behind it."""
    scores: dict[str, tuple[float, list[str]]] = {}
    for cue in cues:
        model, weight = cue_model(cue)
        if model:
            total, names = scores.get(model, (0.0, []))
            scores[model] = (total + weight, [*names, cue])
    ecommerce = scores.get("ecommerce")
    if ecommerce and ecommerce[0] >= 2:
        # A web shop sells to consumers unless the site says otherwise.
        total, names = scores.get("b2c", (0.0, []))
        scores["b2c"] = (total + ecommerce[0], [*names, *ecommerce[1]])
    return scores


def business_model(cues: dict[str, dict[str, str]], wanted: list[str]) -> Assessment:
    scores = business_models(cues)
    observed = {m: s for m, s in scores.items() if s[0] >= 1.5}
    if not observed:
        return Assessment("business_model", UNKNOWN, "no clear B2B, B2C or shop cues")
    top = max(s for s, _ in observed.values())
    leaders = [m for m in observed if observed[m][0] >= top]
    # On a tie (a shop is both "ecommerce" and "b2c") the wanted model leads.
    primary = next((m for m in leaders if m in wanted), leaders[0])

    def cite(model: str) -> tuple[str, str | None]:
        names = observed[model][1][:3]
        parts = [f"{n}: {cues[n]['evidence']}" for n in names]
        return f"{model} ({'; '.join(parts)})", cues[names[0]].get("source_url")

    if primary in wanted:
        evidence, url = cite(primary)
        return Assessment("business_model", MATCH, evidence, url)
    secondary = [m for m in wanted if m in observed]
    if secondary:
        evidence, url = cite(secondary[0])
        return Assessment(
            "business_model", PARTIAL, f"mostly {primary}, also {evidence}", url
        )  # fmt: skip
    evidence, url = cite(primary)
    return Assessment(
        "business_model", MISMATCH, f"looks {evidence}, not {'/'.join(wanted)}", url,
        confident=observed[primary][0] >= 3,
    )  # fmt: skip


def _describe_size(estimate: dict[str, Any]) -> str:
    lo, hi = estimate["min"], estimate["max"]
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def employees(estimates: list[dict[str, Any]], wanted: dict[str, int | None]) -> Assessment:
    if not estimates:
        return Assessment("employees", UNKNOWN, "no employee count found")
    jsonld = [e for e in estimates if e["kind"] == "jsonld"]
    # JSON-LD is the company's own structured claim; in prose the largest figure is the
    # company (smaller ones tend to be teams or offices).
    best = jsonld[0] if jsonld else max(estimates, key=lambda e: e["min"])
    lo, hi = best["min"], best["max"]
    want_lo = wanted["min"] if wanted["min"] is not None else 0
    want_hi = wanted["max"] if wanted["max"] is not None else float("inf")
    size = _describe_size(best)
    shown = f"{size} employees ({best['evidence']})"
    if lo >= want_lo and hi <= want_hi:
        return Assessment("employees", MATCH, shown, best["source_url"])
    overlaps = lo <= want_hi and hi >= want_lo
    near = hi >= want_lo / 1.5 and lo <= want_hi * 1.5
    if overlaps or near:
        return Assessment("employees", PARTIAL, f"{shown}, near the range", best["source_url"])
    far = hi < want_lo / 2 or lo > want_hi * 2
    return Assessment(
        "employees", MISMATCH, f"{shown}, outside the range", best["source_url"], confident=far
    )


def country_scores(hints: list[dict[str, Any]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for hint in hints:
        share = hint["weight"] / len(hint["countries"])
        for country in hint["countries"]:
            scores[country] = scores.get(country, 0.0) + share
    return scores


def countries(hints: list[dict[str, Any]], wanted: dict[str, list[str]]) -> Assessment:
    scores = country_scores(hints)
    if not scores:
        return Assessment("countries", UNKNOWN, "no country hints (address, phone, legal form)")
    top = max(scores.values())
    leaders = sorted(c for c, s in scores.items() if s >= top - 1e-9)
    runner_up = max((s for c, s in scores.items() if c not in leaders), default=0.0)
    # Confident: a few independent hints agree and clearly beat any other country.
    confident = top >= 3.0 and top >= 1.5 * runner_up and len(leaders) == 1

    def cite(country_set: set[str]) -> tuple[str, str | None]:
        relevant = [h for h in hints if country_set & set(h["countries"])]
        relevant.sort(key=lambda h: h["weight"], reverse=True)
        quotes = list(dict.fromkeys(h["evidence"] for h in relevant))[:2]
        return "; ".join(quotes), (relevant[0]["source_url"] if relevant else None)

    include, exclude = set(wanted["include"]), set(wanted["exclude"])
    label = "/".join(leaders)
    if exclude & set(leaders):
        evidence, url = cite(exclude & set(leaders))
        return Assessment(
            "countries", MISMATCH, f"{label}, an excluded country ({evidence})", url,
            confident=confident, tripped=("countries.exclude",) if confident else (),
        )  # fmt: skip
    if not include or set(leaders) <= include:
        evidence, url = cite(set(leaders))
        return Assessment("countries", MATCH, f"{label} ({evidence})", url)
    also = sorted(c for c in include if scores.get(c, 0.0) >= 1.5)
    if also or include & set(leaders):
        evidence, url = cite(set(also) or include & set(leaders))
        return Assessment(
            "countries", PARTIAL, f"mostly {label}, also {'/'.join(also)} ({evidence})", url
        )
    evidence, url = cite(set(leaders))
    return Assessment(
        "countries", MISMATCH, f"{label}, not {'/'.join(sorted(include))} ({evidence})", url,
        # Confident only if no included country has a meaningful hint of its own.
        confident=confident and not any(scores.get(c, 0.0) >= 1.0 for c in include),
    )  # fmt: skip


def technologies(found: list[dict[str, Any]], wanted: dict[str, list[str]]) -> Assessment:
    by_name = {t["name"]: t for t in found}

    def cite(names: list[str]) -> str:
        return "; ".join(f"{n}: {by_name[n]['evidence']}" for n in names[:3])

    banned = [n for n in wanted["none"] if n in by_name]
    if banned:
        return Assessment(
            "technologies", MISMATCH, f"uses excluded {cite(banned)}",
            by_name[banned[0]].get("source_url"), confident=True,
            tripped=("technologies.none",),
        )  # fmt: skip
    wanted_found = [n for n in wanted["any"] if n in by_name]
    if wanted_found:
        url = by_name[wanted_found[0]].get("source_url")
        return Assessment("technologies", MATCH, cite(wanted_found), url)
    if not found:
        return Assessment("technologies", UNKNOWN, "no technologies recognised on the site")
    seen = ", ".join(sorted(by_name)[:6])
    if not wanted["any"]:
        return Assessment("technologies", MATCH, f"none of {', '.join(wanted['none'])}; saw {seen}")
    return Assessment(
        "technologies", MISMATCH, f"none of {', '.join(wanted['any'])}; saw {seen}"
    )  # fmt: skip


def _primary(tag: str | None) -> str | None:
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def languages(signals: dict[str, Any], wanted: list[str]) -> Assessment:
    declared = _primary(signals.get("lang"))
    detected = signals.get("detected_language")
    alternates = sorted({p for h in signals.get("hreflangs") or [] if (p := _primary(h))})
    primary = declared or detected
    url = signals.get("final_url")
    if not primary and not alternates:
        return Assessment("languages", UNKNOWN, "no language declared or recognised")
    how = f"html lang '{signals.get('lang')}'" if declared else f"text reads as {detected}"
    if primary in wanted:
        return Assessment("languages", MATCH, f"{primary} ({how})", url)
    offered = [lang for lang in wanted if lang in alternates or lang == detected]
    if offered:
        return Assessment(
            "languages", PARTIAL, f"{primary or '?'} ({how}); also offers {', '.join(offered)}", url
        )
    listed = f"; hreflang {', '.join(alternates)}" if alternates else ""
    return Assessment("languages", MISMATCH, f"{primary} ({how}){listed}", url)


def preferred_signals(cues: dict[str, dict[str, str]], prefer: list[str], words: int) -> Assessment:
    present = [c for c in prefer if c in cues]
    if not present and words < SUBSTANTIAL_WORDS:
        return Assessment("signals", UNKNOWN, f"too little content to look for {', '.join(prefer)}")
    if not present:
        return Assessment("signals", MISMATCH, f"none of {', '.join(prefer)} seen")
    evidence = "; ".join(f"{c}: {cues[c]['evidence']}" for c in present[:3])
    missing = [c for c in prefer if c not in cues]
    if missing:
        evidence += f"; missing {', '.join(missing)}"
    outcome = MATCH if not missing else PARTIAL
    return Assessment("signals", outcome, evidence, cues[present[0]].get("source_url"))
