"""qualify.db.example: what tests/make_example_db.py builds, and usable as README says."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from pathlib import Path

import pytest

from qualify.api import Qualify
from qualify.store.migrations import MIGRATIONS
from tests.make_example_db import EXAMPLE, build, content
from tests.support import raw
from tests.test_cli import invoke


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the committed file, as `cp qualify.db.example qualify.db` makes."""
    copy = tmp_path / "qualify.db"
    shutil.copyfile(EXAMPLE, copy)
    return copy


def test_the_committed_example_is_what_the_script_builds(tmp_path: Path) -> None:
    rebuilt = tmp_path / "rebuilt.db"
    build(rebuilt)
    assert content(rebuilt) == content(EXAMPLE), (
        "qualify.db.example is out of date: run python tests/make_example_db.py and commit it"
    )
    # Small enough to read in a diff of sizes; each table and index costs a 4 KiB page.
    assert EXAMPLE.stat().st_size < 320 * 1024
    assert not Path(f"{EXAMPLE}-wal").exists()


def test_the_current_code_opens_the_example(example: Path) -> None:
    committed = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    with Qualify.open(str(example), create=False) as app:
        applied = raw(app).fetchall("SELECT name FROM qualify_migrations")
        assert {row[0] for row in applied} == {m.__name__ for m in MIGRATIONS}
        runs = {run.id: run for run in app.runs.list(stuck_after=300)}
        assert {run_id: run.status for run_id, run in runs.items()} == {
            1: "COMPLETED",
            2: "COMPLETED",
            3: "PROCESSING",
        }
        assert [run_id for run_id, run in runs.items() if run.stuck] == [3]
        assert runs[2].failed == 1 and runs[1].failed == 0
    assert hashlib.sha256(EXAMPLE.read_bytes()).hexdigest() == committed


def test_readme_walkthrough_on_the_example(example: Path) -> None:
    db = str(example)
    status = invoke("--db", db, "status")
    assert status.exit_code == 0 and "PROCESSING STUCK" in status.stdout
    check = invoke("--db", db, "status", "--check")
    assert check.exit_code == 3
    assert check.stdout.startswith("STUCK run 3 (Example 3: left behind by a crashed worker)")
    assert "1 qualified, 2 unknown" in invoke("--db", db, "show", "2").stdout
    detail = invoke("--db", db, "show", "2", "maintenance.example.net").stdout
    assert "gave up after 2 attempts" in detail and "http_5xx" in detail
    exported = invoke("--db", db, "export", "1", "--verdict", "qualified").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["domain"], r["verdict"], r["tier"]) for r in rows] == [
        ("acme-freight.example.com", "qualified", "A"),
        ("fleetwise.example.net", "qualified", "A"),
        ("lagerwerk.example.org", "qualified", "A"),
    ]
    dry = invoke("--db", db, "recover", "--older-than", "5m", "--dry-run")
    assert dry.stdout.strip() == (
        "Would resume: run 3 (Example 3: left behind by a crashed worker), 1 job re-queued;"
        " 3 queued jobs need a worker: qualify worker"
    )
