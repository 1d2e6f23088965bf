"""Which column of a table holds the websites, and what each job carries from its row.

A column is chosen by name when exactly one header plausibly names websites or domains
(``Website``, ``Domain``, ``URL``, ``Company Domain Name``...), or by what its first rows
hold when no header does. Two plausible columns are fine when they agree on every sampled
row (HubSpot exports carry both ``Company Domain Name`` and ``Website URL``); otherwise the
choice is the user's, and :class:`ColumnError` lists the columns to choose from. Where
columns agree, a row whose chosen cell is empty takes its website from the next of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from qualify.domains import (
    MAX_LINE_BYTES,
    DomainList,
    InvalidDomain,
    header_key,
    normalise,
)
from qualify.errors import InputError

# Header names (as header_key gives them) that say "this column holds websites".
WEBSITE_HEADERS = frozenset(
    header_key(name)
    for name in (
        "website", "web site", "websites", "website url", "web address", "homepage",
        "home page", "url", "domain", "domains", "domain name", "company domain",
        "company domain name", "company website", "company url", "primary domain", "site",
        "web", "webseite", "website domain", "organization website", "account website",
    )
)  # fmt: skip
# Words that make a header a weaker candidate when no header is one of the names above.
WEBSITE_WORDS = ("website", "domain", "homepage", "url", "webseite")
# Rows read before the column is chosen: enough to judge, few enough to hold in memory.
SAMPLE_ROWS = 200
# A column "holds websites" by content when this share of its non-empty sampled cells do.
CONTENT_SHARE = 0.6
# What a job carries from its row: at most this many columns, each cell cut to this length.
MAX_CARRIED_COLUMNS = 100
MAX_CELL_CHARS = 1000


class ColumnError(InputError):
    """No column, or more than one, could be the websites; or a named column does not
    exist. ``columns`` lists the table's columns, ``candidates`` the plausible ones."""

    def __init__(self, message: str, columns: Sequence[str], candidates: Sequence[str] = ()):
        self.columns = list(columns)
        self.candidates = list(candidates)
        super().__init__(f"{message} (columns: {_names(columns)})")


@dataclass(frozen=True)
class Table:
    """A table being read: its column names, and its rows with their numbers (the line of
    a CSV file where the row starts, or the spreadsheet's row number)."""

    source: str
    format: str
    columns: list[str]
    rows: Iterator[tuple[int, list[str]]]
    unit: str = "line"


