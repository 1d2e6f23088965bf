"""Actions on a run: retry its failed jobs, cancel it, recover it when stuck. Each is a POST
from the run page's own form (CSRF-checked), calls the library function the CLI command
calls, and comes back to the run page with one line saying what it did (or why not)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qualify.api import Qualify, Recovery
from qualify.errors import QualifyError
from qualify.timefmt import ago
from qualify.ui.context import ui_of
from qualify.ui.forms import read_form


def _jobs(count: int, kind: str = "") -> str:
    return f"{count:,} {kind}job{'' if count == 1 else 's'}"


def retried(app: Qualify, run_id: int, mode: str, stuck_after: float) -> str:
    report = app.retry(run_id)
    return f"Run {run_id}: {_jobs(report.requeued, 'failed ')} queued again"


def cancelled(app: Qualify, run_id: int, mode: str, stuck_after: float) -> str:
    count = app.cancel(run_id)
    return f"Run {run_id} cancelled: {_jobs(count, 'unfinished ')} cancelled; results kept"


def recovered(app: Qualify, run_id: int, mode: str, stuck_after: float) -> str:
    if mode not in ("resume", "fail"):
        raise _NotStuck(f"mode: {mode!r} is not resume or fail")
    found = app.recover(stuck_after, fail=mode == "fail", run_id=run_id)
    if not found:
        raise _NotStuck(
            f"Run {run_id} is not stuck (something moved in the last {ago(stuck_after)}, or"
            " a worker holds a lease on its jobs): nothing to recover"
        )
    return describe(found[0])


def describe(recovery: Recovery) -> str:
    if recovery.action == "fail":
        return (
            f"Run {recovery.run_id} marked FAILED: {_jobs(recovery.failed, 'unfinished ')}"
            " failed; results kept"
        )
    text = f"Run {recovery.run_id} resumed: {_jobs(recovery.requeued)} re-queued"
    if recovery.failed:
        text += f", {recovery.failed:,} failed after too many attempts"
    if recovery.waiting_for_worker:
        text += f"; {_jobs(recovery.waiting_for_worker, 'queued ')} need a worker: qualify worker"
    return text


class _NotStuck(QualifyError):
    pass


ACTIONS: dict[str, Callable[[Qualify, int, str, float], str]] = {
    "retry": retried,
    "cancel": cancelled,
    "recover": recovered,
}


def action(name: str) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        ui = ui_of(request)
        run_id = int(request.path_params["run_id"])
        form = await read_form(request)
        mode = str(form.get("mode") or "resume")
        try:
            text = await run_in_threadpool(
                ACTIONS[name], ui.app, run_id, mode, ui.config.stuck_after
            )
            ui.flash(request, "ok", text)
        except QualifyError as exc:
            ui.flash(request, "error", str(exc))
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    endpoint.__name__ = f"{name}_action"
    return endpoint
