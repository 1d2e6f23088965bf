"""Running a suspect apart: a job whose last worker died while running it may be a poison
pill, so it runs in a child process of its own. If it kills that process too, it alone is
charged (``qualifier_crashed``, an attempt used); the jobs beside it in this worker, suspects
or not, run on untouched, side by side.

The child is started fresh (``spawn``: never a fork of a process with threads and open
database connections), builds the run's qualifier from the worker's settings, with a page
store of its own, and sends back what the qualifier produced.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from qualify.errors import PermanentError, TransientError
from qualify.qualifiers import QualifierResult
from qualify.settings import Settings
from qualify.store import ClaimedJob, RunPlan
from qualify.store.values import QUALIFIER_CRASHED

log = logging.getLogger("qualify.worker")

_POLL = 0.2


def run_apart(
    job: ClaimedJob, plan: RunPlan, settings: Settings, give_up: Callable[[], bool]
) -> QualifierResult | BaseException:
    """What the run's qualifier produced for ``job``, run in a child process; a death of
    the child is a :class:`TransientError` ``qualifier_crashed`` (retried until the run's
    attempts are used up). ``give_up`` (polled) ends the child early: the job was abandoned
    past its timeout, or is being handed back."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child,
        args=(sender, settings, plan.qualifier, plan.max_page_age, job.domain, plan.icp),
        name=f"qualify-suspect-{job.id}",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        while not receiver.poll(_POLL):
            if not child.is_alive() and not receiver.poll(0):
                break
            if give_up():
                child.kill()
                return TransientError("handed back before it finished", code="abandoned")
        else:
            try:
                return _received(receiver.recv())
            except EOFError:
                pass  # it died while sending
        child.join(5)
        code = child.exitcode or 0
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        log.warning("job %d (%s): its qualifier killed the process running it (%s)",
                    job.id, job.domain, how)  # fmt: skip
        return TransientError(
            f"the qualifier killed the process running it ({how})", code=QUALIFIER_CRASHED
        )
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)


def _received(message: tuple[str, Any]) -> QualifierResult | BaseException:
    kind, value = message
    if kind == "result":
        assert isinstance(value, QualifierResult)
        return value
    if isinstance(value, BaseException):
        return value
    code, text = value
    return (
        PermanentError(text, code=code)
        if code == "qualifier_exited"
        else TransientError(text, code=code)
    )


def _child(
    sender: Connection,
    settings: Settings,
    qualifier_name: str,
    max_page_age: float | None,
    domain: str,
    icp: dict[str, Any],
) -> None:
    from qualify import qualifiers
    from qualify.store.database import open_database
    from qualify.store.pages import Pages

    database = open_database(settings.db, create=False)
    try:
        built = qualifiers.load(qualifier_name, settings, Pages(database))
        qualifier = qualifiers.for_run(built, max_page_age=max_page_age)
        try:
            produced: Any = ("result", qualifiers.check_result(qualifier(domain, icp)))
        except Exception as exc:
            produced = ("error", exc)
        except (SystemExit, KeyboardInterrupt) as exc:
            produced = ("error", ("qualifier_exited", f"the qualifier raised {type(exc).__name__}"))
        try:
            sender.send(produced)
        except (pickle.PicklingError, TypeError, AttributeError):
            error = produced[1]
            code = getattr(error, "code", None) or "unexpected_error"
            sender.send(("error", (code, f"{type(error).__name__} (not picklable)")))
        qualifiers.close(built)
    finally:
        database.close()
        sender.close()
