"""``qualify ui`` over HTTP, served by a real uvicorn on 127.0.0.1: every page on every
backend, downloads identical to ``qualify export``, the token, the Host check, CSRF, the
security headers, uploads checked as ``qualify run`` checks them (nothing written on bad
input), and the command itself."""

from __future__ import annotations

import html
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qualify.api import Qualify
from qualify.ui import UiConfig
from qualify.ui.security import CONTENT_SECURITY_POLICY
from tests.support import Stack, create_run
from tests.test_cli import age_run, invoke, work_all
from tests.ui_support import VARIED, UiServer, csrf_of, varied_domains, worked_run

TOKEN = "s3cret-token-for-tests-only"


@pytest.fixture
def served(app: Qualify) -> Iterator[tuple[UiServer, httpx.Client]]:
    with UiServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield server, client


def test_every_page_renders_on_every_backend(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    _, client = served
    run_id = worked_run(app, varied_domains(30, failures=2))
    domain = varied_domains(30)[1]
    pages = {
        "/": "Runs",
        f"/runs/{run_id}": "Results",
        f"/runs/{run_id}?outcome=qualified&sort=score_desc&limit=25": "qualified",
        f"/runs/{run_id}?outcome=failed&code=nope&sort=domain": "cannot be judged",
        f"/runs/{run_id}?q=LOGISTICS&tier=A": "Logistics GmbH",
        f"/runs/{run_id}/domains/{domain}": "freight software",
        "/runs/new": "Queue the run",
        "/live/runs": "Workers",
        f"/runs/{run_id}/live": "Done",
    }
    for path, text in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert text in response.text, path
    status = client.get("/api/status").json()
    assert status["runs"][0]["id"] == run_id and status["runs"][0]["completed"] == 30
    assert status["runs"][0]["unknown"] == app.runs.count_verdicts(run_id).get("unknown", 0)
    results = client.get(f"/api/runs/{run_id}/results", params={"limit": 25}).json()
    assert len(results["rows"]) == 25 and results["next"]
    more = client.get(f"/api/runs/{run_id}/results", params={"limit": 25, "after": results["next"]})
    assert len(more.json()["rows"]) == 7 and more.json()["next"] is None
    detail = client.get(f"/api/runs/{run_id}/domains/{domain}").json()
    assert detail["domain"] == domain and detail["recorded_by"]


def test_missing_things_and_bad_filters_are_one_line_errors(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    _, client = served
    run_id = create_run(app, ["acme.com"])
    cases = {
        "/runs/99": (404, "run 99: no such run"),
        f"/runs/{run_id}/domains/nope.com": (404, f"run {run_id}: no domain 'nope.com'"),
        f"/runs/{run_id}?sort=name": (400, "sort: 'name' is not one of"),
        f"/runs/{run_id}?outcome=great": (400, "outcome: 'great' is not one of"),
        f"/runs/{run_id}?after=x:1": (400, "after: 'x:1' is not a cursor"),
        f"/runs/{run_id}/export?format=xml": (400, "format: 'xml' is not one of"),
        "/no/such/page": (404, "no such page"),
    }
    for path, (status, text) in cases.items():
        response = client.get(path)
        assert response.status_code == status, path
        assert text in html.unescape(response.text), (path, response.text[-600:])
    api = client.get("/api/runs/99")
    assert api.status_code == 404 and api.json() == {"error": "run 99: no such run"}


@pytest.mark.parametrize(
    ("fmt", "verdicts"), [("csv", []), ("csv", ["qualified", "failed"]), ("jsonl", ["review"])]
)
def test_downloads_are_the_bytes_qualify_export_writes(
    sqlite_stack: Stack, tmp_path: Path, fmt: str, verdicts: list[str]
) -> None:
    app = sqlite_stack.open()
    run_id = worked_run(app, varied_domains(40, failures=3))
    out = tmp_path / f"cli.{fmt}"
    flags = [arg for v in verdicts for arg in ("--verdict", v)]
    result = invoke("--db", sqlite_stack.db, "export", str(run_id), "--format", fmt, *flags,
                    "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    with UiServer(app) as server:
        response = httpx.get(
            f"{server.url}/runs/{run_id}/export", params={"format": fmt, "verdict": verdicts}
        )
    assert response.status_code == 200
    assert response.content == out.read_bytes()
    name = f"run-{run_id}" + "".join(f"-{v}" for v in verdicts) + f".{fmt}"
    assert f'filename="{name}"' in response.headers["content-disposition"]


def test_every_response_carries_the_security_headers(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    _, client = served
    for path in ("/", "/static/app.css", "/runs/9", "/api/status", "/nowhere"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    cookie = client.get("/").headers.get("set-cookie") or ""
    assert cookie == "" or ("HttpOnly" in cookie and "SameSite=Lax" in cookie)


def test_without_a_token_only_loopback_host_names_are_answered(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    # A page on another site that rebinds its name to 127.0.0.1 sends its own Host.
    server, client = served
    for host in ("evil.example", "attacker.com:8765", "127.0.0.1.nip.io"):
        response = client.get("/api/status", headers={"host": host})
        assert response.status_code == 421, host
        assert "loopback names only" in response.text
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "[::1]"):
        assert client.get("/api/status", headers={"host": host}).status_code == 200, host


def test_with_a_token_every_request_needs_it(app: Qualify, stack: Stack) -> None:
    run_id = create_run(app, ["acme.com", "permanent-x.com"])
    config = UiConfig(token=TOKEN)
    with UiServer(app, config) as server:
        bare = httpx.Client(base_url=server.url)
        for path in ("/", f"/runs/{run_id}", "/api/status", "/static/app.css"):
            response = bare.get(path)
            assert response.status_code == 401, path
            assert "needs its token" in response.text
        assert bare.get("/", params={"token": "wrong-token-0123456789"}).status_code == 401
        before = stack.snapshot()
        refused = bare.post(f"/runs/{run_id}/cancel", data={"csrf": "0" * 64})
        assert refused.status_code == 401 and stack.snapshot() == before
        # The printed link: sets the cookie, then drops the token from the address.
        link = bare.get(f"/runs/{run_id}", params={"token": TOKEN, "sort": "domain"})
        assert link.status_code == 303
        assert link.headers["location"] == f"/runs/{run_id}?sort=domain"
        assert "qualify_token=" in link.headers["set-cookie"]
        assert bare.get(link.headers["location"]).status_code == 200
        bearer = httpx.get(f"{server.url}/api/status", headers={"authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        # Even with the token, the Host may be anything (the token is the protection).
        assert bare.get("/", headers={"host": "qualify.internal:8765"}).status_code == 200
        # An address that would send the browser elsewhere stays on this server.
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(f"GET //evil.example/x?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Connection: close\r\n\r\n".encode())  # fmt: skip
            answer = raw.makefile("rb").read().decode("latin-1")
        assert "\r\nlocation: /evil.example/x\r\n" in answer.lower()


def test_a_post_without_this_sessions_csrf_token_changes_nothing(
    app: Qualify, stack: Stack, served: tuple[UiServer, httpx.Client]
) -> None:
    _, client = served
    run_id = create_run(app, ["acme.com", "globex.com"])
    page = client.get(f"/runs/{run_id}")
    token = csrf_of(page.text)
    before = stack.snapshot()
    attempts = [
        ({}, {}),  # no token at all
        ({"csrf": "0" * 64}, {}),  # a forged one
        ({"csrf": token}, {"origin": "http://evil.example"}),  # right token, other site
        ({"csrf": token}, {"sec-fetch-site": "cross-site"}),
    ]
    for data, headers in attempts:
        response = client.post(f"/runs/{run_id}/cancel", data=data, headers=headers)
        assert response.status_code == 403, (data, headers)
        assert "refused" in response.text
    other = httpx.Client(base_url=client.base_url)  # another browser: another session
    other.get("/")
    stolen = other.post(f"/runs/{run_id}/cancel", data={"csrf": token})
    assert stolen.status_code == 403
    assert stack.snapshot() == before
    done = client.post(f"/runs/{run_id}/cancel", data={"csrf": token})
    assert done.status_code == 303 and done.headers["location"] == f"/runs/{run_id}"
    assert app.runs.get(run_id).status == "CANCELLED"
    after = client.get(done.headers["location"]).text
    assert f"Run {run_id} cancelled: 2 unfinished jobs cancelled; results kept" in after


def test_actions_say_what_they_did_or_why_not(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    _, client = served
    run_id = create_run(app, ["acme.com", "permanent-a.com", "permanent-b.com"], max_attempts=1)
    work_all(app)
    token = csrf_of(client.get(f"/runs/{run_id}").text)

    def act(name: str, **data: str) -> str:
        response = client.post(f"/runs/{run_id}/{name}", data={"csrf": token, **data})
        assert response.status_code == 303
        return client.get(response.headers["location"]).text

    assert "is not stuck" in act("recover")
    assert f"Run {run_id}: 2 failed jobs queued again" in act("retry")
    age_run(app, run_id, 900)
    page = act("recover")
    assert f"Run {run_id} resumed: 0 jobs re-queued; 2 queued jobs need a worker" in page
    assert f"Run {run_id} cancelled: 2 unfinished jobs cancelled; results kept" in act("cancel")
    assert f"Run {run_id} cancelled: 0 unfinished jobs cancelled" in act("cancel")  # a no-op
    assert f"run {run_id} is CANCELLED; its jobs will not be retried" in act("retry")


def _upload(
    client: httpx.Client, files: dict[str, tuple[str, bytes]], **data: str
) -> httpx.Response:
    token = csrf_of(client.get("/runs/new").text)
    fields = {"csrf": token, "qualifier": "web", "max_attempts": "5", "backoff": "10s", **data}
    return client.post("/runs", data=fields, files=files)


GOOD_ICP = json.dumps({"name": "Fair leads"}).encode()
BAD_UPLOADS = [
    ({"icp": ("icp.json", b"{nope"), "domains": ("domains.txt", b"acme.com\n")}, {}),
    ({"icp": ("icp.json", b"[1]"), "domains": ("domains.txt", b"acme.com\n")}, {}),
    ({"icp": ("icp.json", b'{"name": "x", "colour": 1}'), "domains": ("d.txt", b"a.com\n")}, {}),
    ({"icp": ("icp.json", GOOD_ICP), "domains": ("leads.txt", b"localhost\nnot a domain\n")}, {}),
    ({"icp": ("icp.json", GOOD_ICP), "domains": ("leads.txt", b"acme.com\n\x00\x01")}, {}),
    ({"icp": ("icp.json", GOOD_ICP), "domains": ("leads.txt", b"\xff\xfe acme")}, {}),
]


@pytest.mark.parametrize(("files", "data"), BAD_UPLOADS, ids=range(len(BAD_UPLOADS)))
def test_a_bad_upload_shows_the_error_qualify_run_prints_and_writes_nothing(
    app: Qualify,
    stack: Stack,
    served: tuple[UiServer, httpx.Client],
    tmp_path: Path,
    files: dict[str, tuple[str, bytes]],
    data: dict[str, str],
) -> None:
    _, client = served
    # The same files given to `qualify run`, under the same names, from their directory.
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    for name, content in files.values():
        (cli_dir / name).write_bytes(content)
    cli = subprocess.run(
        [sys.executable, "-m", "qualify", "--db", str(tmp_path / "other.db"), "run",
         files["icp"][0], files["domains"][0]],
        cwd=cli_dir, capture_output=True, text=True, env=stack.env(), check=False,
    )  # fmt: skip
    assert cli.returncode == 2
    expected = cli.stderr.strip().removeprefix("Error: ")
    before = stack.snapshot()
    response = _upload(client, files, **data)
    assert response.status_code == 400
    shown = re.search(r'id="form-error">([^<]*)<', response.text)
    assert shown, response.text[-800:]
    assert html.unescape(shown.group(1)) == expected
    assert "qualify-upload-" not in response.text  # no temporary path leaks out
    assert stack.snapshot() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"qualifier": "os:system"}, "qualifier: 'os:system' is not one this server offers"),
        ({"max_attempts": "0"}, "max attempts: between 1 and 100"),
        ({"max_attempts": "many"}, "max attempts: 'many' is not a whole number"),
        ({"backoff": "soon"}, "soon"),
        ({"icp_from": "run", "icp_run": "77"}, "run 77: no such run"),
    ],
)
def test_bad_settings_are_named_and_write_nothing(
    app: Qualify,
    stack: Stack,
    served: tuple[UiServer, httpx.Client],
    data: dict[str, str],
    message: str,
) -> None:
    _, client = served
    files = {"icp": ("icp.json", GOOD_ICP), "domains": ("leads.txt", b"acme.com\n")}
    before = stack.snapshot()
    response = _upload(client, files, **data)
    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert stack.snapshot() == before


def test_uploads_over_the_limit_are_refused_before_they_are_read(
    app: Qualify, stack: Stack
) -> None:
    with UiServer(app, UiConfig(max_upload_bytes=4096)) as server:
        client = httpx.Client(base_url=server.url)
        before = stack.snapshot()
        big = b"".join(b"company%d.com\n" % i for i in range(1000))
        response = _upload(client, {"icp": ("icp.json", GOOD_ICP), "domains": ("d.txt", big)})
        assert response.status_code == 413
        assert "upload too large" in response.text and "the limit is 4 KB" in response.text
        assert stack.snapshot() == before


def test_a_good_upload_queues_the_run_as_qualify_run_would(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    _, client = served
    earlier = create_run(app, ["first.com"], qualifier=VARIED)
    domains = b"acme.com\nhttps://www.Acme.com/x\nglobex.io\nlocalhost\n# a comment\n"
    response = _upload(
        client,
        {"icp": ("fair.json", GOOD_ICP), "domains": ("leads.txt", domains)},
        name="From the browser",
        qualifier=VARIED,
        max_attempts="3",
    )
    assert response.status_code == 303, response.text[-500:]
    run = app.runs.list()[0]
    assert run.id != earlier and response.headers["location"] == f"/runs/{run.id}"
    assert (run.name, run.total, run.qualifier, run.max_attempts) == (
        "From the browser", 2, VARIED, 3
    )  # fmt: skip
    page = html.unescape(client.get(response.headers["location"]).text)
    created = f"Run {run.id} (From the browser): 2 queued, 1 duplicate and 1 invalid line skipped"
    assert created in page
    assert "skipped line 4: 'localhost'" in page
    # The ICP of an earlier run, and the default name (ICP name / file name).
    again = _upload(client, {"domains": ("more.txt", b"initech.com\n")}, icp_from="run",
                    icp_run=str(run.id))  # fmt: skip
    assert again.status_code == 303
    latest = app.runs.list()[0]
    assert latest.name == "Fair leads / more.txt"
    assert app.runs.plan(latest.id).icp == {"name": "Fair leads"}


# -- the command -------------------------------------------------------------------------------


def test_the_command_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    result = invoke("--db", str(tmp_path / "q.db"), "ui", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "--host 0.0.0.0 is not a loopback address: also give --token" in result.stderr
    short = invoke("--db", str(tmp_path / "q.db"), "ui", "--token", "short")
    assert short.exit_code == 2 and "--token: at least 16 characters" in short.stderr
    assert not (tmp_path / "q.db").exists()


def test_the_command_serves_until_interrupted(stack: Stack, tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = invoke("--db", str(tmp_path / "q.db"), "ui", "--port", str(busy.getsockname()[1]))
    busy.close()
    assert taken.exit_code == 1 and "cannot listen on 127.0.0.1:" in taken.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "qualify", *stack.cli, "ui", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=stack.env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=(\S+)", line)
        assert url and url.group(2) == TOKEN, line
        assert httpx.get(url.group(1)).status_code == 401
        assert httpx.get(url.group(0), follow_redirects=True).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_the_run_page_shows_an_llm_runs_tokens_cache_hits_budget_and_cost(
    app: Qualify, served: tuple[UiServer, httpx.Client]
) -> None:
    from qualify.llmledger import Usage

    _, client = served
    run_id = worked_run(app, varied_domains(3))
    assert "llm-account" not in client.get(f"/runs/{run_id}").text  # not an llm run
    app.set_run_budget(run_id, max_tokens=1000, price_in=2.0, price_out=10.0)
    app.store.llm.spend(run_id, Usage(1200, 300), cache_hit=False)
    app.store.llm.spend(run_id, Usage(), cache_hit=True)
    page = client.get(f"/runs/{run_id}").text
    assert "Tokens 1,500 (1,200 in, 300 out) in 1 model calls" in page
    assert "Cache hits 1 (free)" in page
    assert f"qualify run-set {run_id} --max-tokens N</code> resumes it" in page
    assert "Estimated cost 0.0054" in page  # 1200 * 2 / 1M + 300 * 10 / 1M
