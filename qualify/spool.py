"""The input rows a run carries to its jobs, kept in a temporary file while the list is read.

A CRM export of a million rows can hold a hundred columns each; reading it must not hold
them all in memory until the run's one transaction writes them. Each row is one line of
``position<TAB>json``, the position being the domain's in the run's list: JSON escapes every
control character, so a line is always one record. The file disappears when it is closed
(or the process ends).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO


class RowSpool:
    """``(position, row_json)`` pairs, written once in order of position, then read back in
    that order."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self.count = 0

    def add(self, position: int, row_json: str) -> None:
        if self._file is None:
            # Closed by close(), or with the object: it outlives any one block of code.
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                mode="w+", encoding="utf-8", newline="\n"
            )
        self._file.write(f"{position}\t{row_json}\n")
        self.count += 1

    def __iter__(self) -> Iterator[tuple[int, str]]:
        file = self._file
        if file is None:
            return
        file.flush()
        file.seek(0)
        for line in file:
            position, row_json = line.rstrip("\n").split("\t", 1)
            yield int(position), row_json

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
