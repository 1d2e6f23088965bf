"""What the tests of result pages and of ``qualify ui`` share: a qualifier whose results vary
in every way a results table can filter on, and a run of it worked for real."""

from __future__ import annotations

from qualify.api import Qualify
from qualify.errors import PermanentError
from qualify.worker import WorkerOptions
from tests.support import create_run

TIERS = ("A", "B", "C", "D")


def varied(domain: str, icp: dict) -> dict:
    """A result chosen by the domain's number (``co123-….com``): scores with many ties, every
    verdict, tiers, results without a score that carry an error code, and failures."""
    label = domain.split(".", 1)[0]
    number = int(label[2:].split("-", 1)[0]) if label[2:3].isdigit() else sum(domain.encode())
    if "fail" in label:
        raise PermanentError(f"{domain} cannot be judged", code="nope")
    if number % 9 == 0:
        return {
            "score": None,
            "verdict": "unknown",
            "reasons": [{"criterion": "site", "outcome": "unknown", "evidence": "no answer"}],
            "evidence": {"error": "dns_nxdomain"},
            "tier": "D",
            "confidence": 0.0,
            "error": "dns_nxdomain",
        }
    score = (number * 37) % 21 * 5  # 0..100 in steps of 5: many rows share a score
    verdict = "qualified" if score >= 70 else "review" if score >= 45 else "unqualified"
    return {
        "score": score,
        "verdict": verdict,
        "reasons": [
            {
                "criterion": "industries",
                "outcome": "match" if score >= 45 else "mismatch",
                "points": score / 4,
                "evidence": f"'{label} freight software'",
                "source_url": f"https://{domain}/about",
            }
        ],
        "evidence": {"title": f"{label.upper()} Logistics GmbH", "url": f"https://{domain}/"},
        "tier": TIERS[number % 4],
        "confidence": round((number % 10) / 10, 1),
        "error": None,
    }


VARIED = "tests.ui_support:varied"


def varied_domains(count: int, failures: int = 0) -> list[str]:
    domains = [f"co{i:03d}-{('x' * (i % 3)) or 'y'}.com" for i in range(count)]
    return domains + [f"co{900 + i}-fail.com" for i in range(failures)]


def worked_run(app: Qualify, domains: list[str], *, qualifier: str = VARIED) -> int:
    """A run of ``domains`` worked to the end by a real worker in this process."""
    run_id = create_run(app, domains, qualifier=qualifier, max_attempts=1)
    app.worker(WorkerOptions(burst=True, handle_signals=False, lease=5)).run()
    return run_id
