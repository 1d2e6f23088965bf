"""The library's values as the pages and the JSON API show them: formatting, safe links, and
one view of a run (its counters plus what the dashboard measured)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from qualify.export import reason_text
from qualify.store import Run, WorkerInfo
from qualify.timefmt import ago, iso, rate, span
from qualify.ui.facts import Live


@dataclass(frozen=True)
class RunView:
    run: Run
    unknown: int
    #: Jobs finished per second over the last minute (None: not measured or not moving).
    rate: float | None
    eta: float | None
    #: Why a stuck run is stuck and what gets it going, in one sentence.
    stuck_hint: str | None

    @property
    def percent(self) -> str:
        return f"{self.run.progress:.1%}"


def run_view(run: Run, live: Live, unknown: int, stuck_after: float) -> RunView:
    line = live.line(run.id)
    # The dashboard's list is newer than the status listing when the run moved in between.
    current = line.run if line is not None and line.run.updated_at >= run.updated_at else run
    return RunView(
        run=current,
        unknown=unknown,
        rate=line.rate if line is not None and current.active else None,
        eta=line.eta if line is not None and current.active else None,
        stuck_hint=stuck_hint(current, live, stuck_after) if current.stuck else None,
    )


def stuck_hint(run: Run, live: Live, stuck_after: float) -> str:
    idle = ago(live.snapshot.now - run.updated_at)
    text = f"Nothing moved for {idle} and no worker holds a lease on its jobs. "
    if live.snapshot.live_workers:
        return text + (
            "Workers are alive but none takes its jobs: Recover puts them back in the queue"
            f" (qualify recover --older-than {ago(stuck_after)})."
        )
    return text + "No worker is alive: start one with `qualify worker`."


def worker_reason(worker: WorkerInfo) -> str | None:
    """Why a worker is in its state (a PAUSED worker says why), when the store says."""
    return worker.paused_reason or None


def safe_url(url: Any) -> str | None:
    """``url`` if it is an http(s) address a link may point to, else None (shown as text):
    no ``javascript:``, ``data:`` or anything else a crawled page may have planted."""
    if not isinstance(url, str) or len(url) > 4096:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(c) < 0x21 for c in url.strip()):
        return None
    return url.strip()


def url_label(url: str) -> str:
    """A link's text: the address without its scheme, cut short (the link has it whole)."""
    text = url.split("://", 1)[-1]
    return text if len(text) <= 60 else text[:57] + "…"


def expires(seconds: float) -> str:
    return f"in {seconds:.0f}s" if seconds >= 0 else f"expired {ago(-seconds)} ago"


def percent(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return f"{value:.0%}"


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def points(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return ""
    return f"{value:+g}"


def run_json(view: RunView, now: float) -> dict[str, Any]:
    run = view.run
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "stuck": run.stuck,
        "stuck_hint": view.stuck_hint,
        "total": run.total,
        "completed": run.completed,
        "failed": run.failed,
        "qualified": run.qualified,
        "unknown": view.unknown,
        "cancelled": run.cancelled,
        "progress": round(run.progress, 4),
        "rate_per_second": view.rate,
        "eta_seconds": view.eta,
        "qualifier": run.qualifier,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "finished_at": iso(run.finished_at),
        "seconds_since_change": round(now - run.updated_at, 1),
    }


def worker_json(worker: WorkerInfo, now: float) -> dict[str, Any]:
    return {
        "id": worker.id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "state": worker.state,
        "reason": worker_reason(worker),
        "concurrency": worker.concurrency,
        "in_flight": worker.in_flight,
        "processed": worker.processed,
        "failed": worker.failed,
        "heartbeat_at": iso(worker.heartbeat_at),
        "heartbeat_age_seconds": round(now - worker.heartbeat_at, 1),
    }


def pretty_json(value: Any) -> str:
    """JSON for people, as text (the template escapes it like any other text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


FILTERS = {
    "pretty_json": pretty_json,
    "url_label": url_label,
    "expires": expires,
    "percent": percent,
    "ago": ago,
    "iso": iso,
    "span": span,
    "rate": rate,
    "number": number,
    "score": score,
    "points": points,
    "safe_url": safe_url,
    "reason_text": reason_text,
}
