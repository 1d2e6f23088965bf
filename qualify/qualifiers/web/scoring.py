"""Scoring: signals + ICP -> score, verdict, tier, confidence and reasons. Pure.

``score(signals, icp)`` is what the qualifier itself calls after fetching, so re-scoring
stored signals against another ICP gives exactly what a fresh run would (minus refetching).

- Each active criterion (one the ICP asks about) comes out match (1), partial (0.5),
  mismatch (0) or unknown. Unknown criteria score nothing and their weight is spread over
  the observed ones: score = 100 * sum(weight * value) / sum(observed weight).
- confidence = observed weight / total weight of active criteria.
- A hard filter disqualifies only on a confident mismatch (see criteria.py).
- verdict: unqualified if a hard filter trips; unknown if nothing was observed; qualified
  if score >= thresholds.qualified and confidence >= thresholds.min_confidence and the
  site showed at least 100 words (else review); review if score >= thresholds.review;
  otherwise unqualified.
- tier: A = qualified with confidence >= 0.75, B = other qualified, C = review, D = rest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from qualify.qualifiers.web import codes, criteria
from qualify.qualifiers.web.criteria import MATCH, MISMATCH, PARTIAL, UNKNOWN, Assessment
from qualify.qualifiers.web.domains import registrable_domain
from qualify.qualifiers.web.icp import active_criteria, cache_key, normalize

VALUES = {MATCH: 1.0, PARTIAL: 0.5, MISMATCH: 0.0}
TIER_A_CONFIDENCE = 0.75
# A site showing less text than this is judged on its title and metadata alone: at most
# "review", whatever the score.
MIN_WORDS_TO_QUALIFY = 100

_normalized: OrderedDict[str, dict[str, Any]] = OrderedDict()
_normalized_lock = threading.Lock()


def normalized_icp(icp: dict[str, Any]) -> dict[str, Any]:
    """Validated ICP with defaults, cached: a run scores many domains against one ICP."""
    key = cache_key(icp)
    with _normalized_lock:
        found = _normalized.get(key)
    if found is None:
        found = normalize(icp)
        with _normalized_lock:
            _normalized[key] = found
            while len(_normalized) > 32:
                _normalized.popitem(last=False)
    return found


def _excluded_domain(signals: dict[str, Any], excluded: list[str]) -> str | None:
    hosts = [signals.get("domain") or ""]
    final = signals.get("final_url")
    if final:
        hosts.append(final.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower())
    for host in hosts:
        for domain in excluded:
            if host == domain or host.endswith("." + domain) or registrable_domain(host) == domain:
                return domain
    return None


def _reason(a: Assessment, points: float) -> dict[str, Any]:
    return {
        "criterion": a.criterion,
        "outcome": a.outcome,
        "points": round(points, 1),
        "evidence": a.evidence,
        "source_url": a.source_url,
    }


def _summary(signals: dict[str, Any]) -> dict[str, Any]:
    """A compact evidence record for exports; the full detail is in ``signals``."""
    if signals.get("error"):
        return {"error": signals["error"]["code"], "url": signals["error"].get("url")}
    org = signals.get("organization") or {}
    scores = criteria.country_scores(signals.get("country_hints") or [])
    models = criteria.business_models(signals.get("cues") or {})
    size = None
    if signals.get("employees"):
        best = signals["employees"][0]
        size = best["min"] if best["min"] == best["max"] else f"{best['min']}-{best['max']}"
    return {
        "url": signals.get("final_url"),
        "pages": [p["url"] for p in signals.get("pages", [])],
        "title": signals.get("title"),
        "description": signals.get("description"),
        "organization": org.get("name"),
        "country": max(scores, key=lambda c: scores[c]) if scores else None,
        "employees": size,
        "business_model": max(models, key=lambda m: models[m][0]) if models else None,
        "language": (signals.get("lang") or signals.get("detected_language")),
        "technologies": [t["name"] for t in signals.get("technologies", [])],
        "cues": sorted(signals.get("cues") or {}),
        "social": signals.get("social") or {},
        "offsite_redirect": signals.get("offsite_redirect"),
    }


def _failure(signals: dict[str, Any]) -> dict[str, Any]:
    error = signals["error"]
    code = error["code"]
    parked = code == codes.PARKED_DOMAIN
    reason = {
        "criterion": "site",
        "outcome": MISMATCH if parked else UNKNOWN,
        "points": 0,
        "evidence": f"{code}: {error['message']}",
        "source_url": error.get("url"),
    }
    return {
        "score": 0 if parked else None,
        "verdict": "unqualified" if parked else "unknown",
        "tier": "D",
        "confidence": 1.0 if parked else 0.0,
        "error": code,
        "reasons": [reason],
        "evidence": _summary(signals),
    }


def assess(signals: dict[str, Any], icp: dict[str, Any]) -> list[Assessment]:
    """The assessment of each active criterion, in ICP criterion order."""
    corpus = criteria.Corpus.from_signals(signals)
    cue_map = signals.get("cues") or {}
    run = {
        "industries": lambda: criteria.industries(corpus, icp["industries"]),
        "keywords": lambda: criteria.keywords(corpus, icp["keywords"]),
        "business_model": lambda: criteria.business_model(cue_map, icp["business_model"]),
        "employees": lambda: criteria.employees(signals.get("employees") or [], icp["employees"]),
        "countries": lambda: criteria.countries(
            signals.get("country_hints") or [], icp["countries"]
        ),
        "technologies": lambda: criteria.technologies(
            signals.get("technologies") or [], icp["technologies"]
        ),
        "languages": lambda: criteria.languages(signals, icp["languages"]),
        "signals": lambda: criteria.preferred_signals(
            cue_map, icp["signals"]["prefer"], corpus.words
        ),
    }
    return [run[name]() for name in active_criteria(icp)]


def score(signals: dict[str, Any], icp: dict[str, Any]) -> dict[str, Any]:
    """Score stored signals against an ICP (raw or normalised); raises ICPError if invalid."""
    return score_normalized(signals, normalized_icp(icp))


def score_normalized(signals: dict[str, Any], icp: dict[str, Any]) -> dict[str, Any]:
    """:func:`score` for an ICP already through :func:`normalized_icp` (the qualifier has
    it at hand: normalising twice per domain is a sizeable share of a rescore)."""
    if signals.get("error"):
        return _failure(signals)

    excluded = _excluded_domain(signals, icp["exclude_domains"])
    if excluded:
        return {
            "score": None if not signals.get("pages") else 0,
            "verdict": "unqualified",
            "tier": "D",
            "confidence": 1.0,
            "error": None,
            "reasons": [
                {
                    "criterion": "exclude_domains",
                    "outcome": MISMATCH,
                    "points": 0,
                    "evidence": f"{signals.get('domain')} is excluded by the ICP ({excluded})",
                    "source_url": signals.get("final_url"),
                }
            ],
            "evidence": _summary(signals),
        }

    assessments = assess(signals, icp)
    weights = icp["weights"]
    total = sum(weights[a.criterion] for a in assessments)
    observed = sum(weights[a.criterion] for a in assessments if a.outcome != UNKNOWN)
    reasons = []
    value = 0.0
    for a in sorted(assessments, key=lambda a: -weights[a.criterion]):
        points = 0.0
        if a.outcome != UNKNOWN and observed:
            points = 100.0 * weights[a.criterion] * VALUES[a.outcome] / observed
        value += points
        reasons.append(_reason(a, points))
    confidence = round(observed / total, 2) if total else 0.0
    final_score = round(value) if observed else None

    hard = set(icp["hard_filters"])
    tripped = [
        a
        for a in assessments
        if a.outcome == MISMATCH
        and a.confident
        and (a.criterion in hard or any(t in hard for t in a.tripped))
    ]
    thresholds = icp["thresholds"]
    notes = []
    if tripped:
        verdict = "unqualified"
        for a in tripped:
            name = next((t for t in a.tripped if t in hard), a.criterion)
            notes.append(
                {
                    "criterion": "hard_filters",
                    "outcome": MISMATCH,
                    "points": 0,
                    "evidence": f"hard filter {name}: {a.evidence}",
                    "source_url": a.source_url,
                }
            )
    elif final_score is None:
        verdict = "unknown"
    elif final_score >= thresholds["qualified"]:
        words = signals.get("word_count") or 0
        if confidence >= thresholds["min_confidence"] and words >= MIN_WORDS_TO_QUALIFY:
            verdict = "qualified"
        elif confidence >= thresholds["min_confidence"]:
            verdict = "review"
            notes.append(
                {
                    "criterion": "confidence",
                    "outcome": PARTIAL,
                    "points": 0,
                    "evidence": f"score {final_score} rests on {words} words of site text "
                    f"(fewer than {MIN_WORDS_TO_QUALIFY}): review by hand",
                    "source_url": signals.get("final_url"),
                }
            )
        else:
            verdict = "review"
            notes.append(
                {
                    "criterion": "confidence",
                    "outcome": PARTIAL,
                    "points": 0,
                    "evidence": f"score {final_score} but only {confidence:.0%} of the ICP's "
                    f"weight could be observed (minimum {thresholds['min_confidence']:.0%})",
                    "source_url": signals.get("final_url"),
                }
            )
    elif final_score >= thresholds["review"]:
        verdict = "review"
    else:
        verdict = "unqualified"
    if signals.get("offsite_redirect"):
        notes.append(
            {
                "criterion": "site",
                "outcome": "info",
                "points": 0,
                "evidence": f"{signals.get('domain')} redirects to {signals['final_url']}; "
                "that site was judged",
                "source_url": signals.get("final_url"),
            }
        )
    if verdict == "qualified":
        tier = "A" if confidence >= TIER_A_CONFIDENCE else "B"
    else:
        tier = "C" if verdict == "review" else "D"
    evidence = _summary(signals)
    # The ICP industry the site matched (an export column), when one did.
    evidence["industry"] = next(
        (a.matched for a in assessments if a.criterion == "industries" and a.outcome != MISMATCH),
        None,
    )
    return {
        "score": final_score,
        "verdict": verdict,
        "tier": tier,
        "confidence": confidence,
        "error": None,
        "reasons": notes + reasons,
        "evidence": evidence,
    }
