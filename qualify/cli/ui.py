"""`qualify ui`: serve the web page over the store (the app itself is ``qualify.ui``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import webbrowser

import click

from qualify.cli.base import cli, open_app, stuck_after_option
from qualify.errors import QualifyError

TOKEN_ENV = "QUALIFY_UI_TOKEN"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free one).")  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    metavar="TEXT",
    help=f"Required on every request (>= 16 characters); needed to listen beyond loopback "
    f"[env {TOKEN_ENV}].",
)
@click.option(
    "--qualifier",
    "qualifiers",
    multiple=True,
    metavar="MODULE:CALLABLE",
    help="Offer this qualifier on the New run form too (repeatable).",
)
@click.option(
    "--max-upload",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    metavar="MB",
    help="Largest New run upload (both files together).",
)
@stuck_after_option
def ui(
    host: str,
    port: int,
    open_browser: bool,
    token: str | None,
    qualifiers: tuple[str, ...],
    max_upload: int,
    stuck_after: float,
) -> None:
    """Serve a web page over the store: runs live, results with their evidence, actions.

    Listens on 127.0.0.1 only, unless --host says otherwise, which needs --token:
    then every request must carry it (open the printed link once; it sets a cookie).

    \b
    Example:
      qualify ui --open
      qualify ui --host 0.0.0.0 --token "$(openssl rand -hex 16)"
    """
    try:
        from qualify.ui import UiConfig, create_app, is_loopback
    except ImportError as exc:
        raise click.ClickException(
            f"qualify ui needs its web dependencies ({exc.name}): pip install 'qualify[ui]'"
        ) from None
    import uvicorn

    if not is_loopback(host) and not token:
        raise click.UsageError(
            f"--host {host} is not a loopback address: also give --token (or {TOKEN_ENV}),"
            " which every request must then carry"
        )
    if token is not None and len(token) < 16:
        raise click.UsageError("--token: at least 16 characters")
    try:
        config = UiConfig(
            host=host,
            port=port,
            token=token,
            stuck_after=stuck_after,
            max_upload_bytes=max_upload * 1024 * 1024,
            qualifiers=qualifiers,
        )
    except QualifyError as exc:
        raise click.UsageError(str(exc)) from None
    listener = _listen(host, port)
    with open_app() as app:
        bound = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
        click.echo(f"qualify ui: {app.database.display_url} at {url}  (Ctrl-C to stop)")
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(app, config),
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=3,
            )
        )
        if open_browser:
            threading.Timer(0.5, webbrowser.open, (url,)).start()
        # uvicorn stops cleanly on Ctrl-C, then raises it again: stopping is the way out.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])
    click.echo("qualify ui: stopped")


def _listen(host: str, port: int) -> socket.socket:
    """Bind now, so a port in use is one line and exit 1, not a server's traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every keep-alive response waits 40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host.strip("[]"), port))
    except OSError as exc:
        listener.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    listener.listen(128)
    return listener
