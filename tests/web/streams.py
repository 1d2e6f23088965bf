"""Streaming bodies for fixture responses (``Resp(stream=...)``): a slow drip, an endless page."""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler


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