def header_and_rows(
    records: Iterator[tuple[int, list[str]]],
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Split off the header row; a first row holding a domain is data, and the columns are
    then named ``column 1``, ``column 2``..."""
    first = next(records, None)
    if first is None:
        return [], iter(())
    _, cells = first
    if any(_domain_or_none(cell) for cell in cells):
        columns = [f"column {i}" for i in range(1, len(cells) + 1)]
        return columns, _chain([first], records)
    return _unique([cell.strip() or f"column {i}" for i, cell in enumerate(cells, 1)]), records


def read_table(
    table: Table, *, column: str | None = None, carry: Sequence[str] | None = None
) -> DomainList:
    """The unique domains of the table's chosen column, each with the cells it carries
    (``carry``: column names, or None for all), and what was skipped."""
    if not table.columns:
        raise InputError(f"{table.source}: no rows")
    sample: list[tuple[int, list[str]]] = []
    for row in table.rows:
        sample.append(row)
        if len(sample) >= SAMPLE_ROWS:
            break
    if column is not None:
        chosen = [find_column(table, column)]
    else:
        chosen = choose_columns(table, [cells for _, cells in sample])
    carried = _carried(table, carry, chosen)
    result = DomainList(
        source=table.source,
        format=table.format,
        columns=[table.columns[i] for i in carried],
        domain_column=table.columns[chosen[0]],
        fallback_columns=[table.columns[i] for i in chosen[1:]],
        unit=table.unit,
    )
    _collect(result, _chain(sample, table.rows), chosen, carried, len(table.columns))
    result.check_not_empty()
    return result


def find_column(table: Table, name: str) -> int:
    """The index of the column ``name`` (exactly, else ignoring case and spacing, else a
    1-based number)."""
    columns = table.columns
    if name in columns:
        return columns.index(name)
    keys = [header_key(c) for c in columns]
    if header_key(name) and keys.count(header_key(name)) == 1:
        return keys.index(header_key(name))
    if name.strip().isdigit() and 1 <= int(name) <= len(columns):
        return int(name) - 1
    raise ColumnError(f"{table.source}: no column {name!r}", columns)


def choose_columns(table: Table, sample: list[list[str]]) -> list[int]:
    """The column that holds the websites, then the ones that agree with it (for rows where
    it is empty): see the module docstring."""
    columns = table.columns
    if len(columns) == 1:
        return [0]
    keys = [header_key(c) for c in columns]
    named = [i for i, key in enumerate(keys) if key in WEBSITE_HEADERS]
    if not named:
        named = [i for i, key in enumerate(keys) if any(w in key for w in WEBSITE_WORDS)]
    if len(named) == 1:
        return named
    if named:
        agreed = _agreeing(named, sample)
        if agreed is not None:
            return agreed
        raise ColumnError(
            f"{table.source}: {len(named)} columns could hold the websites:"
            f" {_names(columns[i] for i in named)}",
            columns,
            [columns[i] for i in named],
        )
    by_content = [i for i in range(len(columns)) if _holds_websites(sample, i)]
    if len(by_content) == 1:
        return by_content
    if by_content:
        agreed = _agreeing(by_content, sample)
        if agreed is not None:
            return agreed
        raise ColumnError(
            f"{table.source}: {len(by_content)} columns hold domains:"
            f" {_names(columns[i] for i in by_content)}",
            columns,
            [columns[i] for i in by_content],
        )
    raise ColumnError(f"{table.source}: no column looks like websites or domains", columns)


def _agreeing(candidates: list[int], sample: list[list[str]]) -> list[int] | None:
    """The candidates, the one with the most domains first, if all of them name the same
    domain on every sampled row where two hold one; None if any two disagree."""
    valid = dict.fromkeys(candidates, 0)
    for cells in sample:
        found: set[str] = set()
        for i in candidates:
            domain = _domain_or_none(_cell(cells, i))
            if domain:
                found.add(domain)
                valid[i] += 1
        if len(found) > 1:
            return None
    return sorted(candidates, key=lambda i: -valid[i])  # stable: leftmost first on a tie


def _holds_websites(sample: list[list[str]], index: int) -> bool:
    cells = [c for cells in sample if (c := _cell(cells, index).strip())]
    domains = sum(1 for c in cells if _domain_or_none(c))
    return bool(cells) and domains >= CONTENT_SHARE * len(cells)


def _domain_or_none(cell: str) -> str | None:
    text = cell.strip()
    # An e-mail address names a domain too, but the column holds people, not websites.
    if not text or len(text) > MAX_LINE_BYTES or ("@" in text and "://" not in text):
        return None
    try:
        return normalise(text)
    except InvalidDomain:
        return None


def _carried(table: Table, carry: Sequence[str] | None, chosen: list[int]) -> list[int]:
    """Indexes of the carried columns, in table order; the websites' columns always."""
    if carry is None:
        wanted = set(range(len(table.columns))[:MAX_CARRIED_COLUMNS])
    else:
        wanted = {find_column(table, name) for name in carry}
    wanted.update(chosen)
    return sorted(wanted)


def _collect(
    result: DomainList,
    rows: Iterable[tuple[int, list[str]]],
    chosen: list[int],
    carried: list[int],
    width: int,
) -> None:
    seen: dict[str, None] = {}
    spool = result.rows
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # an empty row, as spreadsheets leave between blocks
        value = next((v for i in chosen if (v := _cell(cells, i).strip())), "")
        try:
            if not value:
                raise InvalidDomain("no website in this row")
            if len(value) > MAX_LINE_BYTES:
                raise InvalidDomain(f"longer than {MAX_LINE_BYTES} characters")
            domain = normalise(value)
        except InvalidDomain as exc:
            result.note_invalid(number, value or _row_text(cells), str(exc))
            continue
        if domain in seen:
            result.duplicates += 1
            continue
        position = len(seen)
        seen[domain] = None
        kept = []
        for i in carried:
            cell = _cell(cells, i) if i < width else ""
            if len(cell) > MAX_CELL_CHARS:
                cell = cell[: MAX_CELL_CHARS - 1] + "…"
                result.cut_cells += 1
            kept.append(cell)
        spool.add(position, json.dumps(kept, ensure_ascii=False, separators=(",", ":")))
    result.domains = list(seen)


def _cell(cells: Sequence[str], index: int) -> str:
    return cells[index] if index < len(cells) else ""


def _row_text(cells: Sequence[str]) -> str:
    return ", ".join(c for c in cells if c)[:200]


def _names(columns: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _unique(names: list[str]) -> list[str]:
    """Header names made unique (``Email``, ``Email (2)``), so each can be chosen."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        unique.append(name if count == 1 else f"{name} ({count})")
    return unique


def _chain(
    first: Iterable[tuple[int, list[str]]], rest: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield from first
    yield from rest
