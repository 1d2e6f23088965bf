"""How far a run agrees with a salesperson's labels, and which criteria pushed it wrong.

Agreement is the share of labelled domains the run judged whose verdict matches the label
(``not qualified``, from ``no``, matches any verdict but qualified). Precision and recall
are those of ``qualified``. For a qualifier whose reasons name criteria and outcomes (the
``web`` qualifier's do), every disagreement with a direction (the run was stricter or more
lenient than the label) counts the criteria that pushed it that way: a match that lifted a
company you labelled lower ("up"), a mismatch, a hard filter or too little confidence that
held back one you labelled higher ("down").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qualify.export import reason_text
from qualify.store import JobRecord
from qualify.tuning.labels import LABELS, NOT_QUALIFIED, Labels

VERDICTS = ("qualified", "review", "unqualified", "unknown")
_RANK = {"qualified": 2, "review": 1, "unqualified": 0}
UP, DOWN = "up", "down"
_DOWN_OUTCOMES = ("mismatch", "partial")
_NOTES = ("hard_filters", "confidence")
#: Domains named per criterion in the analysis (the counts are complete).
EXAMPLES = 5


@dataclass(frozen=True)
class Disagreement:
    domain: str
    label: str
    verdict: str
    score: float | None
    #: "up": the run judged it higher than the label; "down": lower; None: not comparable
    #: (unknown on either side).
    direction: str | None
    #: The reasons that decided it (for a direction, those that pushed that way).
    reasons: list[Any]


@dataclass(frozen=True)
class CriterionPush:
    criterion: str
    direction: str
    count: int  # disagreements it pushed this way
    outcomes: dict[str, int]  # how: {"mismatch": 3, "hard filter": 2}
    domains: list[str]  # the first few


@dataclass(frozen=True)
class Evaluation:
    run_id: int
    labels_source: str
    labelled: int
    unlabelled_rows: int
    missing: list[str]  # labelled, but not in the run
    not_judged: list[tuple[str, str]]  # in the run without a verdict: (domain, job state)
    judged: int
    agreed: int
    confusion: dict[str, dict[str, int]]  # label -> verdict -> count
    true_positives: int
    false_positives: int
    false_negatives: int
    disagreements: list[Disagreement]
    pushes: list[CriterionPush]

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.judged if self.judged else None

    @property
    def precision(self) -> float | None:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else None


def agrees(label: str, verdict: str) -> bool:
    return verdict != "qualified" if label == NOT_QUALIFIED else label == verdict


def direction(label: str, verdict: str) -> str | None:
    if verdict == "unknown" or label == "unknown":
        return None
    verdict_rank = _RANK[verdict]
    if label == NOT_QUALIFIED:
        return UP if verdict_rank == _RANK["qualified"] else None
    label_rank = _RANK[label]
    if verdict_rank == label_rank:
        return None
    return UP if verdict_rank > label_rank else DOWN


def evaluate(run_id: int, labels: Labels, records: Iterable[JobRecord]) -> Evaluation:
    """``records``: the run's jobs for the labelled domains (those it has)."""
    by_domain = labels.by_domain
    seen: set[str] = set()
    not_judged: list[tuple[str, str]] = []
    confusion: dict[str, dict[str, int]] = {}
    disagreements: list[Disagreement] = []
    agreed = judged = tp = fp = fn = 0
    for record in records:
        label = by_domain[record.domain].label
        seen.add(record.domain)
        if record.state != "done" or record.verdict is None:
            not_judged.append((record.domain, record.state))
            continue
        verdict = record.verdict
        judged += 1
        row = confusion.setdefault(label, {})
        row[verdict] = row.get(verdict, 0) + 1
        positive, predicted = label == "qualified", verdict == "qualified"
        tp += positive and predicted
        fp += predicted and not positive
        fn += positive and not predicted
        if agrees(label, verdict):
            agreed += 1
            continue
        way = direction(label, verdict)
        disagreements.append(
            Disagreement(
                record.domain, label, verdict, record.score, way, _deciding(record.reasons, way)
            )
        )
    return Evaluation(
        run_id=run_id,
        labels_source=labels.source,
        labelled=len(by_domain),
        unlabelled_rows=labels.unlabelled,
        missing=[domain for domain in by_domain if domain not in seen],
        not_judged=not_judged,
        judged=judged,
        agreed=agreed,
        confusion={label: confusion[label] for label in LABELS if label in confusion},
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        disagreements=disagreements,
        pushes=criterion_pushes(disagreements),
    )


def pushing(reason: Any, way: str | None) -> tuple[str, str] | None:
    """``(criterion, how)`` if this reason pushed a verdict ``way``, else None."""
    if not isinstance(reason, dict) or way is None:
        return None
    criterion, outcome = str(reason.get("criterion") or ""), reason.get("outcome")
    evidence = str(reason.get("evidence") or "")
    if way == DOWN:
        if criterion == "hard_filters" and evidence.startswith("hard filter "):
            return evidence.removeprefix("hard filter ").split(":", 1)[0], "hard filter"
        if criterion == "confidence":
            return "confidence", "too little observed"
        if outcome in _DOWN_OUTCOMES and criterion not in _NOTES:
            return criterion, str(outcome)
        return None
    points = reason.get("points")
    gained = isinstance(points, int | float) and not isinstance(points, bool) and points > 0
    if outcome in ("match", "partial") and gained:
        return criterion, str(outcome)
    return None


def _deciding(reasons: Sequence[Any], way: str | None) -> list[Any]:
    pushed = [r for r in reasons if pushing(r, way) is not None]
    # A tripped hard filter decides alone: the points of the other criteria did not count.
    filters = [r for r in pushed if isinstance(r, dict) and r.get("criterion") == "hard_filters"]
    return filters or pushed or list(reasons[:3])


def criterion_pushes(disagreements: Iterable[Disagreement]) -> list[CriterionPush]:
    counts: Counter[tuple[str, str]] = Counter()
    outcomes: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    domains: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for item in disagreements:
        found: dict[tuple[str, str], str] = {}
        for reason in item.reasons:
            pushed = pushing(reason, item.direction)
            if pushed is not None and item.direction is not None:
                found.setdefault((pushed[0], item.direction), pushed[1])
        for key, how in found.items():
            counts[key] += 1
            outcomes[key][how] += 1
            if len(domains[key]) < EXAMPLES:
                domains[key].append(item.domain)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        CriterionPush(key[0], key[1], count, dict(outcomes[key]), domains[key])
        for key, count in ranked
    ]


def reason_phrases(reasons: Iterable[Any]) -> list[str]:
    return [reason_text(r) for r in reasons]
