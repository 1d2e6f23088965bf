"""The README documents every command (as sqlite-utils' tests/test_docs.py does)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qualify.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands_table() -> str:
    section = README.split("\n## Commands\n", 1)[1]
    return section.split("\n## ", 1)[0]


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme_commands_table(name: str) -> None:
    rows = [line for line in commands_table().splitlines() if line.startswith("|")]
    assert any(re.match(rf"\| `{name}( |`)", row) for row in rows), f"{name} has no row"
    assert f"qualify {name}" in README, f"no example of qualify {name} in the README"


def test_the_table_lists_no_command_that_does_not_exist() -> None:
    listed = re.findall(r"^\| `([a-z-]+)", commands_table(), flags=re.MULTILINE)
    assert listed and set(listed) <= set(cli.commands)
