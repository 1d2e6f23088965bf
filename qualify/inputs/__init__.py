"""Reading the user's input files: the ICP and the domain list, with errors that name the file.

A domain list is a plain list (one domain or URL per line), a CSV or TSV file, or an Excel
workbook, told apart by the file's extension or, without one that says, by its content:

    load_domains("leads.csv")                        # the column is found, or ColumnError
    load_domains("export.xlsx", column="Website", sheet="Companies", carry=["Record ID"])
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, BinaryIO

from qualify.domains import DomainList, content_lines, read_domain_lines
from qualify.errors import InputError
from qualify.inputs import delimited, xlsx
from qualify.inputs.columns import (
    WEBSITE_HEADERS,
    ColumnError,
    Table,
    header_and_rows,
    read_table,
)
from qualify.textfile import BLOCK, line_blocks, read_chunks

MAX_ICP_BYTES = 1_000_000
#: What ``load_domains`` reads; None (the default) tells them apart by extension or content.
INPUT_FORMATS = ("text", "csv", "tsv", "xlsx")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx"}
_REFUSED_EXTENSIONS = {
    ".xls": "an Excel 97-2003 workbook (.xls); save it as .xlsx or CSV",
    ".numbers": "a Numbers document; export it as CSV or .xlsx",
    ".ods": "an OpenDocument spreadsheet; save it as .xlsx or CSV",
}

__all__ = [
    "INPUT_FORMATS",
    "ColumnError",
    "load_domains",
    "load_icp",
    "open_input",
    "source_name",
]


@contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading (``-`` is stdin), turning OS errors into InputError."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, errors translated here
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with stream:
        try:
            yield stream
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, expected a file") from None


def source_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def load_domains(
    path: str,
    *,
    input_format: str | None = None,
    column: str | None = None,
    sheet: str | None = None,
    carry: Sequence[str] | None = None,
) -> DomainList:
    """Read a domain list in any of :data:`INPUT_FORMATS` (``-`` is stdin).

    For a table, ``column`` names the one holding the websites (default: found, see
    :mod:`qualify.inputs.columns`), ``sheet`` a workbook's sheet (default: the first) and
    ``carry`` the columns each job keeps from its row (default: all)."""
    name = source_name(path)
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise InputError(f"input format {input_format!r}: use one of {', '.join(INPUT_FORMATS)}")
    fmt = input_format or _format_of(path)
    with open_input(path) as stream:
        head = stream.read(BLOCK)
        if fmt == "xlsx" or (fmt is None and head.startswith(xlsx.ZIP_MAGIC)):
            with _seekable(stream, head) as file, xlsx.sheet_rows(file, name, sheet) as rows:
                columns, data = header_and_rows(rows)
                return read_table(
                    Table(name, "xlsx", columns, data, unit="row"), column=column, carry=carry
                )
        if sheet is not None:
            raise InputError(f"{name}: only an .xlsx workbook has sheets")
        blocks = line_blocks(itertools.chain([head], read_chunks(stream)), name)
        first = next(blocks, [])
        blocks = itertools.chain([first], blocks)
        if fmt == "text":
            delimiter = None
        elif fmt == "tsv":
            delimiter = "\t"
        else:
            # A CSV file with no delimiter in its first lines has one column.
            delimiter = delimited.sniff_delimiter(first) or ("," if fmt == "csv" else None)
        if delimiter is None:
            if column is not None or carry:
                raise InputError(f"{name}: a plain list of domains has no columns to choose")
            lines = content_lines(blocks)
            return read_domain_lines(
                lines, name, header_names=WEBSITE_HEADERS, keep_lines=carry is None
            )
        table_format = "tsv" if delimiter == "\t" else "csv"
        columns, data = header_and_rows(delimited.records(blocks, delimiter, name))
        return read_table(Table(name, table_format, columns, data), column=column, carry=carry)


def _format_of(path: str) -> str | None:
    extension = os.path.splitext(path)[1].lower()
    refused = _REFUSED_EXTENSIONS.get(extension)
    if refused:
        raise InputError(f"{source_name(path)}: {refused}")
    return _EXTENSIONS.get(extension)


@contextmanager
def _seekable(stream: BinaryIO, head: bytes) -> Iterator[IO[bytes]]:
    """``stream`` from its start as a seekable file (a zip archive is read from its end):
    the file itself, or stdin copied to a temporary file."""
    if stream.seekable():
        stream.seek(0)
        yield stream
        return
    with tempfile.TemporaryFile() as copy:
        copy.write(head)
        shutil.copyfileobj(stream, copy, BLOCK)
        copy.seek(0)
        yield copy


def load_icp(path: str) -> dict[str, Any]:
    """Load an ICP file: UTF-8 JSON holding one object."""
    name = source_name(path)
    with open_input(path) as stream:
        data = stream.read(MAX_ICP_BYTES + 1)
    if len(data) > MAX_ICP_BYTES:
        raise InputError(f"{name}: larger than {MAX_ICP_BYTES:,} bytes; an ICP is a small file")
    if b"\x00" in data:
        raise InputError(f"{name}: binary data (NUL byte); expected a JSON file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{name}: empty file; expected a JSON object")
    try:
        icp = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(icp, dict):
        raise InputError(f"{name}: expected a JSON object, got {_json_type(icp)}")
    return icp


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
