"""Reading what a browser POSTs, within limits, and refusing any POST that is not this
server's own form (CSRF)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartParser
from starlette.requests import Request

from qualify.ui.context import ui_of
from qualify.ui.security import CSRF_FIELD, CSRF_HEADER, same_site

SMALL_FORM_BYTES = 64 * 1024


class FormRefused(Exception):
    """A POST refused before anything was done: ``status`` and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request, limit: int = SMALL_FORM_BYTES) -> FormData:
    """The POSTed form, at most ``limit`` bytes in all (counted as it arrives, whatever the
    Content-Length says), and only with this session's CSRF token."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not same_site(headers):
        raise FormRefused(403, "refused: this form was sent from another site")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FormRefused(
            413, f"upload too large: {_size(int(declared))}; the limit is {_size(limit)}"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormRefused(413, f"upload too large: more than {_size(limit)}")
    form = await _parse(request, bytes(body))
    supplied = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    ui = ui_of(request)
    if not ui.secrets.csrf_ok(ui.session(request), supplied if isinstance(supplied, str) else None):
        raise FormRefused(
            403, "refused: the form's security token is missing or stale; reload the page"
        )
    return form


async def _parse(request: Request, body: bytes) -> FormData:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not body:
        return FormData()  # nothing sent: refused below for its missing CSRF token
    if kind == "multipart/form-data":
        parser = MultiPartParser(
            request.headers, stream(), max_files=4, max_fields=50, max_part_size=SMALL_FORM_BYTES
        )
        try:
            return await parser.parse()
        except Exception as exc:  # malformed multipart bodies fail in many ways
            raise FormRefused(400, f"refused: not a readable form upload ({exc})") from None
    if kind == "application/x-www-form-urlencoded":
        return await FormParser(request.headers, stream()).parse()
    raise FormRefused(415, f"refused: expected a form, got {kind or 'no content type'}")


def _size(count: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"
