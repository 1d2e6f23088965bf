"""The command group, its global options, and what every command shares: opening the store,
turning errors into one line and an exit code, common options."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.core import ParameterSource

from qualify import __version__
from qualify.durations import parse_duration
from qualify.errors import QualifyError
from qualify.settings import Settings
from qualify.urls import redact

if TYPE_CHECKING:
    from qualify.api import Qualify

EXIT_STUCK = 3
# A run worked here finished, but not every job of it ended with a result.
EXIT_FAILED_JOBS = 4
# What an option decorator takes and gives back: a command function.
Command = Callable[..., Any]
EXIT_INTERRUPTED = 130


# Generic in newer click, but not subscriptable in 8.1, which we also support.
class Duration(click.ParamType):  # type: ignore[type-arg]
    """``30s``, ``5m``, ``2h``, ``1d`` (or seconds as a number), at least ``minimum``."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            try:
                seconds = parse_duration(str(value))
            except QualifyError as exc:
                self.fail(str(exc), param, ctx)
        if seconds < self.minimum:
            self.fail(f"must be at least {self.minimum:g}s", param, ctx)
        return seconds


DURATION = Duration()


class QualifyGroup(click.Group):
    """Every error becomes one line on stderr and the right exit code: the library's typed
    errors, click's usage errors (2) and database failures (1). Never a traceback."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            _fail(exc.format_message() + hint, exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("interrupted", EXIT_INTERRUPTED)
        except QualifyError as exc:
            _fail(str(exc), exc.exit_code)
        except Exception as exc:
            # peewee is imported only by commands that open the store (start-up time).
            peewee = sys.modules.get("peewee")
            if peewee is None or not isinstance(exc, peewee.DatabaseError):
                raise
            _fail(f"database error: {' '.join(str(exc).split())}", 1)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.group(cls=QualifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="QUALIFY_DB",
    metavar="PATH|URL",
    help="Store: a SQLite path, sqlite:///path or postgresql://… [env QUALIFY_DB; ./qualify.db]",
)
@click.option(
    "--queue",
    envvar="QUALIFY_QUEUE",
    metavar="URL",
    help="Queue: redis://… [env QUALIFY_QUEUE; default: inside the store's database]",
)
@click.version_option(__version__, prog_name="qualify")
@click.pass_context
def cli(ctx: click.Context, db: str | None, queue: str | None) -> None:
    """Qualify company web domains against an Ideal Customer Profile, durably.

    \b
    Example:
      qualify run icp.json domains.txt && qualify worker --burst
    """
    ctx.obj = Settings.resolve(db, queue)


def settings() -> Settings:
    """The settings the group resolved for this invocation (once, from options and env)."""
    found: Settings = click.get_current_context().find_root().obj
    return found


@contextmanager
def open_app(
    *, create: bool = True, read_only: bool = False, with_settings: Settings | None = None
) -> Iterator[Qualify]:
    """The store for this command; ``read_only`` for commands that only read (they never
    create, migrate or change a database)."""
    from qualify.api import Qualify

    app = Qualify.open(settings=with_settings or settings(), create=create, read_only=read_only)
    try:
        yield app
        say_unpushed(app)
    finally:
        app.close()


def say_unpushed(app: Qualify) -> None:
    """The store committed but the queue refused the messages: the command did what it
    said (exit 0), and running it again would do it twice; say what workers will do."""
    refused = app.jobs.unpushed
    if not refused:
        return
    from qualify.plural import plural

    count = sum(u.jobs for u in refused)
    click.echo(
        f"Warning: committed; the queue refused {plural(count, 'message')} ({refused[-1].reason})."
        " Workers enqueue them again on their own (reconciler): do not run this again.",
        err=True,
    )


def command_line(*args: str) -> str:
    """A qualify command line for the store this invocation uses (``--db`` and ``--queue``
    only when given on the command line), for hints people can paste."""
    root = click.get_current_context().find_root()
    resolved: Settings = root.obj
    words = ["qualify"]
    # Settings from the environment stay there; a password is never printed.
    if root.get_parameter_source("db") == ParameterSource.COMMANDLINE:
        words += ["--db", redact(resolved.db)]
    if root.get_parameter_source("queue") == ParameterSource.COMMANDLINE and resolved.queue:
        words += ["--queue", redact(resolved.queue)]
    return shlex.join([*words, *args])


def json_option(func: Command) -> Command:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(func)


def lease_option(func: Command) -> Command:
    """`worker --lease` and `run --wait --lease`: one option, one meaning."""
    return click.option(
        "--lease",
        type=Duration(minimum=0.3),
        default="30s",
        show_default=True,
        help="How long a job stays ours without a heartbeat (renewed every lease/3).",
    )(func)


def concurrency_option(help_text: str) -> Callable[[Command], Command]:
    return click.option(
        "--concurrency",
        "-c",
        type=click.IntRange(1, 1024),
        default=4,
        show_default=True,
        help=help_text,
    )


#: When a run with no movement and no live lease counts as stuck, unless told otherwise:
#: `status --stuck-after` and `recover --older-than` share it.
STUCK_AFTER = "5m"


def stuck_after_option(func: Command) -> Command:
    return click.option(
        "--stuck-after",
        type=DURATION,
        default=STUCK_AFTER,
        show_default=True,
        help="A run with no movement and no live lease for this long is STUCK.",
    )(func)


def fetch_options(func: Command) -> Command:
    """Options of the web qualifier, for commands that qualify domains in this process."""
    func = click.option(
        "--canary",
        metavar="HOST[:PORT]",
        help="What the outage probe reaches to tell the network is back [env QUALIFY_CANARY].",
    )(func)
    func = click.option(
        "--per-ip-connections",
        type=click.IntRange(1, 256),
        help="Open connections to one IP address at most [env QUALIFY_PER_IP_CONNECTIONS; 4].",
    )(func)
    func = click.option(
        "--dns",
        metavar="HOST[:PORT],…",
        help="DNS servers to ask [env QUALIFY_DNS; default: the system's].",
    )(func)
    func = click.option(
        "--allow-private-networks",
        is_flag=True,
        default=None,
        help="Let the web qualifier fetch private, loopback and link-local addresses.",
    )(func)
    return click.option(
        "--fetch-via",
        metavar="URL",
        help="Fetch through this gateway; {url} is the encoded target [env QUALIFY_FETCH_VIA].",
    )(func)


def fetch_settings(**options: Any) -> Settings:
    """This command line's settings with its fetch options (``fetch_options``) applied,
    checked now, not at the first domain."""
    return settings().with_fetch(**options)


#: The names of the parameters ``fetch_options`` adds to a command.
FETCH_OPTIONS = ("fetch_via", "allow_private_networks", "dns", "per_ip_connections", "canary")


def outage_options(func: Command) -> Command:
    """Options of the worker's outage breaker (qualify/worker/outage.py)."""
    func = click.option(
        "--probe-every",
        type=Duration(minimum=0.1),
        default="1m",
        show_default=True,
        help="While paused for an outage, probe at least this often (from 1s, doubling).",
    )(func)
    func = click.option(
        "--outage-window",
        type=click.IntRange(1, 1000),
        default=20,
        show_default=True,
        help="How many distinct domains, the last ones worked, --outage-threshold counts.",
    )(func)
    return click.option(
        "--outage-threshold",
        type=click.IntRange(0, 1000),
        default=12,
        show_default=True,
        help="Pause when this many of the last --outage-window domains failed on our side"
        " (DNS, connections); 0: never.",
    )(func)


def outage_settings(outage_window: int, outage_threshold: int, probe_every: float) -> Any:
    """The WorkerOptions fields ``outage_options`` set."""
    return {
        "outage_window": outage_window,
        "outage_threshold": outage_threshold,
        "probe_max": probe_every,
        "probe_min": min(1.0, probe_every),
    }


def main() -> None:
    cli(prog_name="qualify")
