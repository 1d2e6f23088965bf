"""Writing rows to an Excel workbook, streamed (openpyxl's write-only mode).

Every text cell is stored as text: a company name a website gave as ``=HYPERLINK(...)``
must not become a formula in the salesperson's spreadsheet. openpyxl is optional
(``pip install 'qualify[xlsx]'``) and imported only here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Any

from qualify.errors import InputError

SHEET_TITLE = "qualify"
# Excel's own limit for one cell.
MAX_CELL_CHARS = 32_767


def write(header: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[bytes]) -> int:
    """Write one sheet: ``header``, then ``rows``; return how many rows."""
    try:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    except ImportError:
        raise InputError(
            "format xlsx: writing workbooks needs openpyxl: pip install 'qualify[xlsx]'"
        ) from None
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE)

    def cell(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_CELL_CHARS]
        written = WriteOnlyCell(sheet, value=text)
        written.data_type = "s"  # never a formula
        return written

    sheet.append([cell(name) for name in header])
    count = 0
    for values in rows:
        sheet.append([cell(value) for value in values])
        count += 1
    workbook.save(out)
    return count
