"""Starting a run from the browser: an uploaded ICP (or the ICP of an earlier run) and an
uploaded domain list, checked exactly as ``qualify run`` checks them, with the same one-line
errors, and nothing written unless everything passes.

The uploads are written to a private temporary directory under their own (sanitised) names
and handed to :func:`qualify.api.prepare_run`, the function behind ``qualify run``, so every
rule and format it knows applies here too; the directory's path is taken out of its messages,
which then name the files as the user knows them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, replace

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qualify.api import Qualify, RunCreated, prepare_run
from qualify.durations import parse_duration
from qualify.errors import InputError, QualifyError
from qualify.qualifiers import DEFAULT_QUALIFIER
from qualify.ui.context import Ui, ui_of
from qualify.ui.forms import FormRefused, read_form

MAX_NAME = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class NewRun:
    """The form's fields, as typed (shown again with the error when something is wrong)."""

    name: str = ""
    qualifier: str = ""
    icp_from: str = "upload"  # or "run": the ICP of run ``icp_run``
    icp_run: str = ""
    max_attempts: str = "5"
    backoff: str = "10s"


def new_run_page(request: Request) -> Response:
    ui = ui_of(request)
    return render_form(ui, request, NewRun(qualifier=DEFAULT_QUALIFIER or ""))


def render_form(
    ui: Ui, request: Request, fields: NewRun, error: str | None = None, status: int = 200
) -> Response:
    runs = ui.app.runs.list(limit=100)
    return ui.render(
        request,
        "new_run.html",
        {
            "fields": fields,
            "error": error,
            "qualifiers": offered_qualifiers(ui),
            "earlier_runs": runs,
            "max_upload": ui.config.max_upload_bytes,
        },
        status,
    )


def offered_qualifiers(ui: Ui) -> list[str]:
    """What the form may start: the default, those configured, those earlier runs used.
    A browser never names a module to import: only these are accepted."""
    names = [DEFAULT_QUALIFIER] if DEFAULT_QUALIFIER else []
    names += [*ui.config.qualifiers, *(run.qualifier for run in ui.app.runs.list(limit=100))]
    return list(dict.fromkeys(names))


async def create_run(request: Request) -> Response:
    ui = ui_of(request)
    try:
        form = await read_form(request, limit=ui.config.max_upload_bytes)
    except FormRefused as exc:
        return render_form(ui, request, NewRun(), exc.message, exc.status)
    fields = NewRun(
        name=str(form.get("name") or "").strip(),
        qualifier=str(form.get("qualifier") or ""),
        icp_from=str(form.get("icp_from") or "upload"),
        icp_run=str(form.get("icp_run") or ""),
        max_attempts=str(form.get("max_attempts") or "5").strip(),
        backoff=str(form.get("backoff") or "10s").strip(),
    )
    try:
        created = await _start(ui, form, fields)
    except QualifyError as exc:
        return render_form(ui, request, fields, str(exc), 400)
    ui.flash(request, "ok", created_line(created))
    for line in created.invalid[:20]:
        ui.flash(request, "error", f"skipped line {line.line}: {line.text!r}: {line.reason}")
    return RedirectResponse(f"/runs/{created.run_id}", status_code=303)


def created_line(created: RunCreated) -> str:
    skipped = []
    if created.duplicates:
        skipped.append(f"{created.duplicates:,} duplicate{'s' if created.duplicates != 1 else ''}")
    if created.invalid_count:
        lines = "line" if created.invalid_count == 1 else "lines"
        skipped.append(f"{created.invalid_count:,} invalid {lines}")
    text = f"Run {created.run_id} ({created.name}): {created.queued:,} queued"
    return text + (", " + " and ".join(skipped) + " skipped" if skipped else "")


async def _start(ui: Ui, form: FormData, fields: NewRun) -> RunCreated:
    """Check every field, then hand the files to ``prepare_run`` and ``create_run``."""
    if fields.qualifier not in offered_qualifiers(ui):
        raise InputError(f"qualifier: {fields.qualifier!r} is not one this server offers")
    if len(fields.name) > MAX_NAME:
        raise InputError(f"name: at most {MAX_NAME} characters")
    try:
        max_attempts = int(fields.max_attempts)
    except ValueError:
        raise InputError(f"max attempts: {fields.max_attempts!r} is not a whole number") from None
    if not 1 <= max_attempts <= 100:
        raise InputError("max attempts: between 1 and 100")
    backoff = parse_duration(fields.backoff)
    domains = _upload(form, "domains", "domain list")
    if fields.icp_from == "upload":
        icp: tuple[str, bytes] = _upload(form, "icp", "ICP")
    elif fields.icp_from == "run" and fields.icp_run.isdigit():
        icp = await run_in_threadpool(_icp_of_run, ui.app, int(fields.icp_run))
    else:
        raise InputError("ICP: upload a file or choose an earlier run")
    return await run_in_threadpool(
        _prepare_and_create, ui.app, icp, domains, fields, max_attempts, backoff
    )


def _upload(form: FormData, field: str, what: str) -> tuple[str, bytes]:
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InputError(f"{what}: no file chosen")
    upload.file.seek(0)
    return upload.filename, upload.file.read()


def _icp_of_run(app: Qualify, run_id: int) -> tuple[str, bytes]:
    plan = app.runs.plan(run_id)
    return f"run-{plan.id}-icp.json", json.dumps(plan.icp, ensure_ascii=False).encode()


def _prepare_and_create(
    app: Qualify,
    icp: tuple[str, bytes],
    domains: tuple[str, bytes],
    fields: NewRun,
    max_attempts: int,
    backoff: float,
) -> RunCreated:
    with tempfile.TemporaryDirectory(prefix="qualify-upload-") as directory:
        icp_path = _save(directory, "icp", icp)
        domains_path = _save(directory, "domains", domains)
        folders = [os.path.dirname(icp_path) + os.sep, os.path.dirname(domains_path) + os.sep]
        try:
            prepared = prepare_run(icp_path, domains_path, fields.qualifier)
        except InputError as exc:
            raise InputError(_without(str(exc), folders)) from None
        prepared = replace(
            prepared,
            domains=replace(prepared.domains, source=_without(prepared.domains.source, folders)),
        )
        return app.create_run(
            prepared, name=fields.name or None, max_attempts=max_attempts, backoff=backoff
        )


def _save(directory: str, kind: str, upload: tuple[str, bytes]) -> str:
    """Write an upload under its own name, made safe (no directories, no odd characters);
    the ICP and the list get their own subdirectories, so equal names cannot collide."""
    name, data = upload
    safe = _UNSAFE.sub("_", os.path.basename(name.replace("\\", "/"))).strip("._")[:100]
    folder = os.path.join(directory, kind)
    os.mkdir(folder)
    path = os.path.join(folder, safe or kind)
    with open(path, "wb") as out:
        out.write(data)
    return path


def _without(text: str, folders: list[str]) -> str:
    """``text`` naming the uploads as the user knows them, not by their temporary home."""
    for folder in folders:
        text = text.replace(folder, "")
    return text
