"""Export a run's outcomes as CSV (for spreadsheets and CRMs), JSON Lines or JSON."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from qualify.errors import InputError
from qualify.store import JobRecord
from qualify.timefmt import iso

FORMATS = ("csv", "jsonl", "json")
VERDICT_FILTERS = ("qualified", "review", "unqualified", "unknown", "failed")
CSV_COLUMNS = (
    "domain",
    "state",
    "verdict",
    "score",
    "reasons",
    "error",
    "attempts",
    "finished_at",
    "evidence",
)
# Fields some qualifiers add to their results (the web qualifier does): CSV gets a column
# for each one the run's results carry, right after the score.
OPTIONAL_COLUMNS = ("tier", "confidence")
# Between reasons in one CSV cell: one reason per line of the cell, as spreadsheets show it.
# (No single-line separator is safe: the web qualifier's evidence uses "; " and " | " itself.)
REASON_SEPARATOR = "\n"


def csv_columns(result_keys: Iterable[str] = ()) -> tuple[str, ...]:
    """The CSV header for a run whose results carry ``result_keys``."""
    optional = tuple(c for c in OPTIONAL_COLUMNS if c in set(result_keys))
    at = CSV_COLUMNS.index("score") + 1
    return CSV_COLUMNS[:at] + optional + CSV_COLUMNS[at:]


def row(record: JobRecord) -> dict[str, Any]:
    """One export row: the contract's columns plus the qualifier's evidence."""
    return {
        "domain": record.domain,
        "state": record.state,
        "verdict": record.verdict,
        "score": record.score,
        "reasons": record.reasons,
        "error": error_text(record),
        "attempts": record.attempts,
        "finished_at": iso(record.finished_at),
        "evidence": record.evidence,
        **{k: v for k, v in record.extra.items() if k not in ("signals", "error")},
    }


def error_text(record: JobRecord) -> str | None:
    """The job's error if it failed, or the code a qualifier reported with its result."""
    if record.state == "done":
        return record.extra.get("error") or None
    if record.error_code or record.error:
        return f"{record.error_code}: {record.error}" if record.error_code else record.error
    return None


def reason_text(reason: Any) -> str:
    """A reason as one readable phrase: ``industries: match (+25) - 'freight software'``."""
    if isinstance(reason, str):
        return reason
    text = str(reason.get("criterion", ""))
    if reason.get("outcome"):
        text += f": {reason['outcome']}"
    points = reason.get("points")
    if isinstance(points, int | float) and not isinstance(points, bool):
        text += f" ({points:+g})"
    if reason.get("evidence"):
        text += f" - {reason['evidence']}"
    return text


def write(
    records: Iterable[JobRecord], fmt: str, out: TextIO, *, result_keys: Iterable[str] = ()
) -> int:
    """Write ``records`` to ``out`` in ``fmt``; return how many were written.
    ``result_keys``: the extra fields the run's results carry (CSV columns for some)."""
    if fmt == "csv":
        return _write_csv(records, out, csv_columns(result_keys))
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise InputError(f"--format: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return writer(records, out)


def _write_csv(records: Iterable[JobRecord], out: TextIO, columns: Sequence[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(csv_row(record))
        count += 1
    return count


def csv_row(record: JobRecord) -> dict[str, Any]:
    """One export row as the CSV writes it: reasons one per line, evidence as JSON."""
    data = row(record)
    data["reasons"] = REASON_SEPARATOR.join(reason_text(r) for r in record.reasons)
    data["score"] = csv_score(record.score)
    data["evidence"] = json.dumps(record.evidence, ensure_ascii=False) if record.evidence else ""
    return data


def csv_score(score: float | None) -> float | int | None:
    """ "67", not "67.0", in a spreadsheet."""
    if isinstance(score, float) and score.is_integer():
        return int(score)
    return score


def _write_jsonl(records: Iterable[JobRecord], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(row(record), ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_json(records: Iterable[JobRecord], out: TextIO) -> int:
    # Streamed by hand so a million rows never sit in memory as one list.
    count = 0
    out.write("[")
    for record in records:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row(record), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


_WRITERS: dict[str, Callable[[Iterable[JobRecord], TextIO], int]] = {
    "jsonl": _write_jsonl,
    "json": _write_json,
}


@contextmanager
def atomic_output(path: str) -> Iterator[TextIO]:
    """Write to a temporary file beside ``path`` and rename it into place only on success,
    so an interrupted export never leaves half a file under the real name."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qualify-export-", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
