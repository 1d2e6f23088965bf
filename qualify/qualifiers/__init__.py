"""The qualifier interface: resolve a qualifier by name and check what it returns.

A qualifier is a callable ``(domain: str, icp: dict) -> dict``. It may also carry a
``validate_icp(icp: dict) -> None`` attribute raising :class:`qualify.errors.ICPError`;
``qualify run`` calls it before writing anything.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qualify.errors import InputError, PermanentError

Qualifier = Callable[[str, dict], dict]

# Built-in qualifiers by short name; anything else is MODULE:CALLABLE.
BUILTIN: dict[str, str] = {"web": "qualify.qualifiers.web:qualify"}

# The qualifier `qualify run` uses when none is given; None means --qualifier is required.
DEFAULT_QUALIFIER: str | None = "web"

VERDICTS = ("qualified", "review", "unqualified", "unknown")


def resolve(name: str) -> Qualifier:
    """Import the qualifier called ``name`` (a built-in name or ``module:callable``)."""
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


def load(name: str, settings: Any) -> Qualifier:
    """Interim: the qualifier called ``name``, for a worker with ``settings``."""
    return resolve(name)


def close(qualifier: Qualifier) -> None:
    """Interim: release what a built qualifier holds."""
    closer = getattr(qualifier, "close", None)
    if callable(closer):
        closer()


def validate_icp(qualifier: Qualifier, icp: Any) -> None:
    """Check the ICP: a JSON object always, and whatever the qualifier itself demands."""
    if not isinstance(icp, dict):
        raise InputError(f"expected a JSON object, got {type(icp).__name__}")
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
    return QualifierResult(
        verdict=verdict, score=score, reasons=list(reasons), evidence=dict(evidence), extra=extra
    )


def _is_score(score: Any) -> bool:
    return (
        isinstance(score, int | float)
        and not isinstance(score, bool)
        and math.isfinite(score)
        and 0 <= score <= 100
    )


def _is_reason(reason: Any) -> bool:
    if isinstance(reason, str):
        return True
    return isinstance(reason, Mapping) and isinstance(reason.get("criterion"), str)
