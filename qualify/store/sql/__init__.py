"""The store's SQL, by name, one file per dialect: ``sqlite.sql`` and ``postgres.sql``.

As in procrastinate's ``sql/queries.sql``, each query is introduced by a ``-- name --`` line
and may be followed by comment lines saying what it does; the text up to the next header is
the statement. Each dialect's file is written in that dialect, placeholders included: nothing
rewrites SQL text at run time, except that PostgreSQL's backend numbers the placeholders
(``$1``...) of the few statements it prepares on the server (``PREPARED_STATEMENTS`` in
``qualify/store/postgres.py``). Both files define the same names (a test holds them to it),
except the few in :data:`ONE_DIALECT`: a statement one database can write and the other cannot,
which the code runs only on that database.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

#: Queries only one dialect defines, and which: the code runs one only where the database's
#: queries hold it (``Jobs._pop_and_claim``).
ONE_DIALECT = {"pop_and_claim_jobs": "postgres"}

_HEADER = re.compile(r"^-- ([a-z_][a-z0-9_]*) --$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Named statements of one ``.sql`` file, without comment lines or the final ``;``."""
    queries: dict[str, str] = {}
    parts = _HEADER.split(text)
    # parts: [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        statement = "\n".join(lines).strip().removesuffix(";").strip()
        if not statement:
            raise ValueError(f"query {name!r} has no statement")
        queries[name] = statement
    return queries


@cache
def queries(dialect: str) -> dict[str, str]:
    """The named statements of ``dialect`` ("sqlite" or "postgres"), read once."""
    text = resources.files(__package__).joinpath(f"{dialect}.sql").read_text(encoding="utf-8")
    return parse(text)
