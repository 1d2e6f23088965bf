"""A fetch gateway on 127.0.0.1 that serves the demo's bundled sites.

It speaks the web qualifier's gateway protocol (see ``qualify.qualifiers.web``):
``GET /fetch?url=<encoded target>`` answers with the target's own status, headers and body;
a host it does not serve is reported as ``X-Qualify-Error: dns_nxdomain``, as a real gateway
reports a name that does not resolve. Nothing here ever touches the network beyond loopback.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from qualify.demo.sites import SITES, DemoSite


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up early is not the demo's concern


class DemoGateway:
    """Serve ``sites`` until ``stop`` (or the end of a ``with`` block)."""

    def __init__(self, sites: Iterable[DemoSite] = SITES) -> None:
        self.sites = {site.host: site for site in sites}
        self._visits: dict[str, int] = {}  # homepage visits per host
        #: Every target URL asked for, in order (what the demo's run fetched).
        self.requested: list[str] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="demo-gateway", daemon=True
        )

    @property
    def fetch_via(self) -> str:
        """The URL template for ``--fetch-via`` / ``web.configure(fetch_via=...)``."""
        return f"http://127.0.0.1:{self.port}/fetch?url={{url}}"

    def start(self) -> DemoGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> DemoGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def respond(self, target: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one target URL."""
        with self._lock:
            self.requested.append(target)
        parts = urlsplit(target)
        host = (parts.hostname or "").lower()
        site = self.sites.get(host)
        if site is None or parts.scheme not in ("http", "https"):
            return 502, {"X-Qualify-Error": "dns_nxdomain"}, b"no such host"
        path = parts.path or "/"
        if path == "/" and self._count_visit(host) <= site.unavailable_first:
            body = b"<html><body><h1>Down for maintenance</h1></body></html>"
            return 503, {"Content-Type": "text/html; charset=utf-8"}, body
        page = site.page(path)
        if page is None:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>Not found</h1>"
        kind = "text/plain" if page.name.endswith(".txt") else "text/html"
        return 200, {"Content-Type": f"{kind}; charset=utf-8"}, page.read_bytes()

    def _count_visit(self, host: str) -> int:
        with self._lock:
            self._visits[host] = self._visits.get(host, 0) + 1
            return self._visits[host]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without this, Nagle and delayed
            # ACKs hold every response back 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # the demo's output is the progress bar, not an access log

            def do_GET(self) -> None:
                if not self.path.startswith("/fetch?"):
                    status, headers, body = 400, {}, b"use /fetch?url=<encoded URL>"
                else:
                    target = parse_qs(urlsplit(self.path).query).get("url", [""])[0]
                    status, headers, body = gateway.respond(target)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return Handler
