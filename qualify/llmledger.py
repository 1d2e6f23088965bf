"""What the ``llm`` qualifier keeps in the store: model verdicts by cache key (never pay
twice) and each run's token account (its budget), as an interface both sides know.

Like :mod:`qualify.pagecache`, this sits below both the qualifiers and the store: the store
implements :class:`LlmLedger` (``qualify.store.llm``) and the worker hands it to the
qualifier, which never imports the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Usage:
    """Tokens one model call cost, as the server reported them (``estimated`` when it did
    not, and qualify counted four characters a token)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total,
        }
        if self.estimated:
            found["estimated"] = True
        return found


@dataclass(frozen=True)
class CachedVerdict:
    """A model's validated answer, kept under its cache key."""

    key: str
    model: str  # the model as the server named it in its answer
    prompt_version: str
    answer: dict[str, Any]
    usage: Usage  # what it cost when it was paid for


@dataclass(frozen=True)
class RunAccount:
    """A run's llm account: its model, its budget, what it has spent."""

    run_id: int
    model: str | None = None
    max_tokens: int | None = None  # None: no budget
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0  # paid model calls
    cache_hits: int = 0
    price_in: float | None = None  # per 1M prompt tokens, as the user set it
    price_out: float | None = None  # per 1M completion tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def over_budget(self) -> bool:
        return self.max_tokens is not None and self.tokens >= self.max_tokens

    @property
    def cost(self) -> float | None:
        """The estimated cost at the user's prices, or None when none is set."""
        if self.price_in is None and self.price_out is None:
            return None
        return (
            self.prompt_tokens * (self.price_in or 0.0)
            + self.completion_tokens * (self.price_out or 0.0)
        ) / 1_000_000


class LlmLedger(Protocol):
    """Where verdicts and accounts are kept. Implementations must be thread-safe."""

    def cached(self, key: str) -> CachedVerdict | None:
        """The verdict kept under ``key``, if any."""
        ...

    def keep(self, verdict: CachedVerdict, run_id: int | None = None) -> RunAccount | None:
        """Keep a paid verdict (a second one under the same key changes nothing) and, with
        ``run_id``, put its cost on that run's account, in one transaction."""
        ...

    def spend(self, run_id: int, usage: Usage, *, cache_hit: bool) -> RunAccount:
        """Add one answer to ``run_id``'s account (a paid call, or a cache hit costing
        nothing) and return the account after it; a run whose budget this reaches shows
        BUDGET and its remaining jobs wait for a larger one."""
        ...

    def account(self, run_id: int) -> RunAccount:
        """``run_id``'s account as recorded now."""
        ...

    def stop_for_budget(self, run_id: int) -> None:
        """Mark ``run_id`` as stopped by its budget (BUDGET), if it is still active."""
        ...
