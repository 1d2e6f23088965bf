"""A salesperson's labels: a CSV with a header row, a ``domain`` column and a ``label``
column (any other column is ignored, so a run's own export with a ``label`` column added in
a spreadsheet is a labels file).

A label is a verdict (``qualified``, ``review``, ``unqualified``, ``unknown``) or ``yes`` /
``no`` (qualified / not qualified), in any case. A row with an empty label is not labelled.
Everything is checked before anything is used: a problem is an :class:`InputError` naming
the file and the line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from qualify.domains import InvalidDomain, normalise
from qualify.errors import InputError
from qualify.inputs import open_input, source_name

#: The label that means "any verdict but qualified" (what ``no`` says).
NOT_QUALIFIED = "not qualified"
LABELS = ("qualified", "review", "unqualified", "unknown", NOT_QUALIFIED)
_ALIASES = {
    **{verdict: verdict for verdict in LABELS[:4]},
    "yes": "qualified",
    "y": "qualified",
    "true": "qualified",
    "no": NOT_QUALIFIED,
    "n": NOT_QUALIFIED,
    "false": NOT_QUALIFIED,
    "not qualified": NOT_QUALIFIED,
}
DOMAIN_COLUMNS = ("domain", "website", "url")
LABEL_COLUMN = "label"
MAX_LABEL_BYTES = 100_000_000


@dataclass(frozen=True)
class Label:
    domain: str  # normalised, as the run has it
    label: str  # one of LABELS
    line: int
    text: str  # the cell as written


@dataclass(frozen=True)
class Labels:
    source: str
    by_domain: dict[str, Label]
    unlabelled: int  # rows whose label cell is empty


def read_labels(path: str) -> Labels:
    name = source_name(path)
    with open_input(path) as stream:
        data = stream.read(MAX_LABEL_BYTES + 1)
    if len(data) > MAX_LABEL_BYTES:
        raise InputError(f"{name}: larger than {MAX_LABEL_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
        ) from None
    if not text.strip():
        raise InputError(f"{name}: empty file; expected a CSV with a header row (domain,label)")
    if "\x00" in text:
        raise InputError(f"{name}: binary data (NUL byte); expected a CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        return _read(reader, name)
    except csv.Error as exc:
        raise InputError(f"{name}:{reader.line_num}: bad CSV: {exc}") from None


def _delimiter(text: str) -> str:
    """Comma, semicolon (spreadsheets in much of Europe) or tab: the one the header uses most."""
    header = text.lstrip().split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


def _read(reader: Any, name: str) -> Labels:
    header = next(reader, None) or []
    columns = [cell.strip().lower() for cell in header]
    domain_at = next((columns.index(c) for c in DOMAIN_COLUMNS if c in columns), None)
    shown = ", ".join(c for c in columns if c) or "none"
    if domain_at is None:
        raise InputError(f"{name}: no domain column (header: {shown}); add one named 'domain'")
    if LABEL_COLUMN not in columns:
        raise InputError(f"{name}: no label column (header: {shown}); add one named 'label'")
    label_at = columns.index(LABEL_COLUMN)
    found: dict[str, Label] = {}
    unlabelled = 0
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        domain_text = cells[domain_at] if domain_at < len(cells) else ""
        label_text = cells[label_at] if label_at < len(cells) else ""
        if not label_text:
            unlabelled += 1
            continue
        if not domain_text:
            raise InputError(f"{name}:{line}: label {label_text!r} without a domain")
        try:
            domain = normalise(domain_text)
        except InvalidDomain as exc:
            raise InputError(f"{name}:{line}: {domain_text!r} is not a domain ({exc})") from None
        label = _ALIASES.get(" ".join(label_text.lower().split()))
        if label is None:
            raise InputError(
                f"{name}:{line}: label {label_text!r}: expected qualified, review, unqualified,"
                " unknown, yes or no"
            )
        earlier = found.get(domain)
        if earlier is not None and earlier.label != label:
            raise InputError(
                f"{name}:{line}: {domain} is labelled {label_text!r} here and"
                f" {earlier.text!r} on line {earlier.line}"
            )
        if earlier is None:
            found[domain] = Label(domain, label, line, label_text)
    if not found:
        raise InputError(f"{name}: no labelled rows (every label cell is empty)")
    return Labels(name, found, unlabelled)
