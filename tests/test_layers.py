"""The package is built in layers, and no import runs back up them.

Each module's package has a rank; a module may import qualify modules of lower rank, or of
its own package. Imports made only for type checking (``if TYPE_CHECKING:``) do not count:
they never run. The ranks are DESIGN.md's parts, bottom up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "qualify"

# Lowest first. A module not listed under a package belongs to the base layer.
RANKS = {
    "qualify.queue": 1,
    "qualify.store": 2,
    "qualify.qualifiers": 2,
    "qualify.worker": 3,
    "qualify.tuning": 4,
    "qualify.api": 4,
    "qualify.export": 4,
    "qualify.dashboard": 5,
    # The web page: over the dashboard, under the CLI (only `qualify ui` imports it).
    "qualify.ui": 5.5,
    "qualify.demo": 4,
    "qualify.cli": 6,
    "qualify.__main__": 7,
}
# Parts of the same rank that must not know each other either.
SEPARATE = {("qualify.store", "qualify.qualifiers"), ("qualify.qualifiers", "qualify.store")}


def part_of(module: str) -> str:
    for prefix in sorted(RANKS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return "base"


def rank(module: str) -> int:
    return RANKS.get(part_of(module), 0)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every qualify import that runs, type-checking-only ones excepted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            # "from qualify import qualifiers" imports the module qualify.qualifiers.
            found.append((node.lineno, names[0] if node.module != "qualify" else names[1]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "qualify"]


MODULES = sorted(ROOT.rglob("*.py"))


def imports_up(path: Path, importer: str) -> list[str]:
    wrong = []
    for line, imported in runtime_imports(path):
        same_part = part_of(imported) == part_of(importer)
        if same_part or imported == "qualify":
            continue
        if rank(imported) > rank(importer) or (part_of(importer), part_of(imported)) in SEPARATE:
            wrong.append(f"{path.name}:{line} imports {imported}")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_runs_back_up_the_layers(path: Path) -> None:
    importer = module_name(path)
    wrong = imports_up(path, importer)
    assert not wrong, f"{importer} ({part_of(importer)}) reaches up: {wrong}"


def test_the_queue_knows_nothing_of_the_store() -> None:
    for path in (ROOT / "queue").rglob("*.py"):
        for _, imported in runtime_imports(path):
            assert not imported.startswith(("qualify.store", "qualify.worker", "qualify.api"))


def test_rich_is_only_drawn_by_the_cli() -> None:
    for path in MODULES:
        if module_name(path).startswith("qualify.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [alias.name for alias in node.names]
                )
                assert not any(n.split(".")[0] == "rich" for n in names), module_name(path)


def test_the_check_itself_sees_a_wrong_import(tmp_path: Path) -> None:
    # The rule must be able to fail: a store module importing the worker, or a qualifier
    # importing the store, is caught; the same import for type checking only is not.
    probe = tmp_path / "probe.py"
    probe.write_text("from qualify.worker import Worker\n")
    assert imports_up(probe, "qualify.store.probe") == ["probe.py:1 imports qualify.worker"]
    probe.write_text("from qualify import store\n")
    assert imports_up(probe, "qualify.qualifiers.probe") == ["probe.py:1 imports qualify.store"]
    probe.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import qualify.cli\n"
    )
    assert imports_up(probe, "qualify.store.probe") == []
