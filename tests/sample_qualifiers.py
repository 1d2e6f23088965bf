"""Qualifiers for the tests: real callables whose behaviour the domain name chooses.

``by_name`` reads a prefix of the domain's first label:
  ``slow<N>-``       sleeps N milliseconds, then succeeds
  ``transient<N>-``  raises TransientError on its first N calls, then succeeds
  ``gone<N>-``       an ``unknown`` result with error ``dns_nxdomain`` on its first N calls
                     (recorded while the network was down, say), then a real one
  ``permanent-``     raises PermanentError
  ``crash-``         raises an unexpected exception (counts as transient)
  ``badresult-``     returns something that is not a result
  ``poison-``        kills its own process with SIGKILL (a poison pill)
  ``hang-``          sleeps for an hour
  ``unstorable-``    returns a result no database can store (a lone surrogate)
  ``nan-`` ``inf-``  a result with NaN (Infinity) deep in its evidence
  ``overflow-``      a score too large for a float
  ``verdict-``       a verdict outside the set
  ``exit-``          raises SystemExit; ``interrupt-`` raises KeyboardInterrupt
  ``unprintable-``   raises an exception whose str() raises
  anything else      succeeds at once
Every call is logged to the file named by ``QUALIFY_TEST_LOG`` (if set) as
``start <domain> <pid>`` and ``end <domain> <pid>`` lines, so a test can count how often a
domain was really run, across processes.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time

from qualify.errors import ICPError, OurSideError, PermanentError, TransientError

_PREFIX = re.compile(
    r"^(slow|transient|gone)(\d+)-|^(permanent|crash|badresult|poison|hang|unstorable|unknown|nan|inf|overflow|verdict|exit"
    r"|interrupt|unprintable)-"
)


def _log(event: str, domain: str) -> None:
    path = os.environ.get("QUALIFY_TEST_LOG")
    if path:
        # One small O_APPEND write per line: atomic across processes.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{event} {domain} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


def calls(log_path: str, domain: str | None = None, event: str = "start") -> list[str]:
    """Domains (with repeats) that were started or ended, according to the log."""
    if not os.path.exists(log_path):
        return []
    with open(log_path) as fh:
        seen = [line.split()[1] for line in fh if line.startswith(event + " ")]
    return [d for d in seen if domain is None or d == domain]


def _result(domain: str) -> dict:
    score = sum(domain.encode()) % 101
    verdict = "qualified" if score >= 70 else "review" if score >= 45 else "unqualified"
    return {
        "score": score,
        "verdict": verdict,
        "reasons": [
            {
                "criterion": "name",
                "outcome": "match",
                "points": score,
                "evidence": f"domain '{domain}'",
                "source_url": f"https://{domain}/",
            }
        ],
        "evidence": {"domain": domain},
        "tier": "A" if score >= 70 else "C",
    }


_DEAD_SITE = {"score": None, "verdict": "unknown", "reasons": [], "evidence": {},
              "error": "dns_nxdomain"}  # fmt: skip


def by_name(domain: str, icp: dict) -> dict:
    _log("start", domain)
    match = _PREFIX.match(domain)
    kind = (match.group(1) or match.group(3)) if match else None
    number = int(match.group(2)) if match and match.group(2) else 0
    if kind == "slow":
        time.sleep(number / 1000)
    elif kind == "transient":
        log_path = os.environ.get("QUALIFY_TEST_LOG", "")
        if len(calls(log_path, domain)) <= number:
            raise TransientError(f"{domain} is having a bad day", code="flaky")
    elif kind == "gone":
        if len(calls(os.environ.get("QUALIFY_TEST_LOG", ""), domain)) <= number:
            _log("end", domain)
            return dict(_DEAD_SITE)
    elif kind == "permanent":
        raise PermanentError(f"{domain} cannot be judged", code="nope")
    elif kind == "crash":
        raise ValueError(f"bug while judging {domain}")
    elif kind == "badresult":
        return ["not", "a", "result"]  # type: ignore[return-value]
    elif kind == "poison":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "hang":
        time.sleep(3600)
    elif kind == "exit":
        raise SystemExit(3)
    elif kind == "interrupt":
        raise KeyboardInterrupt
    elif kind == "unprintable":
        raise _Unprintable()
    elif kind == "unknown":
        _log("end", domain)
        return _unknown(domain)
    result = _result(domain)
    if kind == "unstorable":
        result["evidence"] = {"text": "broken \ud800 text"}
    elif kind in ("nan", "inf"):
        result["evidence"] = {"pages": [{"weight": float(kind)}]}
    elif kind == "overflow":
        result["score"] = 10**400
    elif kind == "verdict":
        result["verdict"] = "maybe"
    _log("end", domain)
    return result


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


def _unknown(domain: str) -> dict:
    """A site that could not be judged, with a code as the web qualifier gives one: the
    name's second part (``unknown-dns-acme.com``: ``dns_nxdomain``; else ``http_4xx``)."""
    code = "dns_nxdomain" if domain.startswith("unknown-dns-") else "http_4xx"
    reason = {"criterion": "site", "outcome": "unknown", "points": 0,
              "evidence": f"{code}: {domain} could not be read", "source_url": None}  # fmt: skip
    return {"score": None, "verdict": "unknown", "error": code, "reasons": [reason],
            "evidence": {"error": code}, "tier": "D"}  # fmt: skip


