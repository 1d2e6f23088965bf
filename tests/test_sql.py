"""The store's named SQL: both dialects define the same queries, and the code runs only
queries that exist (and every query is used)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from qualify.store import sql
from qualify.store.postgres import prepared_form

STORE = Path(__file__).resolve().parent.parent / "qualify" / "store"
# Methods of qualify.store.Database whose first argument is a query's name.
RUNNERS = {"execute", "rows", "row", "value", "count", "stream", "column", "insert_many"}


def names_used_in_code() -> set[str]:
    used = set()
    for path in STORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RUNNERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and re.fullmatch(r"[a-z_][a-z0-9_]*", node.args[0].value)  # not str.count("\t")
            ):
                used.add(node.args[0].value)
    return used


def test_both_dialects_define_the_same_queries() -> None:
    sqlite, postgres = set(sql.queries("sqlite")), set(sql.queries("postgres"))
    only = {name: "sqlite" for name in sqlite - postgres}
    only |= {name: "postgres" for name in postgres - sqlite}
    assert only == sql.ONE_DIALECT


def test_the_code_runs_only_queries_that_exist_and_every_query_is_used() -> None:
    used = names_used_in_code()
    defined = set(sql.queries("sqlite")) | set(sql.queries("postgres"))
    assert used, "the scan found no query names: it no longer sees the calls"
    assert used - defined == set(), "named in the code but defined nowhere"
    assert defined - used == set(), "defined but never run"


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_each_dialect_uses_its_own_placeholders(dialect: str) -> None:
    # No text is rewritten at run time, so a query in the wrong dialect's style would only
    # fail on that backend: catch it here, on any machine.
    for name, text in sql.queries(dialect).items():
        if dialect == "sqlite":
            assert "%(" not in text and "%s" not in text, name
        else:
            assert not re.search(r"(?<![:\w]):[a-z_]+", text), name
            assert "?" not in text and "json_each" not in text, name


def test_parse_refuses_a_name_defined_twice_or_a_header_without_a_statement() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        sql.parse("-- a --\nSELECT 1;\n-- a --\nSELECT 2;\n")
    with pytest.raises(ValueError, match="no statement"):
        sql.parse("-- a --\n-- only a comment\n")


def test_parse_keeps_the_statement_and_drops_its_comments() -> None:
    parsed = sql.parse("-- preamble\n\n-- one --\n-- What it does.\nSELECT 1\nFROM t;\n")
    assert parsed == {"one": "SELECT 1\nFROM t"}


def test_placeholders_are_numbered_in_order_of_first_appearance() -> None:
    form = prepared_form("q", "SELECT %(b)s, %(a)s, %(b)s, '100%%' LIKE %(a)s")
    assert form.prepare == "PREPARE qualify_q AS SELECT $1, $2, $1, '100%%' LIKE $2"
    assert form.execute == "EXECUTE qualify_q(%s, %s)"
    assert form.params == ("b", "a")
    assert prepared_form("now", "SELECT 1").execute == "EXECUTE qualify_now"
    with pytest.raises(ValueError, match="bare %"):
        prepared_form("q", "INSERT INTO t VALUES %s")
