"""A real HTTP server on 127.0.0.1 that serves sites, directly or as a fetch gateway.

It speaks the web qualifier's gateway protocol (see :mod:`qualify.qualifiers.web`):
``GET /fetch?url=<encoded target>`` answers with the target's own status, headers and body;
a host it does not serve is reported as ``X-Qualify-Error: dns_nxdomain``, as a real
gateway reports a name that does not resolve. A request for any other path is a direct one,
routed by its Host header. Nothing here touches the network beyond loopback.

What it serves is pluggable: ``sites`` maps a host to a :data:`Site`, which maps a path to a
:class:`Resp` or to a callable building one from the :class:`Request`. The demo serves its
bundled fictional companies this way (:mod:`qualify.demo.sites`), the tests their fixtures.

    with SiteServer({"acme.example": {"/": Resp(body="<h1>Acme</h1>")}}) as server:
        settings = FetchSettings(fetch_via=server.fetch_via)
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Mapping
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

    def body_bytes(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Request:
    scheme: str
    host: str
    path: str  # with query
    port: int = 0  # the server's own port (for redirects back to it)


Handler = Resp | Callable[[Request], Resp]
Site = Mapping[str, Handler]  # path -> response; "*" matches any path, "https:/x" one scheme

# The gateway "could not resolve" a host it has no site for.
NO_SUCH_HOST = Resp(502, b"no such host", {"X-Qualify-Error": "dns_nxdomain"}, None)
NOT_FOUND = Resp(404, "<html><body>Not found</body></html>")


def route(sites: Mapping[str, Site], request: Request) -> Resp:
    """The response ``sites`` give ``request``: its host's site, then the most specific of
    the site's paths (``https:/x``, ``https:*``, ``/x?q``, ``/x``, ``*``). A host without a
    site gets :data:`NO_SUCH_HOST` (the gateway's "could not resolve")."""
    site = sites.get(request.host)
    if site is None or request.scheme not in ("http", "https"):
        return NO_SUCH_HOST
    bare = request.path.split("?", 1)[0]
    handler = (
        site.get(f"{request.scheme}:{request.path}")
        or site.get(f"{request.scheme}:*")
        or site.get(request.path)
        or site.get(bare)
        or site.get("*")
    )
    if handler is None:
        return NOT_FOUND
    return handler(request) if callable(handler) else handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up (a fetcher aborting an oversized body) are expected here;
        # anything else is a bug in a handler and is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class SiteServer:
    """Serve ``sites`` on 127.0.0.1 from ``start`` (or a ``with`` block) until ``stop``.

    Every request is logged as ``(scheme, host, path)`` in :attr:`log`, and every
    User-Agent seen in :attr:`user_agents`.
    """

    def __init__(self, sites: Mapping[str, Site]) -> None:
        self.sites = sites
        self.log: list[tuple[str, str, str]] = []  # (scheme, host, path) of every request
        self.user_agents: set[str] = set()
        self._log_lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="site-server", daemon=True
        )

    @property
    def fetch_via(self) -> str:
        """The gateway URL template for ``--fetch-via`` / ``FetchSettings(fetch_via=...)``."""
        return f"http://127.0.0.1:{self.port}/fetch?url={{url}}"

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requested(self, host: str, path: str | None = None) -> bool:
        """Whether ``host`` (and ``path``, with its query) was asked for since the last
        :meth:`clear_log`."""
        with self._log_lock:
            return any(h == host and (path is None or p == path) for _, h, p in self.log)

    def clear_log(self) -> None:
        with self._log_lock:
            self.log.clear()

    def respond(self, target: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body the gateway answers for one target URL (streams aside)."""
        resp = self.resolve(self._target_request(target))
        headers = dict(resp.headers)
        if resp.content_type:
            headers = {"Content-Type": resp.content_type, **headers}
        return resp.status, headers, resp.body_bytes()

    def resolve(self, request: Request) -> Resp:
        """The response to one request, logged."""
        with self._log_lock:
            self.log.append((request.scheme, request.host, request.path))
        return route(self.sites, request)

    def _target_request(self, target: str) -> Request:
        parts = urlsplit(target)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Request(parts.scheme, (parts.hostname or "").lower(), path, self.port)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without this, Nagle and delayed
            # ACKs hold every response back 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # the log is :attr:`SiteServer.log`; stderr stays clean

            def do_GET(self) -> None:
                server.user_agents.add(self.headers.get("User-Agent") or "")
                if self.path.startswith("/fetch?"):
                    target = parse_qs(urlsplit(self.path).query).get("url", [""])[0]
                    request = server._target_request(target)
                else:
                    host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
                    request = Request("http", host, self.path, server.port)
                self._send(server.resolve(request))

            def _send(self, resp: Resp) -> None:
                self.send_response(resp.status)
                if resp.content_type:
                    self.send_header("Content-Type", resp.content_type)
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                if resp.stream is not None:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    # A client hanging up early is what such streams are there to test.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        resp.stream(self)
                    return
                body = resp.body_bytes()
                if "Content-Length" not in resp.headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return _Handler
