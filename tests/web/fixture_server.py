"""A real HTTP server on 127.0.0.1 that serves fixture sites, directly or as a gateway.

Direct requests are routed by their Host header; ``GET /fetch?url=<encoded target>``
acts as the fetch gateway of the web qualifier (see its module docstring): it serves the
target's response as is, or reports a network failure with ``X-Qualify-Error``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Resp:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    # Writes the body itself (slow drip, endless streams); headers are sent before it.
    stream: Callable[[BaseHTTPRequestHandler], None] | None = None


@dataclass(frozen=True)
class Request:
    scheme: str
    host: str
    path: str  # with query
    port: int = 0  # the fixture server's own port


Handler = Resp | Callable[[Request], Resp]
Site = dict[str, Handler]  # path -> response; "*" matches any path


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up (a fetcher aborting an oversized body) are expected here.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FixtureServer:
    def __init__(self, sites: dict[str, Site]) -> None:
        self.sites = sites
        self.log: list[tuple[str, str, str]] = []  # (scheme, host, path) of every request
        self.user_agents: set[str] = set()
        self._log_lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.port}/fetch?url={{url}}"

    def start(self) -> FixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requested(self, host: str, path: str | None = None) -> bool:
        with self._log_lock:
            return any(h == host and (path is None or p == path) for _, h, p in self.log)

    def clear_log(self) -> None:
        with self._log_lock:
            self.log.clear()

    def resolve(self, request: Request) -> Resp:
        with self._log_lock:
            self.log.append((request.scheme, request.host, request.path))
        site = self.sites.get(request.host)
        if site is None:
            # The gateway "could not resolve" a host it has no fixture for.
            return Resp(502, "no such host", {"X-Qualify-Error": "dns_nxdomain"}, "text/plain")
        bare = request.path.split("?", 1)[0]
        handler = (
            site.get(f"{request.scheme}:{request.path}")
            or site.get(f"{request.scheme}:*")
            or site.get(request.path)
            or site.get(bare)
            or site.get("*")
        )
        if handler is None:
            return Resp(404, "<html><body>Not found</body></html>")
        return handler(request) if callable(handler) else handler

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without this, Nagle and delayed
            # ACKs hold every response back 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest output clean

            def do_GET(self) -> None:
                server.user_agents.add(self.headers.get("User-Agent") or "")
                if self.path.startswith("/fetch?"):
                    targets = parse_qs(urlsplit(self.path).query).get("url", [""])
                    parts = urlsplit(targets[0])
                    path = parts.path or "/"
                    if parts.query:
                        path += "?" + parts.query
                    host = (parts.hostname or "").lower()
                    request = Request(parts.scheme, host, path, server.port)
                else:
                    host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
                    request = Request("http", host, self.path, server.port)
                self._send(server.resolve(request))

            def _send(self, resp: Resp) -> None:
                body = resp.body.encode() if isinstance(resp.body, str) else resp.body
                self.send_response(resp.status)
                if resp.content_type:
                    self.send_header("Content-Type", resp.content_type)
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                if resp.stream is not None:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    # The client hanging up early is what these streams test for.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        resp.stream(self)
                    return
                if "Content-Length" not in resp.headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return _Handler


def drip(chunk: bytes, interval: float, limit: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """Send ``chunk`` every ``interval`` seconds for at most ``limit`` seconds."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        stop = time.monotonic() + limit
        handler.wfile.write(b"<html><body>")
        while time.monotonic() < stop:
            handler.wfile.write(chunk)
            handler.wfile.flush()
            time.sleep(interval)

    return write


def endless(total: int, chunk: int = 64 * 1024) -> Callable[[BaseHTTPRequestHandler], None]:
    """Stream ``total`` bytes of HTML without a Content-Length."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"<html><body>")
        block = b"<p>" + b"x" * (chunk - 7) + b"</p>"
        sent = 0
        while sent < total:
            handler.wfile.write(block)
            sent += len(block)

    return write
