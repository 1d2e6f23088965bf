"""What changed between two ICPs, as short phrases: ``employees.max 1000 → 5000``."""

from __future__ import annotations

import json
from typing import Any

_MAX_VALUE_CHARS = 60


def icp_changes(before: Any, after: Any, path: str = "") -> list[str]:
    """Every difference from ``before`` to ``after``, by dotted path, in ``before``'s order."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in [*before, *(k for k in after if k not in before)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                found.append(f"{where} removed (was {_show(before[key])})")
            elif key not in before:
                found.append(f"{where} {_show(after[key])} (new)")
            else:
                found += icp_changes(before[key], after[key], where)
        return found
    if before == after:
        return []
    if isinstance(before, list) and isinstance(after, list) and _scalars(before + after):
        added = [v for v in after if v not in before]
        removed = [v for v in before if v not in after]
        parts = [f"+ {_show(v)}" for v in added] + [f"− {_show(v)}" for v in removed]
        return [f"{path or 'ICP'} {', '.join(parts) if parts else 'reordered'}"]
    return [f"{path or 'ICP'} {_show(before)} → {_show(after)}"]


def _scalars(values: list[Any]) -> bool:
    return all(isinstance(v, str | int | float | bool) or v is None for v in values)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"
