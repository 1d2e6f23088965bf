"""The UNKNOWN count: kept on the run row in the transactions that record results (status
never counts results), shown by `status`, and explained by `show RUN`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from qualify.api import Qualify
from qualify.store import open_database
from qualify.store.migrations import MIGRATIONS
from tests.support import (
    PortableSql,
    Stack,
    WorkerProcess,
    assert_consistent,
    create_run,
    raw,
    wait_until,
)
from tests.test_cli import invoke, work_all

MIXED = ["acme.com", "unknown-dns-globex.io", "unknown-dns-initech.com", "unknown-umbrella.com",
         "permanent-hooli.com", "pied-piper.com"]  # fmt: skip


def test_the_counter_follows_the_results(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, MIXED, max_attempts=1)
    work_all(app)
    assert_consistent(app, run_id)  # counts unknown results and compares
    run = app.runs.get(run_id)
    assert (run.unknown, run.failed, run.completed) == (3, 1, 5)
    (document,) = json.loads(invoke(*stack.cli, "status", "--json").stdout)["runs"]
    assert document["unknown"] == 3
    assert json.loads(invoke(*stack.cli, "status", str(run_id), "--json").stdout)["unknown"] == 3


def test_show_lists_the_codes_behind_unknown_verdicts(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, MIXED, max_attempts=1)
    work_all(app)
    shown = invoke(*stack.cli, "show", str(run_id)).stdout
    assert re.search(r"^Unknown\s+2 dns_nxdomain, 1 http_4xx\s*$", shown, re.MULTILINE), shown
    assert re.search(r"^Errors\s+1 nope\s*$", shown, re.MULTILINE)
    assert re.search(r"^Completed\s+5 \(0 qualified, 3 unknown\)", shown, re.MULTILINE)
    # A run without unknown verdicts says nothing about them.
    clean = create_run(app, ["acme.com"])
    work_all(app)
    assert "Unknown " not in invoke(*stack.cli, "show", str(clean)).stdout


def test_the_counter_is_exact_after_a_worker_is_killed(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    domains = [f"unknown-dns-c{i}.com" for i in range(30)] + [f"slow40-c{i}.com" for i in range(30)]
    run_id = create_run(app, domains)
    first = workers("--concurrency", "4", "--lease", "1s")
    wait_until(lambda: 5 <= app.runs.get(run_id).completed < 50, timeout=60, interval=0.01)
    first.kill9()
    second = workers("--burst", "--concurrency", "4", "--lease", "1s")
    assert second.wait(120) == 0, second.output
    run = app.runs.get(run_id)
    assert run.status == "COMPLETED" and run.completed == 60
    assert run.unknown == 30  # each unknown result counted exactly once
    assert_consistent(app, run_id)


def test_runs_from_before_the_counter_are_counted_when_the_store_opens(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    with Qualify.open(path) as app:
        run_id = create_run(app, MIXED, max_attempts=1, directory=tmp_path)
        work_all(app)
    # Take the store back to before the counter's migration, the counter unknown to it.
    database = open_database(path)
    sql = PortableSql(database)
    counter = next(m for m in MIGRATIONS if m.__name__ == "m008_unknown_counter")
    # A store that old kept its counts on the run row, before the counter shards.
    for column in ("completed", "failed", "qualified"):
        sql.execute(
            f"UPDATE runs SET {column} = {column} + (SELECT COALESCE(SUM(c.{column}), 0)"
            " FROM run_counters c WHERE c.run_id = runs.id)"
        )
    sql.execute("DROP TABLE run_counters")
    sql.execute("DELETE FROM qualify_migrations WHERE name = 'm014_run_counters'")
    sql.execute("ALTER TABLE runs DROP COLUMN unknown")
    sql.execute("DELETE FROM qualify_migrations WHERE name = ?", (counter.__name__,))
    database.close()
    with Qualify.open(path) as app:
        assert app.runs.get(run_id).unknown == 3
        run = app.runs.get(run_id)
        assert run.completed + run.failed == len(MIXED)
        assert (
            raw(app).scalar(
                "SELECT COUNT(*) FROM qualify_migrations WHERE name = ?", (counter.__name__,)
            )
            == 1
        )
