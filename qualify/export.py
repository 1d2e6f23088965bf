"""Export a run's outcomes: CSV or an Excel workbook (flat columns a CRM imports), JSON Lines
or JSON (every field as structured data).

A CSV or XLSX row starts with the cells the job carried from its input row, under their own
names (a CRM export's ``Record ID`` comes back as ``Record ID``, so the file joins back on
it), then qualify's columns (:data:`RESULT_COLUMNS`), each of which is called
``qualify_NAME`` where the input has a column of that name (``Country``), so no import maps
qualify's findings over the CRM's own data by accident. ``columns`` picks and orders any of
them, :data:`EXTRA_COLUMNS` included. Every cell holds one line unless ``flat=False``.

    layout = Layout(app.runs.inputs(3), columns=["Record ID", "verdict", "score"])
    write(app.runs.records(3), "csv", sys.stdout, layout)
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TextIO

from qualify.errors import InputError
from qualify.timefmt import iso

if TYPE_CHECKING:
    # The store's values only: `qualify --help` imports this module for its choices.
    from qualify.store import JobRecord, RunInputs

FORMATS = ("csv", "jsonl", "json", "xlsx")
VERDICT_FILTERS = ("qualified", "review", "unqualified", "unknown", "failed")
#: qualify's columns of a CSV or XLSX export, in their default order.
RESULT_COLUMNS = (
    "domain",
    "state",
    "verdict",
    "score",
    "tier",
    "confidence",
    "company_name",
    "country",
    "employees",
    "industry",
    "technologies",
    "reason_1",
    "reason_2",
    "reason_3",
    "error_code",
    "error_message",
    "attempts",
    "finished_at",
)
#: Columns left out by default, to be named with ``columns``.
EXTRA_COLUMNS = ("reasons", "business_model", "language", "final_url", "evidence", "job_id")
TOP_REASONS = 3
# Between reasons in the one-cell `reasons` column: on one line, or one reason per line.
FLAT_REASON_SEPARATOR = " | "
REASON_SEPARATOR = "\n"
# Where a qualifier's evidence gives each flat column (the web qualifier's names first).
EVIDENCE_KEYS = {
    "company_name": ("organization", "company_name", "company", "name"),
    "country": ("country",),
    "employees": ("employees",),
    "industry": ("industry",),
    "technologies": ("technologies",),
    "business_model": ("business_model",),
    "language": ("language",),
    "final_url": ("url",),
}
LIST_SEPARATOR = "; "
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class UnknownColumn(InputError):
    """A column asked for that the export does not have; the message lists those it has."""


@dataclass(frozen=True)
class Layout:
    """The columns of a CSV or XLSX export of one run: its input columns, then qualify's
    under their export names (:meth:`names`); or just ``columns``, in that order."""

    inputs: RunInputs = field(default_factory=lambda: _no_inputs())
    columns: Sequence[str] | None = None
    flat: bool = True

    def __post_init__(self) -> None:
        available = self.available
        for name in self.columns or ():
            if name not in available:
                raise UnknownColumn(
                    f"columns: no column {name!r} to export; choose from {', '.join(available)}"
                )

    @property
    def names(self) -> dict[str, str]:
        """Each of qualify's columns by its export name: its own, or ``qualify_NAME`` where
        an input column has that name (ignoring case)."""
        taken = {column.lower() for column in self.inputs.columns}
        return {
            f"qualify_{name}" if name.lower() in taken else name: name
            for name in (*RESULT_COLUMNS, *EXTRA_COLUMNS)
        }

    @property
    def available(self) -> list[str]:
        return [*self.inputs.columns, *self.names]

    @property
    def header(self) -> list[str]:
        if self.columns:
            return list(self.columns)
        return [*self.inputs.columns, *list(self.names)[: len(RESULT_COLUMNS)]]

    def cells(self, record: JobRecord) -> dict[str, Any]:
        """The record's row: every available column by name (plain values, one line each
        when ``flat``)."""
        ours = flat_columns(record, flat=self.flat)
        row: dict[str, Any] = dict(self.inputs.cells(record))
        row.update((name, ours[own]) for name, own in self.names.items())
        if self.flat:
            row = {k: _one_line(v) if isinstance(v, str) else v for k, v in row.items()}
        return row

    def values(self, record: JobRecord) -> list[Any]:
        cells = self.cells(record)
        return [cells.get(name) for name in self.header]


def flat_columns(record: JobRecord, *, flat: bool = True) -> dict[str, Any]:
    """qualify's columns of one record (:data:`RESULT_COLUMNS` and :data:`EXTRA_COLUMNS`)."""
    texts = [reason_text(r) for r in record.reasons]
    code, message = error_parts(record)
    score = spreadsheet_score(record.score)
    row: dict[str, Any] = {
        "domain": record.domain,
        "state": record.state,
        "verdict": record.verdict,
        "score": score,
        "tier": record.extra.get("tier"),
        "confidence": record.extra.get("confidence"),
        **{name: _evidence(record.evidence, keys) for name, keys in EVIDENCE_KEYS.items()},
        **{f"reason_{i}": texts[i - 1] if i <= len(texts) else None
           for i in range(1, TOP_REASONS + 1)},
        "error_code": code,
        "error_message": message,
        "attempts": record.attempts,
        "finished_at": iso(record.finished_at),
        "reasons": (FLAT_REASON_SEPARATOR if flat else REASON_SEPARATOR).join(texts),
        "evidence": json.dumps(record.evidence, ensure_ascii=False) if record.evidence else None,
        "job_id": record.job_id,
    }  # fmt: skip
    return row


