"""Company size: employee counts from JSON-LD and from sentences like "over 250 employees"."""

from __future__ import annotations

import re
from typing import Any

from qualify.qualifiers.web.countries import quote

Estimate = dict[str, Any]  # {min, max, kind, evidence, source_url}

_UNIT = (
    r"employees|employee|staff|team members|people on our team|colleagues|"
    r"mitarbeitende|mitarbeiter(?:innen|\*innen|:innen|_innen|n)?|beschäftigte|angestellte|kolleg(?:en|innen)|"
    r"collaborateurs|salariés|employés|empleados|colaboradores|trabajadores|dipendenti|"
    r"collaboratori|medewerkers|werknemers|pracowników|anställda|medarbetare|ansatte|"
    r"funcionários|työntekijää"
)
_NUMBER = r"\d{1,3}(?:[.,\u00a0\u202f ]\d{3})+|\d+"
_MORE = (
    r"over|more than|almost|nearly|about|around|approximately|über|mehr als|rund|ca\.|"
    r"fast|plus de|près de|environ|más de|casi|oltre|quasi|ruim|meer dan|bijna|över"
)
_COUNT = re.compile(
    rf"(?:(?P<more>{_MORE})\s+)?(?P<lo>{_NUMBER})\s*(?:(?:-|–|to|bis|à|a)\s*(?P<hi>{_NUMBER}))?"
    rf"\s*(?P<plus>\+)?\s*(?:[^\W\d_]+\s+){{0,2}}?(?:{_UNIT})(?![\w])",
    re.I,
)
_TEAM_OF = re.compile(
    rf"(?:team of|équipe de|equipo de|team van|team von|team aus)\s+"
    rf"(?P<lo>{_NUMBER})\s*(?P<plus>\+)?",
    re.I,
)
_MAX_PLAUSIBLE = 3_000_000


def parse_number(text: str) -> int | None:
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits and len(digits) <= 8 else None


def from_text(text: str, label: str, url: str, limit: int = 3) -> list[Estimate]:
    """Employee counts stated in prose; "over 250" reads as 250 up to 1.5 times that."""
    found: list[Estimate] = []
    for pattern in (_COUNT, _TEAM_OF):
        for match in pattern.finditer(text):
            lo = parse_number(match.group("lo"))
            if lo is None or not 1 <= lo <= _MAX_PLAUSIBLE:
                continue
            if 1900 <= lo <= 2100 and not match.group("plus"):
                continue  # "since 2015 employees have..." is a year, not a headcount
            hi_text = match.groupdict().get("hi")
            hi = parse_number(hi_text) if hi_text else None
            if hi is None or hi < lo:
                more = match.group("plus") or match.groupdict().get("more")
                hi = int(lo * 1.5) if more else lo
            excerpt = quote(text, match.start(), match.end(), pad=20)
            found.append({"min": lo, "max": hi, "kind": "text",
                          "evidence": f"{label}: '{excerpt}'", "source_url": url})  # fmt: skip
            if len(found) >= limit:
                return found
    return found


def from_jsonld(value: Any, url: str) -> Estimate | None:
    """schema.org numberOfEmployees: a number, a string, or a QuantitativeValue."""
    lo = hi = None
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        if value.get("value") is not None:
            lo = hi = _as_int(value.get("value"))
        else:
            lo, hi = _as_int(value.get("minValue")), _as_int(value.get("maxValue"))
            lo = lo if lo is not None else hi
            hi = hi if hi is not None else lo
    elif isinstance(value, int | float | str):
        text = str(value)
        bounds = [parse_number(p) for p in re.split(r"\s*(?:-|–|to)\s*", text) if p.strip()]
        numbers = [b for b in bounds if b is not None]
        if numbers:
            lo, hi = numbers[0], numbers[-1]
            if text.strip().endswith("+"):
                hi = int(lo * 1.5)
    if lo is None or hi is None or not 1 <= lo <= _MAX_PLAUSIBLE:
        return None
    shown = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return {"min": lo, "max": max(lo, hi), "kind": "jsonld",
            "evidence": f"JSON-LD numberOfEmployees: {shown}", "source_url": url}  # fmt: skip


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        return parse_number(value)
    return None
