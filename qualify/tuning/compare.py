"""What changed between two runs (typically a run and its rescore): every domain whose
outcome changed, grouped by change (``review → qualified``), with its score before and after
and the reasons that changed.

An outcome is the result's verdict, or the job's state when it has none (``failed``,
``queued``...); a domain one run lacks is ``absent`` there. The comparison is made by the
database (a join on the runs' domains), so only changed domains are read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from qualify import export
from qualify.export import reason_text
from qualify.store import JobRecord, OutcomeChange, Runs

ABSENT = "absent"
CSV_EXTRA_COLUMNS = ("change", "verdict_before", "score_before", "reasons_changed")


@dataclass(frozen=True)
class ReasonChange:
    """One reason that differs: ``criterion`` (None for a plain-text reason), its phrase
    before and after (None where there is none)."""

    criterion: str | None
    before: str | None
    after: str | None


@dataclass(frozen=True)
class DomainChange:
    domain: str
    before: str
    after: str
    score_before: float | None
    score_after: float | None
    reasons: list[ReasonChange]


@dataclass(frozen=True)
class RunDiff:
    run_a: int
    run_b: int
    total_a: int
    total_b: int
    #: By change ``(before, after)``, most domains first; each group in run A's order.
    groups: dict[tuple[str, str], list[DomainChange]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(len(changes) for changes in self.groups.values())

    @property
    def unchanged(self) -> int:
        """Domains in both runs with the same outcome."""
        from_a = sum(len(c) for (before, _), c in self.groups.items() if before != ABSENT)
        return self.total_a - from_a


def reason_changes(before: Sequence[Any], after: Sequence[Any]) -> list[ReasonChange]:
    """Reasons that differ, matched by criterion (structured reasons) or by text."""
    old, new = _keyed(before), _keyed(after)
    changes = []
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        if was != now:
            criterion = key[0] if key[0] is not None else None
            changes.append(ReasonChange(criterion, was, now))
    return changes


def _keyed(reasons: Iterable[Any]) -> dict[tuple[str | None, Any], str]:
    keyed: dict[tuple[str | None, Any], str] = {}
    seen: dict[str, int] = {}
    for reason in reasons:
        text = reason_text(reason)
        if isinstance(reason, dict) and reason.get("criterion"):
            criterion = str(reason["criterion"])
            # Several reasons of one criterion (hard filters) pair up in order.
            index = seen[criterion] = seen.get(criterion, -1) + 1
            keyed[(criterion, index)] = text
        else:
            keyed[(None, text)] = text
    return keyed


def change_of(item: OutcomeChange) -> DomainChange:
    record = item.record
    return DomainChange(
        domain=item.domain,
        before=item.before,
        after=item.after or ABSENT,
        score_before=item.score_before,
        score_after=record.score if record else None,
        reasons=reason_changes(item.reasons_before, record.reasons if record else []),
    )


def _added(record: JobRecord) -> DomainChange:
    return DomainChange(
        domain=record.domain,
        before=ABSENT,
        after=record.verdict or record.state,
        score_before=None,
        score_after=record.score,
        reasons=reason_changes([], record.reasons),
    )


def compare(runs: Runs, run_a: int, run_b: int) -> RunDiff:
    first, second = runs.get(run_a), runs.get(run_b)
    groups: dict[tuple[str, str], list[DomainChange]] = {}
    for change in _changes(runs, run_a, run_b):
        groups.setdefault((change.before, change.after), []).append(change)
    ordered = dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))
    return RunDiff(run_a, run_b, first.total, second.total, ordered)


def _changes(runs: Runs, run_a: int, run_b: int) -> Iterator[DomainChange]:
    for item in runs.changed_outcomes(run_a, run_b):
        yield change_of(item)
    for record in runs.only_in_second(run_a, run_b):
        yield _added(record)


def write_csv(runs: Runs, run_a: int, run_b: int, out: IO[str]) -> int:
    """The changed domains as ``qualify export``'s CSV of run B (the same columns, B's row,
    its input row first), plus the change, run A's verdict and score, and the reasons that
    changed."""
    layout = export.Layout(runs.inputs(run_b))
    writer = csv.DictWriter(
        out, fieldnames=[*layout.header, *CSV_EXTRA_COLUMNS], extrasaction="ignore"
    )
    writer.writeheader()
    count = 0
    for item in runs.changed_outcomes(run_a, run_b):
        change = change_of(item)
        row = layout.cells(item.record) if item.record else {"domain": item.domain}
        writer.writerow({**row, **_extra(change)})
        count += 1
    for record in runs.only_in_second(run_a, run_b):
        writer.writerow({**layout.cells(record), **_extra(_added(record))})
        count += 1
    return count


def _extra(change: DomainChange) -> dict[str, Any]:
    return {
        "change": f"{change.before} → {change.after}",
        "verdict_before": change.before,
        "score_before": export.spreadsheet_score(change.score_before),
        "reasons_changed": export.REASON_SEPARATOR.join(
            f"{c.before or '(none)'} → {c.after or '(none)'}" for c in change.reasons
        ),
    }
