"""The qualifier interface: load a qualifier by name, check an ICP for it, check its results.

A qualifier is a callable ``(domain: str, icp: dict) -> dict``. It may also carry a
``validate_icp(icp: dict) -> None`` attribute raising :class:`qualify.errors.ICPError`;
``qualify run`` calls it (through :func:`check`) before writing anything, and may carry a
``close()`` that :func:`close` calls when its worker stops.

Built-in qualifiers are classes built from the settings and the page store, once per worker
(``from_settings(settings)``, or ``from_settings(settings, pages=...)`` for one that keeps
the pages it fetches); ``MODULE:CALLABLE`` names a plain callable, used as it is, or such a
class (anything with ``from_settings``), built the same way.

A qualifier that keeps the pages it fetches (``web``) gets the worker's
:class:`qualify.pagecache.PageCache`, and may carry ``for_run(max_page_age)``, returning the
qualifier as one run wants it: reusing kept pages up to that age (None: any age, as a
rescore does; 0: always fetch). :func:`for_run` applies it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qualify.errors import ICPError, InputError, PermanentError

if TYPE_CHECKING:
    from qualify.pagecache import PageCache
    from qualify.settings import Settings

Qualifier = Callable[[str, dict[str, Any]], dict[str, Any]]

# Built-in qualifiers by short name: the class whose ``from_settings(settings)`` builds one.
# Anything else is MODULE:CALLABLE.
BUILTIN: dict[str, str] = {"web": "qualify.qualifiers.web:WebQualifier"}

# The qualifier `qualify run` uses when none is given; None means --qualifier is required.
DEFAULT_QUALIFIER: str | None = "web"

VERDICTS = ("qualified", "review", "unqualified", "unknown")


def load(name: str, settings: Settings, pages: PageCache | None = None) -> Qualifier:
    """The qualifier called ``name``, ready to call: a built-in (or any class with a
    ``from_settings``) is built from ``settings`` and ``pages``, the page store it may keep
    fetched pages in (call :func:`close` when done with it); a plain ``MODULE:CALLABLE`` is
    returned as it is."""
    target = resolve(name)
    builder = getattr(target, "from_settings", None)
    if builder is not None and callable(builder):
        # Only a builder that asks for the page store (a ``pages`` parameter) is given it.
        takes_pages = "pages" in inspect.signature(builder).parameters
        qualifier: Qualifier = builder(settings, pages=pages) if takes_pages else builder(settings)
        return qualifier
    plain: Qualifier = target
    return plain


def for_run(qualifier: Qualifier, *, max_page_age: float | None) -> Qualifier:
    """``qualifier`` as a run calls it: one that keeps pages (``for_run``) reuses kept pages
    up to ``max_page_age`` seconds old (None: any age; 0: none); any other, as it is."""
    binder = getattr(qualifier, "for_run", None)
    if callable(binder):
        bound: Qualifier = binder(max_page_age)
        return bound
    return qualifier


def works_from_pages(name: str) -> bool:
    """Whether the qualifier ``name`` can judge from kept pages (a rescore without fetching)."""
    return callable(getattr(resolve(name), "for_run", None))


def check(name: str, icp: Any) -> None:
    """What ``qualify run`` checks before writing anything: that the qualifier can be
    imported (it is not built: no settings needed), that the ICP is a JSON object, and
    whatever the qualifier's own ``validate_icp`` demands."""
    validate_icp(resolve(name), icp)


def close(qualifier: Qualifier) -> None:
    """Release what a qualifier holds (a built-in's HTTP clients), if it has a ``close``."""
    closer = getattr(qualifier, "close", None)
    if callable(closer):
        closer()


def resolve(name: str) -> Any:
    """Import what ``name`` names without building anything: a built-in's class, or the
    callable of ``module:callable``. Raises :class:`InputError` saying what is wrong."""
    target = BUILTIN.get(name, name)
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        known = ", ".join(sorted(BUILTIN)) or "none yet"
        raise InputError(
            f"qualifier {name!r}: expected MODULE:CALLABLE or a built-in name ({known})"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import can fail in any way the module's code can
        raise InputError(f"qualifier {name!r}: cannot import {module_name!r}: {exc}") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InputError(f"qualifier {name!r}: {module_name!r} has no {attr_path!r}") from None
    if not callable(obj):
        raise InputError(f"qualifier {name!r}: {attr_path!r} is not callable")
    return obj


def validate_icp(qualifier: Any, icp: Any) -> None:
    """Check the ICP: a JSON object always, and whatever the qualifier (or a built-in's
    class) itself demands."""
    if not isinstance(icp, dict):
        raise ICPError("", f"expected a JSON object, got {type(icp).__name__}")
    validator = getattr(qualifier, "validate_icp", None)
    if validator is not None:
        validator(icp)


@dataclass(frozen=True)
class QualifierResult:
    """A qualifier's return value, checked and split into what the store keeps."""

    verdict: str
    score: float | None
    reasons: list[Any]
    evidence: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def qualified(self) -> bool:
        return self.verdict == "qualified"


def check_result(raw: Any) -> QualifierResult:
    """Validate a qualifier's return value; a malformed one is a permanent error (a bug)."""
    if not isinstance(raw, Mapping):
        raise PermanentError(
            f"qualifier returned {type(raw).__name__}, expected a dict", code="bad_result"
        )
    verdict = raw.get("verdict")
    if verdict not in VERDICTS:
        raise PermanentError(
            f"qualifier returned verdict {verdict!r}, expected one of {', '.join(VERDICTS)}",
            code="bad_result",
        )
    score = raw.get("score")
    if score is not None and not _is_score(score):
        raise PermanentError(
            f"qualifier returned score {score!r}, expected 0-100 or None", code="bad_result"
        )
    reasons = raw.get("reasons") or []
    if not isinstance(reasons, list) or not all(_is_reason(r) for r in reasons):
        raise PermanentError(
            "qualifier returned reasons that are not a list of strings or reason objects",
            code="bad_result",
        )
    evidence = raw.get("evidence") or {}
    if not isinstance(evidence, Mapping):
        raise PermanentError("qualifier returned evidence that is not a dict", code="bad_result")
    extra = {k: v for k, v in raw.items() if k not in ("verdict", "score", "reasons", "evidence")}
    for part, value in (("reasons", reasons), ("evidence", evidence), ("extra fields", extra)):
        _check_storable(part, value)
    return QualifierResult(
        verdict=verdict, score=score, reasons=list(reasons), evidence=dict(evidence), extra=extra
    )


def _is_score(score: Any) -> bool:
    if not isinstance(score, int | float) or isinstance(score, bool):
        return False
    try:
        # An int too large for a float (10**400) overflows here: not a score either.
        return math.isfinite(score) and 0 <= score <= 100
    except OverflowError:
        return False


def _check_storable(part: str, value: Any) -> None:
    """What the store keeps as JSON must be JSON: NaN and Infinity are not (every export
    would carry them), nor keys JSON has no form for."""
    try:
        json.dumps(value, allow_nan=False, default=str)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise PermanentError(
            f"qualifier returned {part} that JSON cannot hold ({exc})", code="bad_result"
        ) from None


def _is_reason(reason: Any) -> bool:
    if isinstance(reason, str):
        return True
    return isinstance(reason, Mapping) and isinstance(reason.get("criterion"), str)
