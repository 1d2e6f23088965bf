"""The llm qualifier through the whole pipeline, in real processes: `qualify run --qualifier
llm` fetching fixture sites through the gateway and asking the scriptable model server;
the endpoint checked before anything is written; a worker killed -9 mid-call; the budget
stopping a run exactly where it should and a larger one resuming it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualify.siteserver import SiteServer
from tests.llm.conftest import ICP, SITES
from tests.llmserver import LlmServer, reply
from tests.support import Stack, WorkerProcess, assert_consistent, raw, wait_until
from tests.web.sites import FLEETBASE

# Six sites the model must read, their names of one length so that each prompt costs the
# same number of tokens (the scripted server counts four characters a token).
TWINS = [f"fleet{c}.ch" for c in "abcdef"]


@pytest.fixture(scope="module")
def many_sites() -> Iterator[SiteServer]:
    server = SiteServer({**SITES, **dict.fromkeys(TWINS, FLEETBASE)}).start()
    yield server
    server.stop()


def cli(stack: Stack, *args: str, llm: LlmServer, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qualify", *stack.cli, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=stack.env(**{"QUALIFY_LLM_BASE_URL": llm.base_url, **env}),
    )


def write_inputs(tmp_path: Path, domains: list[str]) -> tuple[Path, Path]:
    icp = tmp_path / "icp.json"
    icp.write_text(json.dumps(ICP))
    listing = tmp_path / "domains.txt"
    listing.write_text("\n".join(domains) + "\n")
    return icp, listing


def test_run_wait_with_the_llm_qualifier_end_to_end_and_a_rerun_costs_nothing(
    llm: LlmServer, many_sites: SiteServer, sqlite_stack: Stack, tmp_path: Path
) -> None:
    icp, listing = write_inputs(tmp_path, list(SITES))
    args = [
        "run",
        str(icp),
        str(listing),
        "--qualifier",
        "llm",
        "--model",
        "test-model",
        "--wait",
        "--json",
        "--fetch-via",
        many_sites.fetch_via,
        "--price-in",
        "0.5",
        "--price-out",
        "1.5",
    ]
    first = cli(sqlite_stack, *args, llm=llm)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "COMPLETED"
    exported = cli(sqlite_stack, "export", "1", "--format", "jsonl", llm=llm)
    rows = {row["domain"]: row for row in map(json.loads, exported.stdout.splitlines())}
    assert {d: r["verdict"] for d, r in rows.items()} == {
        "fleetbase.ch": "qualified",  # the scripted model quotes its homepage
        "shoply.com": "qualified",
        "royal-casino.com": "qualified",
        "forsale-domain.com": "unqualified",  # parked: no model call
        "botwall.io": "unknown",  # bot wall: no model call
    }
    paid = llm.chat_requests
    assert paid == 3

    shown = cli(sqlite_stack, "show", "1", llm=llm).stdout
    assert "test-model" in shown and "3 model calls" in shown and "Est. cost" in shown
    status = json.loads(cli(sqlite_stack, "status", "1", "--json", llm=llm).stdout)
    assert status["llm"]["calls"] == 3 and status["llm"]["tokens"] > 0
    assert status["llm"]["estimated_cost"] > 0

    second = cli(sqlite_stack, *args, llm=llm)
    assert second.returncode == 0, second.stderr
    assert llm.chat_requests == paid  # nothing asked again
    again = json.loads(cli(sqlite_stack, "status", "2", "--json", llm=llm).stdout)["llm"]
    assert (again["tokens"], again["calls"], again["cache_hits"]) == (0, 0, 3)
    # The result says where its verdict came from.
    app = sqlite_stack.open()
    record = app.runs.job(2, "fleetbase.ch")
    extra = json.loads(
        raw(app).scalar("SELECT extra FROM results WHERE job_id = ?", (record.job_id,))
    )
    assert extra["llm"]["cache_hit"] is True and extra["llm"]["prompt_version"] == "llm-1"
    assert app.runs.get(2).qualifier == "llm"

    # A rescore reads the kept pages (no fetch) and the cached verdicts (no tokens); a
    # changed ICP is a new question, paid for once per domain that needs the model.
    many_sites.clear_log()
    same = cli(sqlite_stack, "rescore", "1", "--icp", str(icp), "--wait", llm=llm)
    assert same.returncode == 0, same.stderr
    assert llm.chat_requests == paid and many_sites.log == []
    assert app.llm_account(3).model == "test-model" and app.llm_account(3).tokens == 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**ICP, "description": "Shops selling to consumers"}))
    changed = cli(sqlite_stack, "rescore", "1", "--icp", str(other), "--wait", llm=llm)
    assert changed.returncode == 0, changed.stderr
    assert llm.chat_requests == 2 * paid and app.llm_account(4).calls == paid


@pytest.mark.parametrize(
    ("setup", "env", "culprit"),
    [
        ({"api_key": "right"}, {"QUALIFY_LLM_API_KEY": "wrong"}, "check QUALIFY_LLM_API_KEY"),
        ({"models": ["other"]}, {}, "model 'test-model' is not served"),
        ({}, {"QUALIFY_LLM_BASE_URL": "http://127.0.0.1:9/v1"}, "cannot connect"),
    ],
)
def test_the_endpoint_is_checked_before_anything_is_written(
    sqlite_stack: Stack, tmp_path: Path, setup: dict, env: dict[str, str], culprit: str
) -> None:
    server = LlmServer(**setup).start()
    try:
        icp, listing = write_inputs(tmp_path, ["fleetbase.ch"])
        found = cli(
            sqlite_stack,
            "run",
            str(icp),
            str(listing),
            "--qualifier",
            "llm",
            "--model",
            "test-model",
            llm=server,
            **env,
        )
    finally:
        server.stop()
    assert found.returncode == 2
    lines = found.stderr.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0], found.stderr
    assert server.chat_requests == 0
    listed = cli(sqlite_stack, "status", "--json", llm=server)
    assert json.loads(listed.stdout)["runs"] == []


def test_an_llm_run_without_a_model_is_refused(
    llm: LlmServer, sqlite_stack: Stack, tmp_path: Path
) -> None:
    icp, listing = write_inputs(tmp_path, ["fleetbase.ch"])
    found = cli(sqlite_stack, "run", str(icp), str(listing), "--qualifier", "llm", llm=llm)
    assert found.returncode == 2
    assert found.stderr.strip().splitlines() == [
        "Error: model: required by the llm qualifier; give --model or set QUALIFY_LLM_MODEL"
    ]


def test_an_icp_without_a_description_is_refused(
    llm: LlmServer, sqlite_stack: Stack, tmp_path: Path
) -> None:
    icp, listing = write_inputs(tmp_path, ["fleetbase.ch"])
    icp.write_text(json.dumps({"name": "x"}))
    found = cli(
        sqlite_stack,
        "run",
        str(icp),
        str(listing),
        "--qualifier",
        "llm",
        "--model",
        "test-model",
        llm=llm,
    )
    assert found.returncode == 2 and "description" in found.stderr
    assert len(found.stderr.strip().splitlines()) == 1


def worker(stack: Stack, llm: LlmServer, sites: SiteServer, *args: str) -> WorkerProcess:
    return WorkerProcess(
        stack,
        "--fetch-via",
        sites.fetch_via,
        "--llm-concurrency",
        "1",
        *args,
        env={"QUALIFY_LLM_BASE_URL": llm.base_url},
    )


def test_a_worker_killed_mid_call_leaves_exactly_one_result_and_the_rerun_is_free(
    llm: LlmServer, many_sites: SiteServer, stack: Stack, tmp_path: Path
) -> None:
    icp, listing = write_inputs(tmp_path, TWINS[:3])
    created = cli(
        stack, "run", str(icp), str(listing), "--qualifier", "llm", "--model", "test-model", llm=llm
    )
    assert created.returncode == 0, created.stderr
    llm.script(reply.slow(8))  # the first call hangs: the worker dies in it
    doomed = worker(stack, llm, many_sites, "-c", "1", "--lease", "1s")
    try:
        wait_until(llm.started.is_set, timeout=30)
        doomed.kill9()
    finally:
        doomed.stop()
    survivor = worker(stack, llm, many_sites, "--burst", "-c", "2")
    assert survivor.wait(90) == 0, survivor.output
    app = stack.open()
    run = app.runs.get(1)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 3, 0)
    assert_consistent(app, 1)
    # The killed call was never answered, so never recorded: three paid calls, four asked.
    assert app.llm_account(1).calls == 3 and llm.chat_requests == 4

    rerun = cli(
        stack, "run", str(icp), str(listing), "--qualifier", "llm", "--model", "test-model", llm=llm
    )
    assert rerun.returncode == 0, rerun.stderr
    assert worker(stack, llm, many_sites, "--burst").wait(90) == 0
    account = app.llm_account(2)
    assert account is not None
    assert (account.tokens, account.calls, account.cache_hits) == (0, 0, 3)
    assert llm.chat_requests == 4
    assert_consistent(app, 2)


def test_the_budget_stops_a_run_exactly_where_it_should_and_a_larger_one_resumes_it(
    llm: LlmServer, many_sites: SiteServer, stack: Stack, tmp_path: Path
) -> None:
    icp, listing = write_inputs(tmp_path, TWINS)
    created = cli(
        stack,
        "run",
        str(icp),
        str(listing),
        "--qualifier",
        "llm",
        "--model",
        "test-model",
        "--max-tokens",
        "1",
        llm=llm,
    )
    assert created.returncode == 0, created.stderr
    app = stack.open()

    def work() -> WorkerProcess:
        process = worker(stack, llm, many_sites, "--burst", "-c", "1")
        process.wait(90)
        return process

    first = work()
    # One paid call crosses a budget of one token: one result, the run waits at BUDGET.
    assert first.proc.returncode == 4, first.output
    assert "stopped at its token budget" in first.output
    run = app.runs.get(1)
    assert (run.status, run.completed) == ("BUDGET", 1)
    assert llm.chat_requests == 1
    per_call = app.llm_account(1).tokens  # every twin's prompt costs the same
    assert "BUDGET" in cli(stack, "status", llm=llm).stdout
    assert_consistent(app, 1)

    raised = cli(stack, "run-set", "1", "--max-tokens", str(3 * per_call), llm=llm)
    assert raised.returncode == 0, raised.stderr
    assert "PROCESSING" in raised.stdout
    work()
    run = app.runs.get(1)
    assert (run.status, run.completed, llm.chat_requests) == ("BUDGET", 3, 3)
    assert app.llm_account(1).tokens == 3 * per_call
    assert_consistent(app, 1)

    too_small = cli(stack, "run-set", "1", "--max-tokens", str(per_call), llm=llm)
    assert too_small.returncode == 1 and "does not let it go on" in too_small.stderr

    assert cli(stack, "run-set", "1", "--no-budget", llm=llm).returncode == 0
    assert work().proc.returncode == 0
    run = app.runs.get(1)
    assert (run.status, run.completed, run.failed) == ("COMPLETED", 6, 0)
    assert llm.chat_requests == 6 and app.llm_account(1).calls == 6
    assert_consistent(app, 1)


def test_a_wrong_key_mid_run_pauses_the_worker_and_fails_no_domain(
    many_sites: SiteServer, sqlite_stack: Stack, tmp_path: Path
) -> None:
    server = LlmServer(api_key="right").start()
    try:
        icp, listing = write_inputs(tmp_path, TWINS[:3])
        created = cli(
            sqlite_stack,
            "run",
            str(icp),
            str(listing),
            "--qualifier",
            "llm",
            "--model",
            "test-model",
            llm=server,
            QUALIFY_LLM_API_KEY="right",
        )
        assert created.returncode == 0, created.stderr
        process = WorkerProcess(
            sqlite_stack,
            "--fetch-via",
            many_sites.fetch_via,
            "-c",
            "2",
            env={"QUALIFY_LLM_BASE_URL": server.base_url, "QUALIFY_LLM_API_KEY": "revoked"},
        )
        app = sqlite_stack.open()
        try:
            wait_until(lambda: any(w.state == "paused" for w in app.workers.list()), timeout=30)
        finally:
            process.signal(signal.SIGTERM)
            process.wait(30)
    finally:
        server.stop()
    run = app.runs.get(1)
    assert (run.completed, run.failed) == (0, 0)
    assert "llm: 401 from" in process.output and "check QUALIFY_LLM_API_KEY" in process.output
