"""The same data as the pages, as JSON, for scripts and for the benchmark: the runs and
workers (what ``status --json`` gives, plus rate, ETA and unknown counts), one run with its
counts, a page of its results, one domain (a row as ``export --format jsonl`` writes it,
plus who recorded it)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from qualify import export
from qualify.store import ResultRow
from qualify.timefmt import iso
from qualify.ui.context import ui_of
from qualify.ui.pages import results_query, run_context, runs_context
from qualify.ui.views import run_json, worker_json


def respond(document: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(document, status_code=status, headers={"cache-control": "no-store"})


def status(request: Request) -> JSONResponse:
    context = runs_context(ui_of(request))
    now = context["now"]
    snapshot = context["live"].snapshot
    return respond(
        {
            "runs": [run_json(view, now) for view in context["runs"]],
            "workers": [worker_json(worker, now) for worker, _ in context["workers"]],
            "recent_failures": [
                {"code": e.code, "count": e.count, "runs": list(e.run_ids)}
                for e in snapshot.failures
            ],
            "retrying": [
                {"code": e.code, "count": e.count, "runs": list(e.run_ids)}
                for e in snapshot.retrying
            ],
        }
    )


def run(request: Request) -> JSONResponse:
    ui = ui_of(request)
    context = run_context(ui, int(request.path_params["run_id"]))
    breakdown = context["breakdown"]
    return respond(
        {
            **run_json(context["view"], context["now"]),
            "verdicts": breakdown.verdicts,
            "tiers": breakdown.tiers,
            "failures": dict(breakdown.failures),
            "result_errors": breakdown.result_errors,
        }
    )


def results(request: Request) -> JSONResponse:
    ui = ui_of(request)
    query = results_query(request.query_params)
    page = ui.app.results.page(
        int(request.path_params["run_id"]),
        sort=query["sort"],
        filters=query["filters"],
        after=query["after"],
        limit=query["limit"],
    )
    return respond(
        {"rows": [row_json(row) for row in page.rows], "next": page.next, "partial": page.partial}
    )


def row_json(row: ResultRow) -> dict[str, Any]:
    return {
        "domain": row.domain,
        "state": row.state,
        "verdict": row.verdict,
        "score": row.score,
        "tier": row.tier,
        "confidence": row.confidence,
        "title": row.title,
        "code": row.code,
        "attempts": row.attempts,
        "finished_at": iso(row.finished_at),
    }


def domain(request: Request) -> JSONResponse:
    ui = ui_of(request)
    run_id = int(request.path_params["run_id"])
    record = ui.app.runs.job(run_id, request.path_params["domain"])
    provenance = ui.app.results.provenance(record.job_id) if record.state == "done" else None
    document = export.row(record)
    document["recorded_by"] = provenance.worker_id if provenance else None
    document["recorded_at"] = iso(provenance.recorded_at) if provenance else None
    return respond(document)
