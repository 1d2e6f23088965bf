"""The built-in ``llm`` qualifier: any OpenAI-compatible model judges a company against an
ICP written in plain words, every quote it gives checked against the page it cites.

It reads what the ``web`` qualifier fetches: the same crawl (:class:`WebQualifier`'s
signals: the SSRF guard, robots.txt, per-IP politeness, the page store, the outage
breaker's failures), so a site is fetched once whichever qualifier judges it. Cheap things
come first and cost no model call: a site that cannot be reached or is parked gets the web
qualifier's result for it, and so does a hard-filter mismatch of the ICP's structured
fields (an excluded country, technology or domain). Only then are the pages shown to the
model (:mod:`.prompt`), its answer validated (:mod:`.client`), its quotes verified
(:mod:`.grounding`) and the verdict made from verified reasons only (:mod:`.verdict`).

Never paying twice: every verdict is kept in the store under (model, prompt version,
canonical ICP, page hashes) and reused for free by a retry, a rerun or another run. Each
result carries ``llm``: the prompt version, the model as served, token usage, whether it
came from the cache, the structured-output mode. A run with a budget (``--max-tokens``) has
its paid calls stop at it (:class:`qualify.errors.BudgetReached`).

Configuration: :class:`qualify.settings.LlmSettings` (``QUALIFY_LLM_BASE_URL``,
``QUALIFY_LLM_API_KEY``, ``QUALIFY_LLM_MODEL``, ``--llm-concurrency``); a run's model is
stored on the run (never the key).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from qualify.errors import BudgetReached, ICPError, OurSideError
from qualify.llmledger import CachedVerdict, Usage
from qualify.pagecache import DEFAULT_MAX_PAGE_AGE
from qualify.qualifiers.llm import prompt as prompts
from qualify.qualifiers.llm.client import SCOPE, BadOutput, LlmClient, Reply
from qualify.qualifiers.llm.verdict import judge
from qualify.qualifiers.web import WebQualifier, scored
from qualify.qualifiers.web import validate_icp as validate_web_icp

if TYPE_CHECKING:
    from qualify.llmledger import LlmLedger
    from qualify.pagecache import PageCache
    from qualify.settings import Settings

__all__ = ["LlmQualifier", "validate_icp"]

#: Reasons of the web qualifier's result that decide a domain without the model.
_HARD = ("hard_filters", "exclude_domains")


def validate_icp(icp: dict[str, Any]) -> None:
    """The web qualifier's checks (its structured fields stay usable as hard filters),
    and a ``description``: the ICP in plain words, which is what the model judges."""
    validate_web_icp(icp)
    description = icp.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ICPError("description", "required by the llm qualifier: the ICP in plain words")


class _Shared:
    """The client of a qualifier and its per-run views, made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: LlmClient | None = None
        self._lock = threading.Lock()

    def client(self) -> LlmClient:
        with self._lock:
            if self._client is None:
                self._client = LlmClient(self.settings.llm)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class LlmQualifier:
    """The ``llm`` qualifier; see the module docstring."""

    validate_icp = staticmethod(validate_icp)

    def __init__(
        self,
        settings: Settings,
        pages: PageCache | None = None,
        ledger: LlmLedger | None = None,
        *,
        web: WebQualifier | None = None,
        run_id: int | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.web = web or WebQualifier(settings.fetch, pages)
        self.run_id = run_id
        self._shared = _shared or _Shared(settings)
        self._model: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, pages: PageCache | None = None, ledger: LlmLedger | None = None
    ) -> LlmQualifier:
        """What the built-in name ``llm`` builds (see :func:`qualify.qualifiers.load`)."""
        return cls(settings, pages, ledger)

    def for_run(
        self, max_page_age: float | None = DEFAULT_MAX_PAGE_AGE, run_id: int | None = None
    ) -> LlmQualifier:
        """This qualifier for one run: its page age, its model and its token account."""
        return LlmQualifier(
            self.settings,
            ledger=self.ledger,
            web=self.web.for_run(max_page_age),
            run_id=run_id,
            _shared=self._shared,
        )

    @property
    def client(self) -> LlmClient:
        return self._shared.client()

    def close(self) -> None:
        self._shared.close()
        self.web.close()

    @property
    def model(self) -> str:
        """The run's model (stored on the run), else the configured one."""
        if self._model is None:
            stored = None
            if self.ledger is not None and self.run_id is not None:
                stored = self.ledger.account(self.run_id).model
            model = stored or self.settings.llm.model
            if not model:
                raise OurSideError(
                    "llm: no model; give --model or set QUALIFY_LLM_MODEL",
                    code="llm_model",
                    kind="model",
                    subject=self.client.url,
                    scope=SCOPE,
                    certain=True,
                )
            self._model = model
        return self._model

    def check(self) -> None:
        """The endpoint answers, takes the key and serves the model (``qualify run``)."""
        self.client.check(self.model)

    def probe(self, error: OurSideError) -> bool | None:
        """For the outage breaker: does our side answer again?"""
        if error.scope != SCOPE:
            return self.web.probe(error)
        try:
            self.client.check(getattr(error, "model", None) or self.settings.llm.model)
        except OurSideError:
            return False
        return True

    # -- one domain -----------------------------------------------------------------------

    def __call__(self, domain: str, icp: dict[str, Any]) -> dict[str, Any]:
        normalized = self.web.normalized(icp)
        signals = self.web.signals(domain, normalized)
        web_result = scored(signals, normalized)
        decided = _decided_without_model(signals, web_result)
        if decided is not None:
            web_result["llm"] = {
                "prompt_version": prompts.PROMPT_VERSION,
                "model_call": False,
                "decided_by": decided,
            }
            return web_result
        pages = prompts.site_pages(signals, self.settings.llm.char_budget)
        prompt = prompts.build(icp, pages)
        model = self.model
        key = prompts.cache_key(model, icp, prompt)
        cached = self.ledger.cached(key) if self.ledger is not None else None
        if cached is not None:
            answer, served, usage, hit = cached.answer, cached.model, cached.usage, True
            if self.run_id is not None and self.ledger is not None:
                self.ledger.spend(self.run_id, Usage(), cache_hit=True)
            mode = None
        else:
            reply = self._ask(model, prompt)
            answer, served, usage, hit, mode = (
                reply.answer,
                reply.model,
                reply.usage,
                False,
                reply.mode,
            )
            if self.ledger is not None:
                verdict = CachedVerdict(key, served, prompts.PROMPT_VERSION, answer, usage)
                self.ledger.keep(verdict, self.run_id)
        result = judge(answer, prompt, normalized["thresholds"])
        evidence = dict(web_result.get("evidence") or {})
        evidence["summary"] = str(answer.get("summary") or "")[:500]
        result.update(
            error=None,
            evidence=evidence,
            signals=signals,
            llm={
                "prompt_version": prompts.PROMPT_VERSION,
                "model": served,
                "model_call": not hit,
                "cache_hit": hit,
                # What this result cost now (nothing from the cache) and when it was paid.
                "usage": (Usage() if hit else usage).as_json(),
                "paid_usage": usage.as_json(),
                "mode": mode,
                "pages": [{"id": p.id, "url": p.url, "chars": len(p.text)} for p in pages],
            },
        )
        return result

    def _ask(self, model: str, prompt: prompts.Prompt) -> Reply:
        if self.ledger is not None and self.run_id is not None:
            account = self.ledger.account(self.run_id)
            if account.over_budget:
                self.ledger.stop_for_budget(self.run_id)
                raise BudgetReached(
                    f"run {self.run_id}: token budget spent ({account.tokens:,} of"
                    f" {account.max_tokens:,})",
                    run_id=self.run_id,
                )
        try:
            return self.client.ask(model, prompt.messages)
        except BadOutput as exc:
            # A bad answer is paid for all the same; it is never cached (it is no verdict).
            if self.ledger is not None and self.run_id is not None:
                self.ledger.spend(self.run_id, exc.usage, cache_hit=False)
            raise
        except OurSideError as exc:
            exc.model = model  # type: ignore[attr-defined]  # for the probe after a pause
            raise


def _decided_without_model(signals: dict[str, Any], web_result: dict[str, Any]) -> str | None:
    """Why the web qualifier's result stands without asking the model, or None."""
    if signals.get("error"):
        return "site"  # unreachable, parked, a bot wall...: nothing for a model to read
    if web_result["verdict"] == "unqualified" and any(
        r.get("criterion") in _HARD for r in web_result.get("reasons") or []
    ):
        return "hard_filter"
    if not signals.get("pages"):
        return "site"
    return None
