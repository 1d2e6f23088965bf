"""A run's results a page at a time, filtered and sorted, for people reading them (``qualify
ui``): keyset pagination, so the thousandth page costs what the first does and a million
rows are never loaded.

    page = store.results.page(run_id, sort="score_desc", filters=ResultFilter("qualified"))
    more = store.results.page(run_id, sort="score_desc", filters=..., after=page.next)

Each statement reads a bounded window of rows in the listing's order, from just after the
last row shown (``jobs_run_domain`` by name, ``results_run_score`` by score). A page fills
from as many windows as it needs, up to ``budget`` rows read per call; a filter that matches
almost nothing returns a short page whose ``next`` goes on from where the reading stopped
(``partial``), instead of reading a whole run in one request.

Sorted by score, the rows with a score come first; the rest (not judged, failed, pending)
follow in name order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qualify.errors import InputError
from qualify.store.database import Database, Row

SORTS = ("domain", "score_desc", "score_asc")
#: What ``ResultFilter.outcome`` accepts: a verdict, or a job state without a result.
OUTCOMES = ("qualified", "review", "unqualified", "unknown", "failed", "cancelled", "pending")
_NO_RESULT = ("failed", "cancelled", "pending")
WINDOW = 2000
BUDGET = 10_000
MAX_LIMIT = 500
# Keys before every real one: the first page of each order.
_FIRST: dict[str, tuple[str, tuple[Any, ...]]] = {
    "domain": ("d", ("",)),
    "score_desc": ("s", (math.inf, 2**62)),
    "score_asc": ("s", (-math.inf, 0)),
}


@dataclass(frozen=True)
class ResultFilter:
    """Which rows to list; None leaves a field out. ``text`` matches the domain or anything
    in the evidence, in any case; ``code`` the job's error code or the result's."""

    outcome: str | None = None
    tier: str | None = None
    code: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise InputError(f"outcome: {self.outcome!r} is not one of {', '.join(OUTCOMES)}")

    @property
    def empty(self) -> bool:
        return not (self.outcome or self.tier or self.code or self.text)

    def params(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome or None,
            "tier": self.tier or None,
            "code": self.code or None,
            "text": self.text.lower() if self.text else None,
        }


@dataclass(frozen=True)
class ResultRow:
    """One line of a results table: a domain, where its job is, and its result if any."""

    job_id: int
    domain: str
    state: str
    attempts: int
    error_code: str | None
    error: str | None
    finished_at: float | None
    next_attempt_at: float | None
    result_id: int | None
    verdict: str | None
    score: float | None
    tier: str | None
    confidence: float | None
    result_error: str | None
    title: str | None
    reasons: list[Any]

    @classmethod
    def from_row(cls, row: Row) -> ResultRow:
        confidence = row["confidence"]
        return cls(
            job_id=row["job_id"],
            domain=row["domain"],
            state=row["state"],
            attempts=row["attempts"],
            error_code=row["error_code"],
            error=row["error"],
            finished_at=row["finished_at"],
            next_attempt_at=row["next_attempt_at"],
            result_id=row["result_id"],
            verdict=row["verdict"],
            score=row["score"],
            tier=None if row["tier"] is None else str(row["tier"]),
            confidence=None if confidence is None else float(confidence),
            result_error=row["result_error"],
            title=None if row["title"] is None else str(row["title"]),
            reasons=json.loads(row["reasons"]) if row["reasons"] else [],
        )

    @property
    def code(self) -> str | None:
        """The job's error code, or the one its qualifier gave with the result."""
        return self.error_code or self.result_error


@dataclass(frozen=True)
class ResultPage:
    rows: list[ResultRow]
    #: The cursor of the next page (``after=``), or None at the end of the listing.
    next: str | None
    #: The reading budget ran out before the page filled: ``next`` goes on searching.
    partial: bool = False


@dataclass(frozen=True)
class Provenance:
    """Who recorded a result, and when (the database's clock)."""

    worker_id: str | None
    recorded_at: float


