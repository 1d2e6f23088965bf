"""A qualifier's output cannot poison the store, and a qualifier cannot end the worker:
bad values fail their job at once as ``bad_result``, SystemExit and KeyboardInterrupt fail
their job, and every export stays valid JSON and CSV. With a real worker process."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable

from qualify.api import Qualify
from tests.support import ROOT, Stack, WorkerProcess, assert_consistent, create_run

BAD = {
    "nan-acme.com": "bad_result",
    "inf-acme.com": "bad_result",
    "overflow-acme.com": "bad_result",
    "verdict-acme.com": "bad_result",
    "exit-acme.com": "qualifier_exited",
    "interrupt-acme.com": "qualifier_exited",
}


def test_bad_output_fails_its_job_at_once_and_never_the_worker(
    app: Qualify, stack: Stack, workers: Callable[..., WorkerProcess]
) -> None:
    good = ["acme.com", "globex.io", "initech.com"]
    run_id = create_run(app, [*BAD, "unprintable-acme.com", *good], max_attempts=3)
    worker = workers("--burst", "--concurrency", "2", "--lease", "2s")
    assert worker.wait(timeout=60) == 4, worker.output  # finished, with failed jobs
    assert "Traceback" not in worker.output
    for domain, code in BAD.items():
        record = app.runs.job(run_id, domain)
        # Not retried: attempts stays 1, and the code says what happened.
        assert (record.state, record.attempts, record.error_code) == ("failed", 1, code), domain
    assert (
        "JSON cannot hold (Out of range float values" in app.runs.job(run_id, "nan-acme.com").error
    )
    assert "score 10000" in app.runs.job(run_id, "overflow-acme.com").error
    assert app.runs.job(run_id, "exit-acme.com").error == "the qualifier raised SystemExit(3)"
    unprintable = app.runs.job(run_id, "unprintable-acme.com")
    assert (unprintable.state, unprintable.attempts, unprintable.error_code) == (
        "failed", 3, "unexpected_error")  # fmt: skip
    assert "_Unprintable: (its message cannot be read: RuntimeError)" in unprintable.error
    for domain in good:
        assert app.runs.job(run_id, domain).state == "done"
    assert_consistent(app, run_id)

    # Every export parses.
    for fmt in ("json", "jsonl", "csv"):
        done = subprocess.run(
            [sys.executable, "-m", "qualify", *stack.cli, "export", str(run_id), "--format",
             fmt],
            capture_output=True, text=True, env=stack.env(), cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        if fmt == "json":
            document = json.loads(done.stdout, parse_constant=_refuse)
            rows = document if isinstance(document, list) else document["results"]
        elif fmt == "jsonl":
            rows = [json.loads(line, parse_constant=_refuse) for line in done.stdout.splitlines()]
        else:
            rows = list(csv.DictReader(io.StringIO(done.stdout)))
        assert len(rows) == 10, fmt


def _refuse(constant: str) -> None:
    raise AssertionError(f"an export holds {constant}, which is not JSON")
