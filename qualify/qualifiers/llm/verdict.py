"""From the model's answer to a result: every quote checked, the verdict from verified
reasons only. Pure.

Each of the model's reasons becomes ``{criterion, outcome, points, evidence, source_url}``
(the shape ``show``, ``export`` and the dashboard read) plus ``quote``, ``page`` and
``grounding`` (exact, fuzzy or unverified; ``none`` for an outcome of unknown, which needs
no quote). Only a verified reason with a known outcome is *observed*:

- score = 100 * mean value of the observed reasons (match 1, partial 0.5, mismatch 0);
  confidence = observed / all reasons;
- a verified mismatch makes the company ``unqualified`` (it fails a stated requirement);
- nothing observed: ``review`` when the model claimed something it could not show,
  ``unknown`` when it found nothing; never ``qualified``;
- otherwise as the web qualifier: ``qualified`` at the ICP's qualified threshold with its
  minimum confidence and at least one verified match, ``review`` above the review
  threshold (or short of confidence), else ``unqualified``.
"""

from __future__ import annotations

from typing import Any

from qualify.qualifiers.llm import grounding
from qualify.qualifiers.llm.prompt import Prompt

VALUES = {"match": 1.0, "partial": 0.5, "mismatch": 0.0}
TIER_A_CONFIDENCE = 0.75


def judge(answer: dict[str, Any], prompt: Prompt, thresholds: dict[str, float]) -> dict[str, Any]:
    """``score``, ``verdict``, ``tier``, ``confidence`` and ``reasons`` for an answer."""
    reasons = [_reason(raw, prompt) for raw in answer.get("reasons") or []]
    observed = [
        r for r in reasons if r["grounding"] in grounding.VERIFIED and r["outcome"] in VALUES
    ]
    for r in observed:
        r["points"] = round(100.0 * VALUES[r["outcome"]] / len(observed), 1)
    score = round(sum(r["points"] for r in observed)) if observed else None
    confidence = round(len(observed) / len(reasons), 2) if reasons else 0.0
    claimed = [r for r in reasons if r["outcome"] in VALUES]
    notes: list[dict[str, Any]] = []
    if any(r["outcome"] == "mismatch" for r in observed):
        verdict = "unqualified"
    elif score is None:
        verdict = "review" if claimed else "unknown"
        if claimed:
            notes.append(
                _note(
                    f"the model judged {len(claimed)} criteria but none of its "
                    "quotes was found on the cited page: review by hand"
                )
            )
    elif score >= thresholds["qualified"]:
        matched = any(r["outcome"] == "match" for r in observed)
        if confidence >= thresholds["min_confidence"] and matched:
            verdict = "qualified"
        else:
            verdict = "review"
            notes.append(
                _note(
                    f"score {score} but only {len(observed)} of {len(reasons)} "
                    "criteria are backed by a verified quote"
                )
            )
    elif score >= thresholds["review"]:
        verdict = "review"
    else:
        verdict = "unqualified"
    if verdict == "qualified":
        tier = "A" if confidence >= TIER_A_CONFIDENCE else "B"
    else:
        tier = "C" if verdict == "review" else "D"
    return {
        "score": score,
        "verdict": verdict,
        "tier": tier,
        "confidence": confidence,
        "reasons": notes + reasons,
    }


def _reason(raw: dict[str, Any], prompt: Prompt) -> dict[str, Any]:
    outcome = raw.get("outcome") or "unknown"
    quote = (raw.get("quote") or "").strip()
    claim = (raw.get("claim") or "").strip()
    page = prompt.page(raw.get("page"))
    if outcome == "unknown" and not quote:
        status, why = "none", None
    elif page is None:
        status, why = grounding.UNVERIFIED, f"cited page {raw.get('page')!r} was not shown"
    else:
        check = grounding.verify(quote, page.text, claim)
        status, why = check.status, check.why
    evidence = claim
    if quote:
        evidence = f'{claim} "{quote}"'.strip()
    if status == grounding.UNVERIFIED:
        evidence = f"[unverified: {why}] {evidence}"
    elif status == grounding.FUZZY:
        evidence = f"[fuzzy quote] {evidence}"
    return {
        "criterion": str(raw.get("criterion") or "criterion")[:80],
        "outcome": outcome,
        "points": 0.0,
        "evidence": evidence,
        "source_url": page.url if page is not None else None,
        "quote": quote or None,
        "page": page.id if page is not None else None,
        "grounding": status,
    }


def _note(text: str) -> dict[str, Any]:
    return {
        "criterion": "grounding",
        "outcome": "partial",
        "points": 0,
        "evidence": text,
        "source_url": None,
    }
