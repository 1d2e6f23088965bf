"""A toy qualifier that needs no network: it looks for the ICP's keywords in the domain name.

It exists to show the qualifier interface (``qualify run … --qualifier
qualify.examples.name_match:qualify``) and to let a newcomer try the pipeline offline. It
judges names, not companies: use the ``web`` qualifier for real work.
"""

from __future__ import annotations

from typing import Any


def _keywords(icp: dict[str, Any]) -> tuple[list[str], list[str]]:
    wanted: list[str] = []
    for industry in icp.get("industries") or []:
        if isinstance(industry, dict):
            wanted += [str(k) for k in industry.get("keywords") or []]
    keywords = icp.get("keywords") or {}
    if isinstance(keywords, dict):
        wanted += [str(k) for k in keywords.get("any") or []]
        unwanted = [str(k) for k in keywords.get("none") or []]
    else:
        unwanted = []
    return wanted, unwanted


def qualify(domain: str, icp: dict[str, Any]) -> dict[str, Any]:
    wanted, unwanted = _keywords(icp)
    name = domain.lower()
    hits = [k for k in wanted if k.lower() in name]
    vetoes = [k for k in unwanted if k.lower() in name]
    reasons: list[dict[str, Any]] = []
    for keyword in hits:
        reasons.append(
            {
                "criterion": "keywords",
                "outcome": "match",
                "points": 40,
                "evidence": f"domain name contains '{keyword}'",
                "source_url": None,
            }
        )
    for keyword in vetoes:
        reasons.append(
            {
                "criterion": "keywords.none",
                "outcome": "mismatch",
                "points": 0,
                "evidence": f"domain name contains excluded '{keyword}'",
                "source_url": None,
            }
        )
    if vetoes:
        score, verdict = 0, "unqualified"
    elif hits:
        score = min(100, 40 * len(hits) + 30)
        verdict = "qualified" if score >= 70 else "review"
    else:
        score, verdict = None, "unknown"
        reasons.append(
            {
                "criterion": "keywords",
                "outcome": "unknown",
                "points": 0,
                "evidence": "no ICP keyword in the domain name",
                "source_url": None,
            }
        )
    return {
        "score": score,
        "verdict": verdict,
        "reasons": reasons,
        "evidence": {"domain": domain, "keywords_checked": len(wanted) + len(unwanted)},
    }
