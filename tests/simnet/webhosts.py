"""HTTP and HTTPS servers on many loopback addresses at once, for the simulated internet: one
thread accepts on port 80 and 443 of every address (127.R.x.y), each connection gets a thread
of its own (TLS by the ssl module on the socket itself, which costs a third of asyncio's
Python-level TLS), and each request is answered by its Host header through
:func:`qualify.siteserver.route`, after an optional latency. Every address counts what it
sees: open connections and requests in flight, now and at most.

``down()`` stops listening and drops open connections (every connect is refused, as on a
machine whose network is gone); ``up()`` listens again. TLS certificates come from a test CA
(trustme), one per host name, chosen by SNI.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from qualify.siteserver import Request, Resp, Site, route


@dataclass
class AddressStats:
    open: int = 0
    max_open: int = 0
    active: int = 0
    max_active: int = 0
    connections: int = 0
    requests: int = 0


@dataclass
class TestCA:
    """A certificate authority for the tests (trustme), issuing one certificate per host."""

    ca: Any = field(default=None)
    _contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        import trustme

        self.ca = self.ca or trustme.CA()

    def write_bundle(self, path: str) -> str:
        self.ca.cert_pem.write_to_path(path)
        return path

    def context_for(self, host: str) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.num_tickets = 0  # no client here resumes a session: spare the work
                self.ca.issue_cert(host).configure_cert(context)
                self._contexts[host] = context
            return context

    def server_context(self) -> ssl.SSLContext:
        """The listening context (a certificate for ``localhost``, for a client that sends no
        SNI); it switches to each host's own by SNI."""
        default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        default.num_tickets = 0
        self.ca.issue_cert("localhost").configure_cert(default)

        def choose(sslobj: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            if name:
                sslobj.context = self.context_for(name)

        default.sni_callback = choose  # type: ignore[assignment]
        return default


class _Connection:
    """One accepted connection, as the address's count sees it. A duplicate of its socket
    lets the count peek whether the client has closed it, before the connection's own
    thread gets to notice: a client that closes one connection and opens the next had
    closed the first, whatever order this process's threads run in."""

    def __init__(self, sock: socket.socket) -> None:
        self.peek = sock.dup()
        self.counted = True

    def closed_by_client(self) -> bool:
        try:
            return self.peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


class WebHosts:
    def __init__(
        self,
        addresses: list[str],
        sites: Mapping[str, Site],
        *,
        latency: float = 0.0,
        ca: TestCA | None = None,
        http_port: int = 80,
        https_port: int = 443,
    ) -> None:
        self.addresses = addresses
        self.sites = sites
        self.latency = latency
        self.ca = ca
        self.ports = {"http": http_port, "https": https_port}
        self.stats: dict[str, AddressStats] = {a: AddressStats() for a in addresses}
        #: (monotonic time, address, scheme, host, path) of every request.
        self.log: list[tuple[float, str, str, str, str]] = []
        self._lock = threading.Lock()
        self._listening: list[socket.socket] = []
        self._open: set[socket.socket] = set()
        self._connections: dict[str, list[_Connection]] = {a: [] for a in addresses}
        self._tls = ca.server_context() if ca is not None else None
        self._selector: selectors.DefaultSelector | None = None
        self._acceptor: threading.Thread | None = None
        self._stop_accepting = threading.Event()

    # -- control ------------------------------------------------------------------------------

    def start(self) -> WebHosts:
        self.up()
        return self

    def stop(self) -> None:
        self.down()

    def up(self) -> None:
        """Listen on every address (raises OSError when one is taken, PermissionError when
        ports below 1024 are not ours)."""
        listening = []
        try:
            for address in self.addresses:
                for scheme in ("http", "https") if self._tls else ("http",):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((address, self.ports[scheme]))
                    sock.listen(1024)
                    sock.setblocking(False)
                    listening.append((sock, address, scheme))
        except BaseException:
            for sock, _, _ in listening:
                sock.close()
            raise
        selector = selectors.DefaultSelector()
        for sock, address, scheme in listening:
            selector.register(sock, selectors.EVENT_READ, (address, scheme))
        self._listening = [sock for sock, _, _ in listening]
        self._selector = selector
        self._stop_accepting.clear()
        self._acceptor = threading.Thread(target=self._accept, name="webhosts", daemon=True)
        self._acceptor.start()

    def down(self) -> None:
        """Refuse every connection from now on, and drop the open ones."""
        self._stop_accepting.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        for sock in self._listening:
            sock.close()
        self._listening = []
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        with self._lock:
            dropping = list(self._open)
        for conn in dropping:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    @property
    def listening(self) -> bool:
        return bool(self._listening)

    def requests_to(self, host: str) -> list[tuple[float, str, str, str, str]]:
        with self._lock:
            return [entry for entry in self.log if entry[3] == host]

    # -- serving ------------------------------------------------------------------------------

    def _accept(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._stop_accepting.is_set():
            for key, _ in selector.select(timeout=0.1):
                address, scheme = key.data
                try:
                    conn, _peer = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                threading.Thread(
                    target=self._serve, args=(conn, address, scheme), daemon=True
                ).start()

    def _serve(self, conn: socket.socket, address: str, scheme: str) -> None:
        stats = self.stats[address]
        record = _Connection(conn)
        with self._lock:
            for other in self._connections[address]:
                if other.counted and other.closed_by_client():
                    other.counted = False
                    stats.open -= 1
            self._connections[address].append(record)
            stats.open += 1
            stats.connections += 1
            stats.max_open = max(stats.max_open, stats.open)
            self._open.add(conn)
        try:
            if scheme == "https":
                assert self._tls is not None
                conn.settimeout(30)
                conn = self._tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._open.add(conn)
            _Handler(conn, ("", 0), self, address, scheme, stats)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                if record.counted:
                    record.counted = False
                    stats.open -= 1
                self._connections[address].remove(record)
                self._open.discard(conn)
            record.peek.close()
            with contextlib.suppress(OSError):
                conn.close()

    def _respond(self, handler: _Handler) -> Resp:
        host = (handler.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        stats = handler.stats
        with self._lock:
            stats.active += 1
            stats.requests += 1
            stats.max_active = max(stats.max_active, stats.active)
            self.log.append((time.monotonic(), handler.address, handler.scheme, host, handler.path))
        try:
            if self.latency:
                time.sleep(self.latency)
            resp = route(self.sites, Request(handler.scheme, host, handler.path, 0))
            if resp.stream is not None:
                resp = Resp(500, "streamed responses are served by SiteServer only")
            return resp
        finally:
            with self._lock:
                stats.active -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30

    def __init__(
        self,
        conn: socket.socket,
        peer: tuple[str, int],
        hosts: WebHosts,
        address: str,
        scheme: str,
        stats: AddressStats,
    ) -> None:
        self.hosts, self.address, self.scheme, self.stats = hosts, address, scheme, stats
        super().__init__(conn, peer, None)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        resp = self.hosts._respond(self)
        body = resp.body_bytes()
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in resp.headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