class Results:
    def __init__(self, database: Database) -> None:
        self.database = database

    def page(
        self,
        run_id: int,
        *,
        sort: str = "domain",
        filters: ResultFilter | None = None,
        after: str | None = None,
        limit: int = 50,
        window: int = WINDOW,
        budget: int = BUDGET,
    ) -> ResultPage:
        """Up to ``limit`` rows of run ``run_id`` after the cursor ``after`` (None: the
        first page). Raises InputError for an unknown sort or a cursor of another order."""
        if sort not in SORTS:
            raise InputError(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
        if not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit: must be between 1 and {MAX_LIMIT}")
        filters = filters or ResultFilter()
        phase, key = _parse_cursor(after, sort)
        if phase == "s" and filters.outcome in _NO_RESULT:
            phase, key = "u", ("",)  # rows without a result have no score either
        rows: list[ResultRow] = []
        read = 0
        while len(rows) < limit:
            if read >= budget:
                return ResultPage(rows, _cursor(phase, key), partial=True)
            want = limit - len(rows)
            # Unfiltered, every row read is shown: the window is the page itself.
            unfiltered = filters.empty and phase != "u"
            size = want + 1 if unfiltered else window
            found = self._window(run_id, sort, phase, key, filters, size, want + 1)
            read += size
            if len(found) > want:
                rows += found[:want]
                return ResultPage(rows, _cursor(phase, _key_of(phase, rows[-1])))
            rows += found
            end = None if unfiltered else self._window_end(run_id, sort, phase, key, size)
            if end is None:
                if phase == "s":  # the scored rows are done: the rest, by name
                    phase, key = "u", ("",)
                    continue
                return ResultPage(rows, None)
            key = end
        return ResultPage(rows, _cursor(phase, key))

    def kinds(self, run_id: int) -> tuple[dict[str, int], dict[str, int]]:
        """A run's results counted by tier, and by the error code given with them."""
        tiers: dict[str, int] = {}
        errors: dict[str, int] = {}
        for row in self.database.rows("count_result_kinds", run_id=run_id):
            if row["tier"] is not None:
                tier = str(row["tier"])
                tiers[tier] = tiers.get(tier, 0) + row["count"]
            if row["error"] is not None:
                code = str(row["error"])
                errors[code] = errors.get(code, 0) + row["count"]
        return tiers, errors

    def provenance(self, job_id: int) -> Provenance | None:
        row = self.database.row("result_provenance", job_id=job_id)
        if row is None:
            return None
        return Provenance(worker_id=row["worker_id"], recorded_at=row["created_at"])

    def _window(
        self,
        run_id: int,
        sort: str,
        phase: str,
        key: Sequence[Any],
        filters: ResultFilter,
        window: int,
        limit: int,
    ) -> list[ResultRow]:
        db = self.database
        params = {"run_id": run_id, "window": window, "limit": limit, **filters.params()}
        if phase != "s":
            found = db.rows("results_page_by_domain", after=key[0], unscored=phase == "u", **params)
        elif sort == "score_desc":
            found = db.rows("results_page_by_score_desc", score=key[0], result_id=key[1], **params)
        else:
            found = db.rows("results_page_by_score_asc", score=key[0], result_id=key[1], **params)
        return [ResultRow.from_row(row) for row in found]

    def _window_end(
        self, run_id: int, sort: str, phase: str, key: Sequence[Any], window: int
    ) -> tuple[Any, ...] | None:
        """The key of the window's last row, or None if the listing ended inside it."""
        if phase == "s":
            params = {"run_id": run_id, "score": key[0], "result_id": key[1], "offset": window - 1}
            if sort == "score_desc":
                row = self.database.row("score_window_end_desc", **params)
            else:
                row = self.database.row("score_window_end_asc", **params)
            return None if row is None else (row["score"], row["result_id"])
        domain = self.database.value(
            "domain_window_end", run_id=run_id, after=key[0], offset=window - 1
        )
        return None if domain is None else (domain,)


def _key_of(phase: str, row: ResultRow) -> tuple[Any, ...]:
    return (row.score, row.result_id) if phase == "s" else (row.domain,)


def _cursor(phase: str, key: Sequence[Any]) -> str:
    if phase == "s":
        return f"s:{key[0]!r}:{key[1]}"
    return f"{phase}:{key[0]}"


def _parse_cursor(after: str | None, sort: str) -> tuple[str, tuple[Any, ...]]:
    if not after:
        return _FIRST[sort]
    phase, _, rest = after.partition(":")
    try:
        if phase == "s" and sort != "domain":
            score, _, result_id = rest.rpartition(":")
            value = float(score)
            if math.isnan(value):
                raise ValueError(score)
            return "s", (value, int(result_id))
        if (phase == "d" and sort == "domain") or (phase == "u" and sort != "domain"):
            return phase, (rest,)
    except ValueError:
        pass
    raise InputError(f"after: {after!r} is not a cursor of this listing (sort {sort})")
