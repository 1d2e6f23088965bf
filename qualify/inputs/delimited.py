"""CSV and TSV files, streamed: which delimiter a file uses, and its records with the line
each starts on (a quoted field may hold line breaks, so records and lines differ).

Decoding is :mod:`qualify.textfile`'s (UTF-8, UTF-16 and Windows-1252; any line ending);
the records come from the csv module, which handles quotes as spreadsheets write them
(``"Shopify, Inc."``, and quotes doubled inside quotes).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator

from qualify.errors import InputError

# In order of preference when several would split a sample alike.
DELIMITERS = ("\t", ",", ";", "|")
_SAMPLE_LINES = 30
_FIELD_LIMIT = 1 << 20


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the first lines of a file into the same number (two or
    more) of fields on every line, preferring the one giving the most fields; None for a
    plain list (no delimiter does)."""
    sample = [line for line in lines[: _SAMPLE_LINES * 2] if line.strip()][:_SAMPLE_LINES]
    if not sample:
        return None
    best: tuple[int, str] | None = None
    for delimiter in DELIMITERS:
        if not any(delimiter in line for line in sample):
            continue
        counts = Counter(_field_counts(sample, delimiter)).most_common(1)
        if not counts:
            continue
        fields, rows = counts[0]
        # A quoted field cut off by the end of the sample counts once, wrongly: allow it.
        if fields >= 2 and rows >= len(sample) - 1 and (best is None or fields > best[0]):
            best = (fields, delimiter)
    return best[1] if best else None


def _field_counts(sample: list[str], delimiter: str) -> list[int]:
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    try:
        return [len(record) for record in csv.reader(sample, delimiter=delimiter)]
    except csv.Error:
        return []


def records(
    blocks: Iterable[list[str]], delimiter: str, source: str
) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` for every non-empty record, ``line`` being where it starts."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    # strict: a quote left open must not swallow the rest of the file into one cell.
    reader = csv.reader(_with_line_ends(blocks), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"{source}:{start}: cannot read this record ({exc}; an unclosed quote?)"
            ) from None
        number, start = start, reader.line_num + 1
        if record:
            yield number, record


def _with_line_ends(blocks: Iterable[list[str]]) -> Iterator[str]:
    # The csv module keeps a line break inside a quoted field only if it sees one.
    for lines in blocks:
        for line in lines:
            yield line + "\n"
