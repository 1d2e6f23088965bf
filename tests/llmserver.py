"""A scriptable OpenAI-compatible server on 127.0.0.1 for the llm qualifier's tests.

    server = LlmServer(models=["test-model"]).start()
    server.script(reply.rate_limited(retry_after="2"), reply.good())  # the next two answers
    ... QUALIFY_LLM_BASE_URL=server.base_url ...
    server.stop()

Each request to ``/v1/chat/completions`` takes the next scripted action, else the default
one (``good``: a grounded answer quoting the first page it was shown). ``GET /v1/models``
lists the models. Requests are logged (``server.requests``). ``api_key`` makes it demand
``Authorization: Bearer <key>`` (401 otherwise); ``refuse_json_schema`` answers HTTP 500 to
a json_schema request, as llama-cpp-python does; ``latency`` delays every answer.

Run as a script it serves until killed: ``python tests/llmserver.py --port 8199 --latency 0.5``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_BLOCK = re.compile(r"<<<BEGIN \[(P\d+)\] (\S+) [^\n]*>>>\n(.*?)\n<<<END", re.S)


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # a dict (sent as JSON) or a str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Action = Callable[[dict[str, Any]], Answer]


def pages_of(request: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, url, text) of the page blocks in a chat request."""
    text = "\n".join(m.get("content") or "" for m in request.get("messages", []))
    return _BLOCK.findall(text)


def completion(
    request: dict[str, Any], content: str, finish: str = "stop", model: str | None = None
) -> dict[str, Any]:
    prompt_chars = sum(len(m.get("content") or "") for m in request.get("messages", []))
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model or request.get("model"),
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(content) // 4,
            "total_tokens": prompt_chars // 4 + len(content) // 4,
        },
    }


def first_words(text: str, count: int = 8) -> str:
    return " ".join(text.split()[:count])


class reply:
    """Actions: what the server answers to one request."""

    @staticmethod
    def good(outcome: str = "match", model: str | None = None) -> Action:
        """A grounded answer: an 'industry' criterion quoting the first page's first words,
        and a 'company size' the pages do not tell."""

        def act(request: dict[str, Any]) -> Answer:
            pages = pages_of(request)
            page_id, _, text = pages[0] if pages else ("P1", "", "")
            answer = {
                "summary": "judged from the site",
                "reasons": [
                    {
                        "criterion": "industry",
                        "outcome": outcome,
                        "claim": "what it does",
                        "page": page_id,
                        "quote": first_words(text),
                    },
                    {
                        "criterion": "company size",
                        "outcome": "unknown",
                        "claim": "not stated",
                        "page": None,
                        "quote": None,
                    },
                ],
            }
            return Answer(body=completion(request, json.dumps(answer), model=model))

        return act

    @staticmethod
    def answer(answer: dict[str, Any] | str, finish: str = "stop") -> Action:
        def act(request: dict[str, Any]) -> Answer:
            content = answer if isinstance(answer, str) else json.dumps(answer)
            return Answer(body=completion(request, content, finish))

        return act

    @staticmethod
    def hallucinated() -> Action:
        return reply.answer(
            {
                "summary": "s",
                "reasons": [
                    {
                        "criterion": "industry",
                        "outcome": "match",
                        "claim": "logistics software",
                        "page": "P1",
                        "quote": "the leading logistics platform for DACH enterprises",
                    }
                ],
            }
        )

    @staticmethod
    def dot_quote() -> Action:
        return reply.answer(
            {
                "summary": "s",
                "reasons": [
                    {
                        "criterion": "industry",
                        "outcome": "match",
                        "claim": "c",
                        "page": "P1",
                        "quote": ".",
                    }
                ],
            }
        )

    @staticmethod
    def malformed() -> Action:
        return reply.answer('{"summary": "s", "reasons": [{"criterion": "industry", ')

    @staticmethod
    def length() -> Action:
        return reply.answer('{"summary": "s", "reasons": [', finish="length")

    @staticmethod
    def no_choices() -> Action:
        return lambda request: Answer(body={"id": "x", "choices": [], "usage": None})

    @staticmethod
    def status(code: int, headers: dict[str, str] | None = None, body: Any = None) -> Action:
        return lambda request: Answer(
            code, body or {"error": {"message": f"status {code}"}}, headers or {}
        )

    @staticmethod
    def rate_limited(**headers: str) -> Action:
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        return reply.status(429, named)

    @staticmethod
    def slow(seconds: float, then: Action | None = None) -> Action:
        inner = then or reply.good()

        def act(request: dict[str, Any]) -> Answer:
            found = inner(request)
            found.delay = seconds
            return found

        return act


class LlmServer:
    def __init__(
        self,
        *,
        models: list[str] | None = None,
        api_key: str | None = None,
        refuse_json_schema: bool = False,
        latency: float = 0.0,
        port: int = 0,
    ) -> None:
        self.models = models if models is not None else ["test-model"]
        self.api_key = api_key
        self.refuse_json_schema = refuse_json_schema
        self.latency = latency
        self.default: Action = reply.good()
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Action] = deque()
        self._lock = threading.Lock()
        self.started = threading.Event()  # set when a chat request arrives (kill tests)
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    data = {
                        "object": "list",
                        "data": [{"id": m, "object": "model"} for m in server.models],
                    }
                    self._send(Answer(body=data))
                else:
                    self._send(Answer(404, {"error": "not found"}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self._authorised():
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(Answer(404, {"error": "not found"}))
                    return
                request = json.loads(raw)
                with server._lock:
                    server.requests.append(request)
                    action = server._script.popleft() if server._script else server.default
                server.started.set()
                if request.get("model") not in server.models:
                    message = f"model '{request.get('model')}' not found"
                    self._send(Answer(404, {"error": {"message": message}}))
                    return
                fmt = (request.get("response_format") or {}).get("type")
                if server.refuse_json_schema and fmt == "json_schema":
                    self._send(Answer(500, {"error": "response_format json_schema unsupported"}))
                    return
                answer = action(request)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.latency + answer.delay)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                self._send(answer)

            def _authorised(self) -> bool:
                if server.api_key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._send(Answer(401, {"error": {"message": "invalid api key"}}))
                return False

            def _send(self, answer: Answer) -> None:
                body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                data = body.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        # A short poll: stop() returns at once (each test starts and stops a server).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *actions: Action) -> None:
        with self._lock:
            self._script.extend(actions)

    @property
    def chat_requests(self) -> int:
        with self._lock:
            return len(self.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8199)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--model", default="test-model")
    args = parser.parse_args()
    server = LlmServer(models=[args.model], latency=args.latency, port=args.port).start()
    print(f"serving {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
