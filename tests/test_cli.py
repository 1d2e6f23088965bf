"""The CLI contract: outputs, JSON shapes, exit codes, and bad input that writes nothing."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qualify import export
from qualify.api import Qualify
from qualify.cli import cli
from qualify.worker import WorkerOptions
from tests.support import ICP, Stack, create_run, raw, write_inputs

QUALIFIER = ["--qualifier", "tests.sample_qualifiers:by_name"]


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def work_all(app: Qualify) -> None:
    app.worker(WorkerOptions(burst=True, handle_signals=False, lease=2)).run()


def age_run(app: Qualify, run_id: int, seconds: float) -> None:
    raw(app).execute("UPDATE runs SET updated_at = {now} - ? WHERE id = ?", (seconds, run_id))
    raw(app).execute(
        "UPDATE run_counters SET updated_at = {now} - ? WHERE run_id = ?", (seconds, run_id)
    )
    raw(app).execute("UPDATE jobs SET updated_at = {now} - ? WHERE run_id = ?", (seconds, run_id))


# -- run ------------------------------------------------------------------------------------


def test_run_reports_what_it_queued(tmp_path: Path) -> None:
    icp, domains = write_inputs(
        tmp_path, ["acme.com", "www.acme.com", "globex.io", "localhost", "not a domain"]
    )
    result = invoke("run", icp, domains, *QUALIFIER)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "Run 1 (Test ICP / domains.txt): 2 queued, 1 duplicate and 2 invalid lines skipped"
    )
    assert "domains.txt:4: 'localhost'" in result.stderr
    assert "domains.txt:5: 'not a domain': contains spaces" in result.stderr


def test_run_json_shape(tmp_path: Path) -> None:
    icp, domains = write_inputs(tmp_path, ["acme.com", "acme.com", "10.0.0.1"])
    result = invoke("run", icp, domains, *QUALIFIER, "--json", "--name", "fair leads")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "run_id": 1,
        "queued": 1,
        "duplicates": 1,
        "invalid": [{"line": 3, "text": "10.0.0.1", "reason": "an IP address, not a domain"}],
        "invalid_count": 1,
        "format": "text",
        "column": None,
        "fallback_columns": [],
    }


def test_run_reads_domains_from_stdin(tmp_path: Path, stack: Stack) -> None:
    icp, _ = write_inputs(tmp_path, ["unused.com"])
    result = invoke(*stack.cli, "run", icp, "-", *QUALIFIER, stdin="acme.com\nglobex.io\n")
    assert result.exit_code == 0
    run = stack.open().runs.get(1)
    assert (run.total, run.name) == (2, "Test ICP / stdin")


def test_run_wait_processes_the_run_here(tmp_path: Path, stack: Stack) -> None:
    icp, domains = write_inputs(tmp_path, [f"company{i}.com" for i in range(12)])
    result = invoke(*stack.cli, "run", icp, domains, *QUALIFIER, "--wait", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["queued"], document["status"]) == (12, "COMPLETED")
    assert stack.open().runs.get(1).completed == 12


# -- bad input: exit 2, one line naming the culprit, nothing written -------------------------


# Each case: the arguments ({dir}: a folder of bad files, {icp} and {domains}: good inputs)
# and what the one-line error must say.
BAD_INPUTS: dict[str, tuple[list[str], str]] = {
    "missing icp": (
        ["run", "{dir}/nope.json", "{domains}", *QUALIFIER],
        "nope.json: no such file",
    ),
    "icp is a directory": (
        ["run", "{dir}/folder", "{domains}", *QUALIFIER],
        "folder: is a directory",
    ),
    "malformed icp": (
        ["run", "{dir}/bad.json", "{domains}", *QUALIFIER],
        "bad.json:1:14: invalid JSON",
    ),
    "icp not an object": (
        ["run", "{dir}/array.json", "{domains}", *QUALIFIER],
        "array.json: expected a JSON object, got an array",
    ),
    "binary icp": (
        ["run", "{dir}/binary.json", "{domains}", *QUALIFIER],
        "binary.json: binary data",
    ),
    "empty icp": (
        ["run", "{dir}/empty.json", "{domains}", *QUALIFIER],
        "empty.json: empty file",
    ),
    "icp refused by qualifier": (
        ["run", "{dir}/unnamed.json", "{domains}", "--qualifier", "tests.sample_qualifiers:strict"],
        "unnamed.json: name: expected a string",
    ),
    "missing domains": (
        ["run", "{icp}", "{dir}/nope.txt", *QUALIFIER],
        "nope.txt: no such file",
    ),
    "binary domains": (
        ["run", "{icp}", "{dir}/binary.txt", *QUALIFIER],
        "binary.txt:2: binary data",
    ),
    "mixed-encoding domains": (
        ["run", "{icp}", "{dir}/latin1.txt", *QUALIFIER],
        "latin1.txt:2: not UTF-8",
    ),
    "no valid domain": (
        ["run", "{icp}", "{dir}/junk.txt", *QUALIFIER],
        "junk.txt: no valid domain (2 invalid lines)",
    ),
    "unimportable qualifier": (
        ["run", "{icp}", "{domains}", "--qualifier", "no_such_module:go"],
        "qualifier 'no_such_module:go': cannot import 'no_such_module'",
    ),
    "missing callable": (
        ["run", "{icp}", "{domains}", "--qualifier", "tests.sample_qualifiers:nothing"],
        "has no 'nothing'",
    ),
    "malformed qualifier": (
        ["run", "{icp}", "{domains}", "--qualifier", "justaname"],
        "expected MODULE:CALLABLE",
    ),
    "bad backoff": (
        ["run", "{icp}", "{domains}", *QUALIFIER, "--backoff", "5x"],
        "invalid duration '5x'",
    ),
    "zero attempts": (
        ["run", "{icp}", "{domains}", *QUALIFIER, "--max-attempts", "0"],
        "--max-attempts",
    ),
    "bad lease": (["worker", "--lease", "soon"], "invalid duration 'soon'"),
    "lease too short": (["worker", "--lease", "0.1s"], "'--lease': must be at least 0.3s"),
    "zero concurrency": (["worker", "--concurrency", "0"], "'--concurrency'"),
    "bad stuck-after": (["status", "--stuck-after", "-1m"], "invalid duration '-1m'"),
    "recover with a bad --older-than": (["recover", "--older-than", "soon"], "--older-than"),
    "unknown run (status)": (["status", "99"], "run 99: no such run"),
    "unknown run (show)": (["show", "99"], "run 99: no such run"),
    "unknown domain (show)": (["show", "1", "nowhere.com"], "run 1: no domain 'nowhere.com'"),
    "unknown run (export)": (["export", "99"], "run 99: no such run"),
    "unknown run (retry)": (["retry", "99"], "run 99: no such run"),
    "unknown run (cancel)": (["cancel", "99"], "run 99: no such run"),
    "bad export format": (["export", "1", "--format", "xml"], "'xml' is not one of"),
    "bad database URL": (
        ["--db", "mysql://localhost/x", "status"],
        "unsupported scheme 'mysql'",
    ),
}

BAD_FILES = {
    "bad.json": b'{"name": "x",}',
    "array.json": b'["not", "an", "object"]',
    "binary.json": b"\x89PNG\r\n\x1a\n\x00\x00",
    "empty.json": b"",
    "unnamed.json": json.dumps({"description": "no name"}).encode(),
    "binary.txt": b"acme.com\n\x00\x00\x00\n",
    # UTF-8 on line 1, Latin-1 on line 2: no one encoding reads both.
    "latin1.txt": b"b\xc3\xbccher.de\nm\xfcnchen.de\n",
    "junk.txt": b"localhost\n# only junk\nnot a domain\n",
}


def _bad_input_args(case: str, tmp_path: Path) -> tuple[list[str], str]:
    icp, domains = write_inputs(tmp_path, ["acme.com"])
    for name, content in BAD_FILES.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "folder").mkdir()
    args, message = BAD_INPUTS[case]
    fill = {"dir": str(tmp_path), "icp": icp, "domains": domains}
    return [arg.format(**fill) for arg in args], message


def _assert_one_line_error(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    case: str, tmp_path: Path, stack: Stack
) -> None:
    args, message = _bad_input_args(case, tmp_path)
    create_run(stack.open(), ["acme.com", "globex.io"], directory=tmp_path / "folder")
    stack.close()
    before = stack.snapshot()
    _assert_one_line_error(invoke(*stack.cli, *args), message)
    assert stack.snapshot() == before


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_creates_no_database(case: str, tmp_path: Path, sqlite_stack: Stack) -> None:
    args, message = _bad_input_args(case, tmp_path)
    if message.startswith("run "):
        message = "qualify.db: no such database"
    _assert_one_line_error(invoke(*sqlite_stack.cli, *args), message)
    assert not Path(sqlite_stack.db).exists()


# -- status ---------------------------------------------------------------------------------


def test_status_json_shapes(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "permanent-globex.io", "initech.com"])
    work_all(app)
    document = json.loads(invoke(*stack.cli, "status", "--json").stdout)
    assert set(document) == {"runs", "workers", "write_lock"}
    assert document["write_lock"] is None
    (run,) = document["runs"]
    assert set(run) == {
        "id",
        "name",
        "status",
        "total",
        "completed",
        "failed",
        "qualified",
        "unknown",
        "created_at",
        "updated_at",
        "stuck",
        "source_run_id",
    }
    assert run["source_run_id"] is None
    assert (run["id"], run["status"], run["total"], run["completed"], run["failed"]) == (
        run_id,
        "COMPLETED",
        3,
        2,
        1,
    )
    assert run["created_at"].endswith("Z") and run["stuck"] is False
    (worker,) = document["workers"]
    assert worker["state"] == "stopped" and worker["processed"] == 3
    single = json.loads(invoke(*stack.cli, "status", str(run_id), "--json").stdout)
    assert single == run


def test_status_without_a_database_shows_nothing(sqlite_stack: Stack) -> None:
    result = invoke(*sqlite_stack.cli, "status", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"runs": [], "workers": [], "write_lock": None}
    assert not Path(sqlite_stack.db).exists()


def test_status_check_exit_codes(app: Qualify, stack: Stack) -> None:
    moving = create_run(app, ["acme.com"])
    result = invoke(*stack.cli, "status", "--check")
    assert result.exit_code == 0 and result.stdout.startswith("OK")
    stuck = create_run(app, ["globex.io"])
    age_run(app, stuck, 600)
    result = invoke(*stack.cli, "status", "--check", "--stuck-after", "5m")
    assert result.exit_code == 3
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"STUCK run {stuck} ")
    assert invoke(*stack.cli, "status", "--check", "--stuck-after", "20m").exit_code == 0
    assert invoke(*stack.cli, "status", str(moving), "--check").exit_code == 0
    table = invoke(*stack.cli, "status").stdout
    assert "STUCK" in table


def test_a_live_lease_means_not_stuck(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "globex.io"])
    app.jobs.claim_next(1, "busy-worker", 3600)
    age_run(app, run_id, 600)
    assert not app.runs.is_stuck(run_id, 300)
    assert invoke(*stack.cli, "status", "--check").exit_code == 0


# -- show / export --------------------------------------------------------------------------


def test_show_run_and_domain(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "permanent-globex.io"])
    work_all(app)
    summary = invoke(*stack.cli, "show", str(run_id)).stdout
    assert "COMPLETED" in summary and "1 done, 1 failed" in summary
    detail = invoke(*stack.cli, "show", str(run_id), "https://www.ACME.com/").stdout
    assert "acme.com" in detail and "domain 'acme.com'" in detail
    failed = invoke(*stack.cli, "show", str(run_id), "permanent-globex.io").stdout
    assert "nope: permanent-globex.io cannot be judged" in failed


def test_show_and_export_say_who_recorded_each_outcome(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "permanent-globex.io", "transient1-initech.com"])
    worker = app.worker(WorkerOptions(burst=True, handle_signals=False, lease=2))
    worker.run()
    for domain, attempt in (("acme.com", 1), ("permanent-globex.io", 1),
                            ("transient1-initech.com", 2)):  # fmt: skip
        detail = invoke(*stack.cli, "show", str(run_id), domain).stdout
        line = next(line for line in detail.splitlines() if "Recorded by" in line)
        assert line.split("Recorded by", 1)[1].strip(" │") == f"{worker.id}, attempt {attempt}"
    lines = invoke(*stack.cli, "export", str(run_id), "--format", "jsonl").stdout.splitlines()
    rows = {row["domain"]: row for row in map(json.loads, lines)}
    assert {d: (r["recorded_by"], r["attempts"]) for d, r in rows.items()} == {
        "acme.com": (worker.id, 1),
        "permanent-globex.io": (worker.id, 1),
        "transient1-initech.com": (worker.id, 2),
    }


def test_export_formats_and_filters(app: Qualify, stack: Stack, tmp_path: Path) -> None:
    domains = [f"company{i}.com" for i in range(20)] + ["permanent-x.com"]
    run_id = create_run(app, domains)
    work_all(app)
    rows = list(csv.DictReader(io.StringIO(invoke(*stack.cli, "export", str(run_id)).stdout)))
    assert [r["domain"] for r in rows] == domains
    assert list(rows[0]) == ["input", *export.RESULT_COLUMNS]
    assert rows[0]["input"] == "company0.com"
    assert rows[0]["reason_1"].startswith("name: match (+")
    assert (rows[-1]["error_code"], rows[-1]["error_message"]) == (
        "nope",
        "permanent-x.com cannot be judged",
    )

    lines = invoke(*stack.cli, "export", str(run_id), "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["domain"] for line in lines] == domains
    document = json.loads(invoke(*stack.cli, "export", str(run_id), "--format", "json").stdout)
    assert len(document) == 21 and document[0]["reasons"][0]["criterion"] == "name"

    qualified = app.runs.get(run_id).qualified
    out = tmp_path / "qualified.csv"
    result = invoke(*stack.cli, "export", str(run_id), "--verdict", "qualified", "-o", str(out))
    assert result.exit_code == 0
    with out.open() as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == qualified > 0
    assert {r["verdict"] for r in exported} == {"qualified"}
    failed = invoke(
        *stack.cli, "export", str(run_id), "--verdict", "failed", "--format", "jsonl"
    ).stdout.splitlines()
    assert [json.loads(line)["domain"] for line in failed] == ["permanent-x.com"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".qualify-export-")]


# -- retry / cancel -------------------------------------------------------------------------


def test_retry_and_cancel(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["permanent-a.com", "permanent-b.com", "acme.com"])
    work_all(app)
    result = invoke(*stack.cli, "retry", str(run_id))
    assert result.stdout.strip() == f"Run {run_id}: 2 failed jobs queued again"
    assert app.runs.get(run_id).status == "PROCESSING"
    result = invoke(*stack.cli, "cancel", str(run_id))
    assert result.stdout.strip() == f"Run {run_id} cancelled: 2 unfinished jobs cancelled"
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.cancelled) == ("CANCELLED", 1, 2)
    assert invoke(*stack.cli, "cancel", str(run_id)).exit_code == 0
    result = invoke(*stack.cli, "retry", str(run_id))
    assert result.exit_code == 1 and "CANCELLED" in result.stderr


def test_cancel_a_completed_run_is_refused(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com"])
    work_all(app)
    result = invoke(*stack.cli, "cancel", str(run_id))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: run {run_id} is already COMPLETED; nothing to cancel"


# -- recover --------------------------------------------------------------------------------


def _idle_run_with_lost_work(app: Qualify) -> int:
    """A run as a crash leaves it: one done, one running on a dead worker, two queued whose
    messages are gone, and nothing has moved for ten minutes."""
    run_id = create_run(app, ["acme.com", "globex.io", "initech.com", "hooli.com"])
    _, (first,) = app.jobs.claim_next(1, "dead-worker", 30)
    from tests.test_jobs import RESULT

    app.jobs.complete(first, RESULT)
    app.jobs.claim_next(1, "dead-worker", 30)
    app.queue.flush()
    raw(app).execute("UPDATE jobs SET lease_expires_at = {now} - 500 WHERE state = 'running'")
    age_run(app, run_id, 600)
    return run_id


def test_recover_resumes_an_idle_run(app: Qualify, stack: Stack) -> None:
    run_id = _idle_run_with_lost_work(app)
    result = invoke(*stack.cli, "recover", "--older-than", "5m")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Resumed: run {run_id} (Test ICP / domains.txt), 3 jobs")
    assert app.runs.count_jobs_by_state(run_id) == {"done": 1, "queued": 3}
    assert len(app.queue.held_job_ids()) == 3
    assert not app.runs.is_stuck(run_id, 300)
    work_all(app)
    assert app.runs.get(run_id).status == "COMPLETED"


def test_recover_dry_run_changes_nothing(app: Qualify, stack: Stack) -> None:
    run_id = _idle_run_with_lost_work(app)
    stack.close()
    before = stack.snapshot()
    result = invoke(*stack.cli, "recover", "--older-than", "5m", "--dry-run", "--json")
    document = json.loads(result.stdout)
    assert document["dry_run"] is True
    assert [(r["run_id"], r["action"]) for r in document["runs"]] == [(run_id, "resume")]
    assert document["runs"][0]["jobs"] == {"done": 1, "running": 1, "queued": 2}
    assert stack.snapshot() == before


def test_recover_fail_marks_the_run_failed_and_keeps_results(app: Qualify, stack: Stack) -> None:
    run_id = _idle_run_with_lost_work(app)
    result = invoke(*stack.cli, "recover", "--older-than", "5m", "--fail")
    assert result.stdout.startswith(f"Marked FAILED: run {run_id}")
    run = app.runs.get(run_id)
    assert (run.status, run.completed, run.failed) == ("FAILED", 1, 3)
    assert app.runs.job(run_id, "acme.com").verdict is not None
    assert app.runs.job(run_id, "hooli.com").error_code == "run_failed"


def test_recover_never_touches_a_live_lease(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "globex.io"])
    _, (_busy,) = app.jobs.claim_next(1, "slow-but-alive", 3600)
    age_run(app, run_id, 3600)
    for flags in ([], ["--fail"]):
        result = invoke(*stack.cli, "recover", "--older-than", "5m", *flags)
        assert result.stdout.strip() == "No stuck runs."
    record = app.runs.job(run_id, "acme.com")
    assert (record.state, record.lease_owner) == ("running", "slow-but-alive")
    assert app.runs.get(run_id).status == "PROCESSING"


def test_every_command_has_help_with_an_example() -> None:
    for name, command in cli.commands.items():
        result = invoke(name, "--help")
        assert result.exit_code == 0
        assert command.help and "Example:" in command.help, name


def test_icp_default_name(tmp_path: Path, stack: Stack) -> None:
    icp, domains = write_inputs(tmp_path, ["acme.com"], icp={**ICP, "name": "DACH SaaS"})
    invoke(*stack.cli, "run", icp, domains, *QUALIFIER)
    assert stack.open().runs.get(1).name == "DACH SaaS / domains.txt"


# -- backends at start-up -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (
            ["--db", "postgresql://app:s3cret@127.0.0.1:1/qualify"],
            1,
            "database postgresql://app:***@127.0.0.1:1/qualify: cannot connect",
        ),
        (["--db", "postgresql://127.0.0.1:port/qualify"], 2, "invalid port"),
        (["--db", "postgresql://127.0.0.1:5432/"], 2, "no database name"),
        (["--db", "mysql://127.0.0.1/qualify"], 2, "unsupported scheme 'mysql'"),
        (
            ["--queue", "redis://:s3cret@127.0.0.1:1/0"],
            1,
            "queue redis://:***@127.0.0.1:1/0: cannot connect",
        ),
        (["--queue", "redis://127.0.0.1:notaport/0"], 2, "queue 'redis://127.0.0.1:notaport/0'"),
        (["--queue", "amqp://127.0.0.1/"], 2, "queue 'amqp://127.0.0.1/': unsupported"),
    ],
    ids=["pg-down", "pg-port", "pg-no-name", "mysql", "redis-down", "redis-port", "amqp"],
)
def test_backend_urls_are_checked_at_start_up(
    options: list[str], code: int, message: str, sqlite_stack: Stack
) -> None:
    result = invoke("--db", sqlite_stack.db, *options, "worker", "--burst")
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "s3cret" not in result.output


def _stuck_in_every_way(app: Qualify) -> int:
    """A stuck run with one job in each situation recover handles: queued with its message,
    queued with its message lost, waiting for a retry, running on an expired lease, and
    running on an expired lease with its attempts used up."""
    run_id = create_run(
        app, ["acme.com", "lost.com", "waits.com", "expired.com", "exhausted.com"],
        max_attempts=2,
    )  # fmt: skip
    db = raw(app)
    ids = {d: db.scalar("SELECT id FROM jobs WHERE domain = ? AND run_id = ?", (d, run_id))
           for d in ("lost.com", "waits.com", "expired.com", "exhausted.com")}  # fmt: skip
    claimed = app.jobs.claim([ids["waits.com"], ids["expired.com"], ids["exhausted.com"]],
                             "crashed-host:1:dead00", 30)  # fmt: skip
    waits = next(job for job in claimed if job.id == ids["waits.com"])
    app.jobs.retry_later(waits, 3600, "timeout", "timed out")
    db.execute("UPDATE jobs SET lease_expires_at = {now} - 300 WHERE state = 'running'")
    db.execute("UPDATE jobs SET attempts = 2 WHERE id = ?", (ids["exhausted.com"],))
    app.queue.flush()  # every message lost...
    app.queue.push([db.scalar("SELECT id FROM jobs WHERE domain = 'acme.com'")])  # ...but one
    age_run(app, run_id, 900)
    db.execute("UPDATE jobs SET next_attempt_at = {now} - 900 WHERE state = 'waiting'")
    return run_id


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize("mode", [[], ["--fail"]], ids=["resume", "fail"])
def test_recover_dry_run_reports_exactly_what_the_real_run_does(
    app: Qualify, stack: Stack, mode: list[str], output: list[str]
) -> None:
    run_id = _stuck_in_every_way(app)
    before = stack.snapshot()
    dry = invoke(*stack.cli, "recover", "--dry-run", *mode, *output).stdout
    assert stack.snapshot() == before  # the dry run changed nothing
    real = invoke(*stack.cli, "recover", *mode, *output).stdout
    if output:
        dry_document, real_document = json.loads(dry), json.loads(real)
        assert (dry_document.pop("dry_run"), real_document.pop("dry_run")) == (True, False)
        assert dry_document == real_document
        assert real_document["runs"][0]["run_id"] == run_id
        return
    said = dry.replace("Would resume", "Resumed").replace("Would mark FAILED", "Marked FAILED")
    assert said == real
    if mode:
        assert "5 unfinished jobs failed" in real
    else:
        # expired.com, waits.com and lost.com back in the queue; exhausted.com failed.
        assert "3 jobs re-queued, 1 failed after too many attempts;" in real
        assert "4 queued jobs need a worker" in real
