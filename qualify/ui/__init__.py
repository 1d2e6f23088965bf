"""``qualify ui``: a local web app over the store, for the people who use the results.

    from qualify.api import Qualify
    from qualify.ui import UiConfig, create_app

    app = create_app(Qualify.open("qualify.db"), UiConfig(port=8765))
    # uvicorn.run(app, host="127.0.0.1", port=8765)

Pages: the runs (live), a run (counts, actions, its results a page at a time, downloads),
a domain (its verdict, reasons, quotes and links). Everything comes from the library
(:class:`qualify.api.Qualify`, :class:`qualify.dashboard.Dashboard`, :mod:`qualify.export`),
so the terminal tools and the page always agree. See :mod:`qualify.ui.security` for what
keeps it safe to open on a laptop that reads results from hostile websites.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio.to_thread
import peewee
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qualify.api import Qualify
from qualify.errors import InputError, InvalidStateError, NotFoundError, QualifyError
from qualify.ui import actions, downloads, jsonapi, pages, uploads
from qualify.ui.config import DEFAULT_HOST, DEFAULT_PORT, UiConfig, is_loopback
from qualify.ui.context import Ui, ui_of
from qualify.ui.forms import FormRefused
from qualify.ui.security import Guard

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "UiConfig", "create_app", "is_loopback"]

# Threads that read the store for requests (each holds one database connection).
THREADS = 16


def create_app(app: Qualify, config: UiConfig | None = None) -> Guard:
    """The ASGI app serving ``app``'s store, behind its guard (token, Host, headers)."""
    config = config or UiConfig()
    static = resources.files("qualify.ui") / "static"
    routes = [
        Route("/", pages.runs_page, name="runs"),
        Route("/live/runs", pages.runs_live),
        Route("/runs/new", uploads.new_run_page, name="new_run"),
        Route("/runs", uploads.create_run, methods=["POST"]),
        Route("/runs/{run_id:int}", pages.run_page, name="run"),
        Route("/runs/{run_id:int}/live", pages.run_live),
        Route("/runs/{run_id:int}/find", pages.find_domain),
        Route("/runs/{run_id:int}/domains/{domain}", pages.domain_page, name="domain"),
        Route("/runs/{run_id:int}/export", downloads.export_run),
        *(
            Route(f"/runs/{{run_id:int}}/{name}", actions.action(name), methods=["POST"])
            for name in actions.ACTIONS
        ),
        Route("/api/status", jsonapi.status),
        Route("/api/runs/{run_id:int}", jsonapi.run),
        Route("/api/runs/{run_id:int}/results", jsonapi.results),
        Route("/api/runs/{run_id:int}/domains/{domain}", jsonapi.domain),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield

    web = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            QualifyError: _library_error,
            FormRefused: _refused,
            peewee.DatabaseError: _database_error,
            HTTPException: _http_error,
        },
    )
    web.state.ui = Ui(app, config)
    return Guard(web, token=config.token, bound_host=config.host)


def _status_of(exc: QualifyError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, InvalidStateError):
        return 409
    return 500


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return jsonapi.respond({"error": message}, status)
    return ui_of(request).render(request, "error.html", {"message": message}, status)


async def _library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QualifyError)
    return _error(request, _status_of(exc), str(exc))


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormRefused)
    return _error(request, exc.status, exc.message)


async def _database_error(request: Request, exc: Exception) -> Response:
    return _error(request, 503, f"database error: {' '.join(str(exc).split())}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages: dict[int, Any] = {404: "no such page", 405: "this address does not take that method"}
    return _error(request, exc.status_code, messages.get(exc.status_code, exc.detail))
