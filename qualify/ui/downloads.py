"""A run's results as a file: the very bytes ``qualify export RUN -o FILE`` writes, since it
is the same library call (:meth:`qualify.api.Qualify.export`) into the same kind of file.

Written to a temporary file first (a million rows never sit in memory), sent, then removed.
"""

from __future__ import annotations

import os
import tempfile

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from qualify import export
from qualify.api import Qualify
from qualify.errors import InputError
from qualify.ui.context import ui_of

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "json": "application/json; charset=utf-8",
}


async def export_run(request: Request) -> Response:
    ui = ui_of(request)
    run_id = int(request.path_params["run_id"])
    fmt = request.query_params.get("format") or "csv"
    if fmt not in export.FORMATS:
        raise InputError(f"format: {fmt!r} is not one of {', '.join(export.FORMATS)}")
    verdicts = request.query_params.getlist("verdict")
    for verdict in verdicts:
        if verdict not in export.VERDICT_FILTERS:
            raise InputError(
                f"verdict: {verdict!r} is not one of {', '.join(export.VERDICT_FILTERS)}"
            )
    path = await run_in_threadpool(_write, ui.app, run_id, fmt, verdicts)
    name = f"run-{run_id}" + "".join(f"-{v}" for v in verdicts) + f".{fmt}"
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[fmt],
        filename=name,
        background=BackgroundTask(os.unlink, path),
        headers={"cache-control": "no-store"},
    )


def _write(app: Qualify, run_id: int, fmt: str, verdicts: list[str]) -> str:
    app.runs.get(run_id)  # a run that does not exist is a 404, not an empty file
    fd, path = tempfile.mkstemp(prefix="qualify-download-", suffix=f".{fmt}")
    try:
        # As export.atomic_output opens the CLI's output file: UTF-8, newlines untranslated.
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            app.export(run_id, fmt, out, verdict=verdicts)
    except BaseException:
        os.unlink(path)
        raise
    return path
