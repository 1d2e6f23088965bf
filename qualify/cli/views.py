"""What `eval`, `diff` and `prune` print: rich views of the tuning loop's results."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from qualify.cli.layout import listing
from qualify.cli.tables import VERDICT_STYLES
from qualify.export import reason_text
from qualify.store import PruneReport
from qualify.timefmt import ago
from qualify.tuning.compare import RunDiff
from qualify.tuning.evaluate import DOWN, Evaluation
from qualify.tuning.labels import LABELS

_VERDICTS = ("qualified", "review", "unqualified", "unknown")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def evaluation(found: Evaluation, limit: int) -> Group:
    parts: list[Any] = []
    head = Text()
    head.append(f"Run {found.run_id} against {found.labels_source}: ", style="bold")
    head.append(f"agreement {_share(found.agreement)}", style="bold green")
    head.append(f" ({found.agreed:,} of {found.judged:,} labelled domains the run judged)")
    parts.append(head)
    parts.append(
        Text(
            f"qualified: precision {_share(found.precision)}"
            f" ({found.true_positives} of {found.true_positives + found.false_positives}"
            f" the run qualified), recall {_share(found.recall)}"
            f" ({found.true_positives} of {found.true_positives + found.false_negatives}"
            " you labelled qualified)"
        )
    )
    notes = [f"{found.labelled:,} labelled"]
    if found.missing:
        shown = ", ".join(found.missing[:5]) + (" …" if len(found.missing) > 5 else "")
        notes.append(f"{len(found.missing):,} not in the run ({shown})")
    if found.not_judged:
        notes.append(f"{len(found.not_judged):,} in the run without a verdict (failed, unfinished)")
    if found.unlabelled_rows:
        rows = "row" if found.unlabelled_rows == 1 else "rows"
        notes.append(f"{found.unlabelled_rows:,} {rows} without a label skipped")
    parts.append(Text("; ".join(notes), style="dim"))
    parts.append(_confusion(found))
    if found.disagreements:
        parts.append(_disagreements(found, limit))
    if found.pushes:
        parts.append(_pushes(found))
    return Group(*parts)


def _confusion(found: Evaluation) -> Table:
    table = listing("Labels (rows) against the run's verdicts (columns)")
    table.add_column("LABEL", no_wrap=True)
    for verdict in _VERDICTS:
        table.add_column(verdict.upper(), justify="right", no_wrap=True)
    for label in LABELS:
        row = found.confusion.get(label)
        if row is None:
            continue
        cells = []
        for verdict in _VERDICTS:
            count = row.get(verdict, 0)
            agree = verdict == label or (label == "not qualified" and verdict != "qualified")
            cells.append(Text(str(count), style="green" if agree and count else ""))
        table.add_row(label, *cells)
    return table


def _disagreements(found: Evaluation, limit: int) -> Table:
    count = len(found.disagreements)
    more = f" (first {limit}; --json has all)" if count > limit else ""
    table = listing(f"{count:,} disagreement{'s' if count != 1 else ''}{more}")
    for column in ("DOMAIN", "LABEL", "VERDICT", "SCORE"):
        table.add_column(column, no_wrap=True)
    table.add_column("WHAT DECIDED IT", ratio=1)
    for item in found.disagreements[:limit]:
        table.add_row(
            item.domain,
            item.label,
            Text(item.verdict, style=VERDICT_STYLES.get(item.verdict, "")),
            "-" if item.score is None else f"{item.score:g}",
            "\n".join(_short(reason_text(r)) for r in item.reasons[:3]),
        )
    return table


def _short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pushes(found: Evaluation) -> Group:
    table = listing("Criteria that pushed disagreements the wrong way")
    for column in ("CRITERION", "DIRECTION", "HOW OFTEN", "HOW", "FOR EXAMPLE"):
        table.add_column(column, no_wrap=column != "FOR EXAMPLE")
    total = len([d for d in found.disagreements if d.direction])
    for push in found.pushes:
        way = "down" if push.direction == DOWN else "up"
        table.add_row(
            push.criterion,
            Text(way, style="yellow" if push.direction == DOWN else "magenta"),
            f"{push.count} of {total}",
            ", ".join(f"{n} {how}" for how, n in push.outcomes.items()),
            ", ".join(push.domains),
        )
    hint = Text(
        "down: it held back companies you labelled higher (loosen it); "
        "up: it lifted companies you labelled lower (tighten it or weigh it less).",
        style="dim",
    )
    return Group(table, hint)


def run_diff(found: RunDiff, limit: int) -> Group:
    parts: list[Any] = [
        Text(
            f"Run {found.run_a} → run {found.run_b}: {found.changed:,}"
            f" domain{'s' if found.changed != 1 else ''} changed,"
            f" {found.unchanged:,} unchanged",
            style="bold",
        )
    ]
    for (before, after), changes in found.groups.items():
        table = listing(f"{before} → {after}: {len(changes):,}")
        table.add_column("DOMAIN", no_wrap=True)
        table.add_column("SCORE", justify="right", no_wrap=True)
        table.add_column("REASONS THAT CHANGED", ratio=1)
        for change in changes[:limit]:
            lines = Text()
            for reason in change.reasons[:4]:
                if lines:
                    lines.append("\n")
                if reason.before:
                    lines.append(f"- {reason.before}", style="red")
                if reason.before and reason.after:
                    lines.append("\n")
                if reason.after:
                    lines.append(f"+ {reason.after}", style="green")
            table.add_row(change.domain, _scores(change.score_before, change.score_after), lines)
        if len(changes) > limit:
            table.add_row(Text(f"… {len(changes) - limit:,} more", style="dim"), "", "")
        parts.append(table)
    return Group(*parts)


def _scores(before: float | None, after: float | None) -> str:
    def show(score: float | None) -> str:
        return "-" if score is None else f"{score:g}"

    return f"{show(before)} → {show(after)}"


def prune_text(report: PruneReport) -> str:
    rest = report.remaining
    left = (
        f"{rest.pages:,} pages of {rest.sites:,} sites remain"
        f" ({_megabytes(rest.stored_bytes)} stored)"
    )
    if report.dry_run:
        return (
            f"Would remove {report.pages:,} pages of {report.sites:,} sites fetched more than"
            f" {ago(report.older_than)} ago. The page store holds {rest.pages:,} pages"
            f" ({_megabytes(rest.stored_bytes)}). Results are never touched."
        )
    return (
        f"Removed {report.pages:,} pages of {report.sites:,} sites fetched more than"
        f" {ago(report.older_than)} ago ({report.contents:,} stored documents,"
        f" {_megabytes(report.freed_bytes)}); {left}. Results are untouched."
    )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"
