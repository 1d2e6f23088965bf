"""What every route shares: the library, the configuration, the caches, the secrets, and
rendering a page (always with the CSRF token of this browser's session)."""

from __future__ import annotations

from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from qualify import __version__
from qualify.api import Qualify
from qualify.ui.config import UiConfig
from qualify.ui.facts import Facts
from qualify.ui.security import Flashes, Secrets
from qualify.ui.views import FILTERS


def environment() -> jinja2.Environment:
    """Templates from the package, every one autoescaped: text from crawled sites is data,
    never markup. StrictUndefined: a misspelt name is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qualify.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["static"] = lambda name: f"/static/{name}?v={__version__}"
    return env


class Ui:
    def __init__(self, app: Qualify, config: UiConfig) -> None:
        self.app = app
        self.config = config
        self.facts = Facts(app, stuck_after=config.stuck_after)
        self.secrets = Secrets()
        self.flashes = Flashes()
        self.templates = Jinja2Templates(env=environment())

    def session(self, request: Request) -> str:
        session: str = request.state.session
        return session

    def flash(self, request: Request, level: str, text: str) -> None:
        self.flashes.add(self.session(request), level, text)

    def render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        session = self.session(request)
        full = {
            "csrf": self.secrets.csrf_token(session),
            "flashes": self.flashes.take(session) if not name.startswith("_") else [],
            "poll_seconds": self.config.poll_seconds,
            "store": self.app.database.display_url,
            "version": __version__,
            **context,
        }
        response: HTMLResponse = self.templates.TemplateResponse(
            request, name, full, status_code=status
        )
        response.headers["cache-control"] = "no-store"
        return response


def ui_of(request: Request) -> Ui:
    ui: Ui = request.app.state.ui
    return ui
