"""What stands between the web and the store: the token, the Host check, CSRF, and the
headers that keep anything a crawled site wrote from running in the user's browser.

Every request passes :class:`Guard`, an ASGI middleware:

- **Token.** With a token configured, every request must carry it: the ``qualify_token``
  cookie, an ``Authorization: Bearer`` header, or once ``?token=`` in a link (which sets the
  cookie and redirects to the same address without it, so it stays out of history and
  logs). Compared in constant time. Without it: 401 and nothing else.
- **Host.** Without a token only loopback names are accepted in the Host header, so a page
  on another site cannot read this one through DNS rebinding (its Host is its own name).
- **Session and CSRF.** Each browser gets a random session cookie; every form carries
  ``HMAC(server secret, session)`` and every POST must return it (and must not come from
  another site, by ``Origin`` and ``Sec-Fetch-Site``). Secrets are made at start-up.
- **Headers.** A Content-Security-Policy that allows scripts, styles and connections from
  this server alone and no inline script at all, ``nosniff``, no framing, no referrer sent
  to other sites.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from qualify.ui.config import is_loopback

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "qualify_token"
SESSION_COOKIE = "qualify_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on its
    # own forms, and the Origin check could not tell them from a sandboxed foreign page.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class Secrets:
    """The server's own secret, made at start-up: sessions die with the server."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def csrf_token(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, supplied: str | None) -> bool:
        if not session or not supplied:
            return False
        return hmac.compare_digest(self.csrf_token(session), supplied)


def same_site(headers: dict[str, str]) -> bool:
    """A POST that a browser says came from another site (or another origin) is refused,
    whatever it carries."""
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin and origin != "null":
        host = headers.get("host", "")
        return urlsplit(origin).netloc.lower() == host.lower()
    return origin != "null"


@dataclass(frozen=True)
class Flash:
    level: str  # "ok" or "error"
    text: str


class Flashes:
    """One-time messages for the page after a POST (post/redirect/get), kept in memory by
    session: nothing a link could forge. Bounded: the oldest sessions' messages go first."""

    def __init__(self, limit: int = 1000) -> None:
        self._messages: OrderedDict[str, list[Flash]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, session: str, level: str, text: str) -> None:
        with self._lock:
            self._messages.setdefault(session, []).append(Flash(level, text))
            self._messages.move_to_end(session)
            while len(self._messages) > self._limit:
                self._messages.popitem(last=False)

    def take(self, session: str) -> list[Flash]:
        with self._lock:
            return self._messages.pop(session, [])


class Guard:
    def __init__(self, app: ASGIApp, *, token: str | None, bound_host: str) -> None:
        self.app = app
        self.token = token
        self.bound_host = bound_host.strip("[]").lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cookies = _cookies(headers.get("cookie", ""))
        if self.token is None and not self._host_allowed(headers.get("host", "")):
            await _plain(send, 421, "This server answers to loopback names only.")
            return
        extra: list[tuple[bytes, bytes]] = []
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if "token" in query and self._token_ok(query["token"]):
                await _redirect_without_token(send, scope, query, self._token_cookie())
                return
            bearer = headers.get("authorization", "")
            supplied = bearer[7:] if bearer.lower().startswith("bearer ") else None
            if not (self._token_ok(cookies.get(TOKEN_COOKIE)) or self._token_ok(supplied)):
                await _plain(
                    send,
                    401,
                    "This qualify ui needs its token: open the link it printed"
                    " (…/?token=…), or send Authorization: Bearer <token>.",
                )
                return
        session = cookies.get(SESSION_COOKIE)
        if not session or len(session) != 43:
            session = secrets.token_urlsafe(32)
            extra.append((b"set-cookie", _cookie(SESSION_COOKIE, session)))
        scope.setdefault("state", {})["session"] = session

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _host_allowed(self, host_header: str) -> bool:
        host = urlsplit(f"//{host_header}").hostname or ""
        return is_loopback(host) or host == self.bound_host

    def _token_ok(self, supplied: str | None) -> bool:
        assert self.token is not None
        return bool(supplied) and hmac.compare_digest(
            (supplied or "").encode(), self.token.encode()
        )

    def _token_cookie(self) -> bytes:
        assert self.token is not None
        return _cookie(TOKEN_COOKIE, self.token)


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is treated as no cookies
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _cookie(name: str, value: str) -> bytes:
    # Lax: sent when the user follows a link here, never with another site's POST.
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Lax".encode()


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect_without_token(
    send: Send, scope: Scope, query: dict[str, str], cookie: bytes
) -> None:
    rest = urlencode({k: v for k, v in query.items() if k != "token"})
    raw = scope.get("raw_path") or scope.get("path", "/").encode()
    # "//host/x" would send the browser to another host: keep it on this one.
    path = "/" + raw.decode("latin-1").lstrip("/")
    location = path + (f"?{rest}" if rest else "")
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode()),
                (b"set-cookie", cookie),
                (b"content-length", b"0"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
