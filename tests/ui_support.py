"""What the tests of result pages and of ``qualify ui`` share: a qualifier whose results vary
in every way a results table can filter on, and a run of it worked for real."""

from __future__ import annotations

import re
import socket
import threading
import time

from qualify.api import Qualify
from qualify.errors import PermanentError
from qualify.ui.config import UiConfig
from qualify.worker import WorkerOptions
from tests.support import create_run

TIERS = ("A", "B", "C", "D")


def varied(domain: str, icp: dict) -> dict:
    """A result chosen by the domain's number (``co123-….com``): scores with many ties, every
    verdict, tiers, results without a score that carry an error code, and failures."""
    label = domain.split(".", 1)[0]
    number = int(label[2:].split("-", 1)[0]) if label[2:3].isdigit() else sum(domain.encode())
    if "fail" in label:
        raise PermanentError(f"{domain} cannot be judged", code="nope")
    if number % 9 == 0:
        return {
            "score": None,
            "verdict": "unknown",
            "reasons": [{"criterion": "site", "outcome": "unknown", "evidence": "no answer"}],
            "evidence": {"error": "dns_nxdomain"},
            "tier": "D",
            "confidence": 0.0,
            "error": "dns_nxdomain",
        }
    score = (number * 37) % 21 * 5  # 0..100 in steps of 5: many rows share a score
    verdict = "qualified" if score >= 70 else "review" if score >= 45 else "unqualified"
    return {
        "score": score,
        "verdict": verdict,
        "reasons": [
            {
                "criterion": "industries",
                "outcome": "match" if score >= 45 else "mismatch",
                "points": score / 4,
                "evidence": f"'{label} freight software'",
                "source_url": f"https://{domain}/about",
            }
        ],
        "evidence": {"title": f"{label.upper()} Logistics GmbH", "url": f"https://{domain}/"},
        "tier": TIERS[number % 4],
        "confidence": round((number % 10) / 10, 1),
        "error": None,
    }


VARIED = "tests.ui_support:varied"


def varied_domains(count: int, failures: int = 0) -> list[str]:
    domains = [f"co{i:03d}-{('x' * (i % 3)) or 'y'}.com" for i in range(count)]
    return domains + [f"co{900 + i}-fail.com" for i in range(failures)]


def worked_run(app: Qualify, domains: list[str], *, qualifier: str = VARIED) -> int:
    """A run of ``domains`` worked to the end by a real worker in this process."""
    run_id = create_run(app, domains, qualifier=qualifier, max_attempts=1)
    app.worker(WorkerOptions(burst=True, handle_signals=False, lease=5)).run()
    return run_id


def hostile(domain: str, icp: dict) -> dict:
    """A result as a malicious site could shape it: markup and script in every text field,
    ``javascript:`` and ``data:`` addresses where links go."""
    payload = "<script>alert('x')</script><img src=x onerror=alert('img') id=injected>"
    return {
        "score": 80,
        "verdict": "qualified",
        "reasons": [
            {
                "criterion": "industries",
                "outcome": "match",
                "points": 20,
                "evidence": f"title: '{payload}'",
                "source_url": "javascript:alert('reason')",
            },
            {
                "criterion": "keywords",
                "outcome": 'match"><b id=injected>',
                "points": 10,
                "evidence": '"><iframe id=injected src="javascript:alert(1)"></iframe>',
                "source_url": "data:text/html,<script>alert('data')</script>",
            },
            {
                "criterion": "signals",
                "outcome": "match",
                "points": 5,
                "evidence": "a real page",
                "source_url": f"https://{domain}/about?q=<script>",
            },
        ],
        "evidence": {
            "title": payload,
            "description": "</pre><script>alert('desc')</script>",
            "url": "javascript:alert('site')",
            "pages": ["javascript:alert('page')", f"https://{domain}/"],
        },
        "tier": "A<script>alert('tier')</script>",
        "confidence": 0.9,
        "error": None,
    }


HOSTILE = "tests.ui_support:hostile"


class UiServer:
    """``qualify ui``'s app served by a real uvicorn on 127.0.0.1, in a thread of this
    process, for the length of a test."""

    def __init__(self, app: Qualify, config: UiConfig | None = None) -> None:
        import uvicorn

        from qualify.ui import create_app

        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        config = config or UiConfig(port=self.port)
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(app, config), log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> UiServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the ui server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.listener.close()


CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)
