"""The pages: runs (live), one run (counts, actions, its results a page at a time), one
domain (its result with every reason and the quotes behind it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qualify import export
from qualify.domains import InvalidDomain, normalise
from qualify.errors import InputError
from qualify.store import OUTCOMES, SORTS, ResultFilter, Run
from qualify.ui.context import Ui, ui_of
from qualify.ui.facts import Live
from qualify.ui.views import RunView, run_view, worker_reason

PAGE_SIZES = (25, 50, 100, 200)
SORT_LABELS = {
    "score_desc": "score, best first",
    "score_asc": "score, lowest first",
    "domain": "domain, A to Z",
}


def runs_page(request: Request) -> Response:
    ui = ui_of(request)
    return ui.render(request, "runs.html", runs_context(ui))


def runs_live(request: Request) -> Response:
    ui = ui_of(request)
    return ui.render(request, "_runs_live.html", runs_context(ui))


def runs_context(ui: Ui) -> dict[str, Any]:
    live = ui.facts.live()
    views = [view_of(ui, run, live) for run in live.status.runs]
    snapshot = live.snapshot
    return {
        "runs": views,
        "live": live,
        "now": snapshot.now,
        "workers": [(w, worker_reason(w)) for w in snapshot.workers],
        "stuck_after": ui.config.stuck_after,
    }


def view_of(ui: Ui, run: Run, live: Live) -> RunView:
    return run_view(run, live, ui.facts.verdicts(run).get("unknown", 0), ui.config.stuck_after)


def run_page(request: Request) -> Response:
    ui = ui_of(request)
    run_id = int(request.path_params["run_id"])
    context = run_context(ui, run_id)
    query = results_query(request.query_params)
    page = ui.app.results.page(
        run_id,
        sort=query["sort"],
        filters=query["filters"],
        after=query["after"],
        limit=query["limit"],
    )
    breakdown = context["breakdown"]
    codes = sorted({code for code, _ in breakdown.failures} | set(breakdown.result_errors))
    next_link = None
    if page.next:
        next_link = results_link(run_id, query, after=page.next, page=query["page"] + 1)
    context.update(
        query=query,
        page=page,
        next_link=next_link,
        first_link=results_link(run_id, query, after=None, page=1),
        tiers=sorted(breakdown.tiers),
        codes=codes,
        outcomes=OUTCOMES,
        sorts=[(s, SORT_LABELS[s]) for s in SORTS],
        page_sizes=PAGE_SIZES,
        downloads=downloads(run_id, query["filters"]),
        plan=ui.app.runs.plan(run_id),
    )
    return ui.render(request, "run.html", context)


def run_live(request: Request) -> Response:
    ui = ui_of(request)
    return ui.render(request, "_run_live.html", run_context(ui, int(request.path_params["run_id"])))


def run_context(ui: Ui, run_id: int) -> dict[str, Any]:
    run = ui.app.runs.get(run_id, stuck_after=ui.config.stuck_after)
    live = ui.facts.live()
    return {
        "view": view_of(ui, run, live),
        "breakdown": ui.facts.breakdown(run),
        # The llm qualifier's account: tokens, cache hits, budget, estimated cost.
        "llm": ui.app.llm_account(run_id),
        "now": live.snapshot.now,
        "stuck_after": ui.config.stuck_after,
    }


def results_query(params: QueryParams) -> dict[str, Any]:
    """The results table's filters, order and position, from the address."""
    sort = params.get("sort") or "score_desc"
    if sort not in SORTS:
        raise InputError(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
    try:
        limit = int(params.get("limit") or 50)
        page = max(1, int(params.get("page") or 1))
    except ValueError:
        raise InputError("limit and page: expected whole numbers") from None
    if limit not in PAGE_SIZES:
        raise InputError(f"limit: one of {', '.join(map(str, PAGE_SIZES))}")
    text = (params.get("q") or "").strip()
    if len(text) > 200:
        raise InputError("q: at most 200 characters")
    filters = ResultFilter(
        outcome=params.get("outcome") or None,
        tier=params.get("tier") or None,
        code=params.get("code") or None,
        text=text or None,
    )
    return {
        "filters": filters,
        "sort": sort,
        "after": params.get("after") or None,
        "limit": limit,
        "page": page,
        "q": text,
    }


def results_link(run_id: int, query: dict[str, Any], *, after: str | None, page: int) -> str:
    filters: ResultFilter = query["filters"]
    params = {
        "outcome": filters.outcome or "",
        "tier": filters.tier or "",
        "code": filters.code or "",
        "q": query["q"],
        "sort": query["sort"],
        "limit": str(query["limit"]),
        "after": after or "",
        "page": str(page) if page > 1 else "",
    }
    kept = {k: v for k, v in params.items() if v}
    return f"/runs/{run_id}" + (f"?{urlencode(kept)}" if kept else "") + "#results"


def downloads(run_id: int, filters: ResultFilter) -> dict[str, Any]:
    """The download links, as ``qualify export`` would be called for them: by outcome only
    (the export's --verdict filter); other filters do not apply to a download."""
    verdict = filters.outcome if filters.outcome in export.VERDICT_FILTERS else None
    suffix = f"&verdict={verdict}" if verdict else ""
    command = f"qualify export {run_id}" + (f" --verdict {verdict}" if verdict else "")
    return {
        "links": [(fmt, f"/runs/{run_id}/export?format={fmt}{suffix}") for fmt in export.FORMATS],
        "verdict": verdict,
        "command": command,
    }


def find_domain(request: Request) -> Response:
    run_id = int(request.path_params["run_id"])
    text = (request.query_params.get("domain") or "").strip()
    if not text:
        raise InputError("domain: give a domain to look up")
    try:
        domain = normalise(text)
    except InvalidDomain:
        domain = text.lower()
    ui_of(request).app.runs.job(run_id, domain)  # a NotFoundError names what is missing
    return RedirectResponse(f"/runs/{run_id}/domains/{domain}", status_code=303)


def domain_page(request: Request) -> Response:
    ui = ui_of(request)
    run_id = int(request.path_params["run_id"])
    record = ui.app.runs.job(run_id, request.path_params["domain"])
    run = ui.app.runs.get(run_id)
    provenance = ui.app.results.provenance(record.job_id) if record.state == "done" else None
    return ui.render(
        request,
        "domain.html",
        {
            "run": run,
            "record": record,
            "error": export.error_text(record),
            "provenance": provenance,
            "tier": record.extra.get("tier"),
            "confidence": record.extra.get("confidence"),
            "signals": record.extra.get("signals"),
            "now": ui.app.database.now(),
        },
    )