def profile(domain: str, icp: dict) -> dict:
    """What a CRM wants back, as the web qualifier gives it: company, country, size,
    industry and technologies in the evidence, reasons whose text spans lines, tier and
    confidence; ``unknown-`` names could not be judged (see by_name)."""
    if domain.startswith("unknown-"):
        return _unknown(domain)
    result = _result(domain)
    name = domain.split(".")[0].replace("-", " ").title()
    result["reasons"] = [
        {"criterion": "industries", "outcome": "match", "points": 30,
         "evidence": f"Logistics software: 'freight' in title:\n'{name} – freight'",
         "source_url": f"https://{domain}/"},
        {"criterion": "countries", "outcome": "match", "points": 20,
         "evidence": "DE (footer: '© GmbH,\r\nBerlin')", "source_url": None},
        {"criterion": "employees", "outcome": "partial", "points": 10,
         "evidence": "51-200 employees", "source_url": None},
        {"criterion": "technologies", "outcome": "match", "points": 5,
         "evidence": "HubSpot", "source_url": None},
    ]  # fmt: skip
    result["evidence"] = {
        "organization": f"{name} GmbH", "country": "DE", "employees": "51-200",
        "industry": "Logistics software", "technologies": ["HubSpot", "Segment"],
        "url": f"https://{domain}/",
    }  # fmt: skip
    result["confidence"] = 0.8
    return result


def jittery(domain: str, icp: dict) -> dict:
    """Succeeds after a random pause of up to ``QUALIFY_TEST_JITTER_MS`` (default 20) ms:
    work stays in flight long enough for a test to kill a worker in the middle of it."""
    _log("start", domain)
    time.sleep(random.random() * float(os.environ.get("QUALIFY_TEST_JITTER_MS", "20")) / 1000)
    result = _result(domain)
    _log("end", domain)
    return result


def noop(domain: str, icp: dict) -> dict:
    return {"score": None, "verdict": "unknown", "reasons": [], "evidence": {}}


def strict(domain: str, icp: dict) -> dict:
    return _result(domain)


def _validate(icp: dict) -> None:
    if not isinstance(icp.get("name"), str):
        raise ICPError("name", "expected a string")


strict.validate_icp = _validate  # type: ignore[attr-defined]


def by_threshold(domain: str, icp: dict) -> dict:
    """``_result``'s score, judged against the ICP's own ``qualified_at`` (default 70) and
    ``review_at`` (45): a rescore with other thresholds changes exactly the domains whose
    score lies between the old and the new ones."""
    result = _result(domain)
    score = result["score"]
    result["verdict"] = (
        "qualified"
        if score >= icp.get("qualified_at", 70)
        else "review"
        if score >= icp.get("review_at", 45)
        else "unqualified"
    )
    return result


def env_sleep(domain: str, icp: dict) -> dict:
    """Sleeps ``QUALIFY_TEST_SLEEP`` seconds (default 0): one worker slow, another fast."""
    time.sleep(float(os.environ.get("QUALIFY_TEST_SLEEP", "0")))
    return _result(domain)


def outage_prone(domain: str, icp: dict) -> dict:
    """A qualifier whose side can fail, for the outage breaker: while the file named by
    ``QUALIFY_TEST_OUTAGE`` exists, every call fails on "our side": ``down`` in it fails each
    lookup (with the unknown result a dead site would get), ``certain`` fails as our own
    endpoint refusing our key would. ``dead-`` domains always fail the lookup: sites that are
    gone. Its ``probe`` answers whether the file is gone (``QUALIFY_TEST_PROBE=none``: it
    cannot tell, so the worker tries a job)."""
    _log("start", domain)
    flag = os.environ.get("QUALIFY_TEST_OUTAGE", "")
    state = ""
    if flag and os.path.exists(flag):
        with open(flag) as fh:
            state = fh.read().strip()
    if state == "certain":
        raise OurSideError(
            "the model endpoint answered 401: our API key is refused",
            code="llm_unauthorized",
            kind="request",
            scope="llm endpoint",
            certain=True,
        )
    if state == "down" or domain.startswith("dead-"):
        raise OurSideError(
            f"DNS: no such name {domain}",
            code="dns_nxdomain",
            kind="lookup",
            subject=domain,
            result=_DEAD_SITE,
        )
    result = _result(domain)
    _log("end", domain)
    return result


def _outage_probe(error: OurSideError) -> bool | None:
    if os.environ.get("QUALIFY_TEST_PROBE") == "none":
        return None
    flag = os.environ.get("QUALIFY_TEST_OUTAGE", "")
    return not (flag and os.path.exists(flag))


outage_prone.probe = _outage_probe  # type: ignore[attr-defined]


class PageKeeper:
    """Reads and keeps one page per domain in the worker's page store, as the web qualifier
    does, sleeping ``QUALIFY_TEST_SLEEP`` seconds between (a fetch): its calls use the store
    from executor threads."""

    def __init__(self, pages: object) -> None:
        self.pages = pages

    @classmethod
    def from_settings(cls, settings: object, pages: object = None) -> PageKeeper:
        return cls(pages)

    def __call__(self, domain: str, icp: dict) -> dict:
        from qualify.pagecache import PageCopy

        kept = self.pages.site(domain, None) if self.pages is not None else {}
        time.sleep(float(os.environ.get("QUALIFY_TEST_SLEEP", "0")))
        if self.pages is not None:
            url = f"https://{domain}/"
            self.pages.put(domain, [PageCopy(url=url, status=200, content={"title": domain})])
        del kept
        return _result(domain)
