"""Listings that fit the terminal they are drawn on: narrow terminals drop the less important
columns first, wide ones show everything.

Each column says how it behaves (:class:`Column`): ``drop`` orders the columns that may go
(lowest first; None: never dropped), ``flex`` columns (a run's name, a progress bar) give
way down to ``min_width`` and wrap or shrink instead of being cut. A :class:`Fitted` listing
chooses its columns when it is drawn, from the width rich offers it, so one renderable
serves ``status`` at 80 columns and the live dashboard at 160 alike.

    columns = [Column("ID", justify="right"), Column("NAME", flex=True, min_width=16),
               Column("AGE", justify="right", drop=1)]
    console.print(Fitted(columns, [["1", "fair leads", "2h"]], title="Runs"))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table


@dataclass(frozen=True)
class Column:
    title: str
    justify: str = "left"
    #: Dropped when the terminal is narrow, lowest first; None: always shown.
    drop: int | None = None
    #: Gives way (wraps, or a bar shrinks) down to ``min_width`` before anything is dropped.
    flex: bool = False
    min_width: int | None = None
    max_width: int | None = None


def listing(title: str | None = None) -> Table:
    """The look of every listing: a header rule and no cell borders, so rows stay narrow
    and copy cleanly out of the terminal."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


class Fitted:
    """A listing of ``rows`` (one cell per column) that keeps the columns that fit."""

    def __init__(
        self, columns: Sequence[Column], rows: Iterable[Sequence[Any]], title: str | None = None
    ) -> None:
        self.columns = list(columns)
        self.rows = [list(row) for row in rows]
        self.title = title

    def kept(self, console: Console, width: int) -> list[Column]:
        """The columns shown at ``width``: every one, less the lowest ``drop`` ones until
        the rest fits with each flexible column at its minimum width."""
        kept = list(self.columns)
        droppable = sorted((c for c in kept if c.drop is not None), key=lambda c: c.drop or 0)
        wide = console.options.update_width(10_000)
        while droppable:
            narrowest = self._table(kept, narrowest=True)
            if Measurement.get(console, wide, narrowest).maximum <= width:
                break
            kept.remove(droppable.pop(0))
        return kept

    def table(self, console: Console, width: int) -> Table:
        """The listing at ``width``: the kept columns, and the room left over given to the
        flexible ones in column order (a run's whole name before a longer progress bar)."""
        kept = self.kept(console, width)
        wide = console.options.update_width(10_000)
        spare = width - Measurement.get(console, wide, self._table(kept, narrowest=True)).maximum
        widths: dict[int, int] = {}
        for index, column in enumerate(kept):
            if not (column.flex and column.min_width):
                continue
            wanted = min(column.max_width or 10_000, self._natural(console, column))
            extra = max(0, min(wanted - column.min_width, spare))
            widths[index] = column.min_width + extra
            spare -= extra
        return self._table(kept, widths=widths)

    def _natural(self, console: Console, column: Column) -> int:
        """The width ``column`` takes with nothing wrapped: its widest cell or its title."""
        options = console.options.update_width(10_000)
        index = self.columns.index(column)
        measured = [Measurement.get(console, options, row[index]).maximum for row in self.rows]
        return max([len(column.title), *measured])

    def _table(
        self, kept: list[Column], *, narrowest: bool = False, widths: dict[int, int] | None = None
    ) -> Table:
        table = listing(self.title)
        for index, column in enumerate(kept):
            if narrowest and column.flex and column.min_width:
                column = replace(column, max_width=column.min_width)
            table.add_column(
                column.title,
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=not column.flex,
                width=(widths or {}).get(index),
                min_width=column.min_width if column.flex else None,
                max_width=column.max_width,
                overflow="fold",
            )
        indexes = [self.columns.index(c) for c in kept]
        for row in self.rows:
            table.add_row(*(row[i] for i in indexes))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(console, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table(console, options.max_width))
