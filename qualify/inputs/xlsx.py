"""Excel workbooks (``.xlsx``), streamed with openpyxl's read-only mode: the rows of one
sheet (the first, or the one named), with their row numbers as Excel shows them.

openpyxl is an optional dependency (``pip install 'qualify[xlsx]'``); it is imported only
when a workbook is read.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from qualify.errors import InputError

#: Where an .xlsx file starts: it is a zip archive.
ZIP_MAGIC = b"PK\x03\x04"


@contextmanager
def sheet_rows(
    file: IO[bytes], source: str, sheet: str | None = None
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The rows of ``sheet`` (default: the first) as ``(row number, cells as text)``;
    the workbook stays open until the block ends."""
    try:
        import openpyxl
    except ImportError:
        raise InputError(
            f"{source}: reading .xlsx workbooks needs openpyxl: pip install 'qualify[xlsx]'"
        ) from None
    try:
        workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # a damaged archive fails in zipfile, XML or openpyxl itself
        raise InputError(f"{source}: not a readable .xlsx workbook ({exc})") from None
    try:
        names = workbook.sheetnames
        if sheet is None:
            if not names:
                raise InputError(f"{source}: the workbook has no sheet")
            worksheet = workbook[names[0]]
        elif sheet in names:
            worksheet = workbook[sheet]
        else:
            listed = ", ".join(repr(n) for n in names)
            raise InputError(f"{source}: no sheet {sheet!r} (sheets: {listed})")
        # The stored dimensions may be wrong (some writers leave "A1"): read what is there.
        worksheet.reset_dimensions()
        yield _rows(worksheet)
    finally:
        workbook.close()


def _rows(worksheet: Any) -> Iterator[tuple[int, list[str]]]:
    # Missing rows come back empty, so counting from 1 gives Excel's row numbers.
    for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
        cells = [_text(value) for value in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield number, cells


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as a number: "1234", not "1234.0"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value)