def spreadsheet_score(score: float | None) -> float | int | None:
    """``67``, not ``67.0``, in a spreadsheet."""
    if isinstance(score, float) and score.is_integer():
        return int(score)
    return score


def _evidence(evidence: dict[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = evidence.get(key)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list):
            return LIST_SEPARATOR.join(str(v) for v in value)
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return value
    return None


def error_parts(record: JobRecord) -> tuple[str | None, str | None]:
    """The error's code and message, apart: a failed job's, or the code a qualifier gave
    with its result (the web qualifier's ``dns_nxdomain`` for a site it could not judge),
    its message taken from the first reason."""
    if record.state != "done":
        return record.error_code, record.error
    code = record.extra.get("error") or None
    if code is None:
        return None, None
    message = record.extra.get("error_message")
    if not message and record.reasons:
        first = record.reasons[0]
        text = first if isinstance(first, str) else str(first.get("evidence") or "")
        message = text.removeprefix(f"{code}: ") or None
    return str(code), message


def row(record: JobRecord, inputs: RunInputs | None = None) -> dict[str, Any]:
    """One JSON export row: the contract's fields, the qualifier's evidence and extra
    fields, and the job's input row by column name."""
    return {
        "domain": record.domain,
        "state": record.state,
        "verdict": record.verdict,
        "score": record.score,
        "reasons": record.reasons,
        "error": error_text(record),
        "attempts": record.attempts,
        "finished_at": iso(record.finished_at),
        # Who recorded the outcome, on which attempt (``attempts``): to audit a crash.
        "recorded_by": record.recorded_by,
        "evidence": record.evidence,
        **{k: v for k, v in record.extra.items() if k not in ("signals", "error")},
        "input": (inputs or _no_inputs()).cells(record),
    }


def _no_inputs() -> RunInputs:
    """What a run made before jobs carried their input rows carries: its domains."""
    from qualify.store import RunInputs

    return RunInputs()


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


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text) if ("\n" in text or "\r" in text) else text


def write(
    records: Iterable[JobRecord], fmt: str, out: IO[Any], layout: Layout | None = None
) -> int:
    """Write ``records`` to ``out`` in ``fmt`` (``out`` is binary for xlsx, text for the
    others); return how many were written."""
    layout = layout or Layout()
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise InputError(f"format: unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return writer(records, out, layout)


def _write_csv(records: Iterable[JobRecord], out: TextIO, layout: Layout) -> int:
    writer = csv.writer(out)
    writer.writerow(layout.header)
    count = 0
    for record in records:
        writer.writerow(layout.values(record))
        count += 1
    return count


def _write_xlsx(records: Iterable[JobRecord], out: IO[bytes], layout: Layout) -> int:
    from qualify import xlsx_out

    return xlsx_out.write(layout.header, (layout.values(r) for r in records), out)


def _write_jsonl(records: Iterable[JobRecord], out: TextIO, layout: Layout) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(row(record, layout.inputs), ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_json(records: Iterable[JobRecord], out: TextIO, layout: Layout) -> int:
    # Streamed by hand so a million rows never sit in memory as one list.
    count = 0
    out.write("[")
    for record in records:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row(record, layout.inputs), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


_WRITERS: dict[str, Callable[[Iterable[JobRecord], Any, Layout], int]] = {
    "csv": _write_csv,
    "xlsx": _write_xlsx,
    "jsonl": _write_jsonl,
    "json": _write_json,
}


def is_binary(fmt: str) -> bool:
    return fmt == "xlsx"


@contextmanager
def atomic_output(path: str, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place only on success,
    so an interrupted export never leaves half a file under the real name."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qualify-export-", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        if binary:
            with os.fdopen(fd, "wb") as raw:
                yield raw
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                yield out
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
