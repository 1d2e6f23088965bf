"""The ICP file: schema, validation with field paths, and defaults.

Every field is optional except ``name``. An unknown field or a wrong type raises
``ICPError(path, problem)``, e.g. ``ICPError("employees.min", "expected an integer")``.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from qualify.errors import ICPError
from qualify.qualifiers.web.cues import BUSINESS_MODELS, CUE_NAMES
from qualify.qualifiers.web.domains import input_domain
from qualify.qualifiers.web.fingerprints import table as fingerprint_table

CRITERIA = (
    "industries", "keywords", "business_model", "employees", "countries", "technologies",
    "languages", "signals",
)  # fmt: skip
DEFAULT_WEIGHTS = {
    "industries": 25, "keywords": 20, "business_model": 15, "employees": 15, "countries": 15,
    "technologies": 10, "languages": 5, "signals": 10,
}  # fmt: skip
DEFAULT_THRESHOLDS = {"qualified": 70.0, "review": 45.0, "min_confidence": 0.5}
HARD_FILTERS = (*CRITERIA, "keywords.none", "technologies.none", "countries.exclude",
                "exclude_domains")  # fmt: skip
# Used when the ICP names no hard filters: "none" and "exclude" lists mean exclusion.
DEFAULT_HARD_FILTERS = (
    "keywords.none", "technologies.none", "countries.exclude", "exclude_domains",
)  # fmt: skip

_TOP_LEVEL = {
    "name", "description", "industries", "keywords", "business_model", "employees", "countries",
    "languages", "technologies", "signals", "exclude_domains", "hard_filters", "weights",
    "thresholds",
}  # fmt: skip
_BUCKET = re.compile(r"^\s*(\d[\d,. ]*)\s*(?:(?:-|–|to)\s*(\d[\d,. ]*)|(\+))\s*$")


_TYPE_NAMES = {
    dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
    float: "a number", type(None): "null",
}  # fmt: skip


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), "a value")


def _object(value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ICPError(path, f"expected an object, got {_type_name(value)}")
    for key in value:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            where = f"{path}.{key}" if path else str(key)
            raise ICPError(where, f"unknown field{extra}")
    return value


def _string(value: Any, path: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ICPError(path, f"expected a string, got {_type_name(value)}")
    if not allow_empty and not value.strip():
        raise ICPError(path, "must not be empty")
    return value.strip()


def _strings(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise ICPError(path, f"expected a list of strings, got {_type_name(value)}")
    return [_string(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _integer(value: Any, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ICPError(path, "expected an integer")
    if value < minimum:
        raise ICPError(path, f"must be at least {minimum}")
    return int(value)


def _number(value: Any, path: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ICPError(path, "expected a number")
    if not lo <= value <= hi:
        raise ICPError(path, f"must be between {lo:g} and {hi:g}")
    return float(value)


def _keyword_list(value: Any, path: str) -> list[str]:
    words = _strings(value, path)
    for i, word in enumerate(words):
        if len(word) > 80:
            raise ICPError(f"{path}[{i}]", "keywords are at most 80 characters")
    return words


def _employees(value: Any) -> dict[str, int | None]:
    if isinstance(value, str):
        match = _BUCKET.match(value)
        if not match:
            problem = "expected an object or a bucket such as '51-200' or '1000+'"
            raise ICPError("employees", problem)
        bottom = int(re.sub(r"\D", "", match.group(1)))
        top = None if match.group(3) else int(re.sub(r"\D", "", match.group(2)))
        if top is not None and top < bottom:
            raise ICPError("employees", "bucket upper bound is below the lower bound")
        return {"min": bottom, "max": top}
    obj = _object(value, "employees", {"min", "max"})
    lo = _integer(obj["min"], "employees.min") if obj.get("min") is not None else None
    hi = _integer(obj["max"], "employees.max") if obj.get("max") is not None else None
    if lo is not None and hi is not None and hi < lo:
        raise ICPError("employees.max", "must not be below employees.min")
    return {"min": lo, "max": hi}


def _country_codes(value: Any, path: str) -> list[str]:
    codes = []
    for i, item in enumerate(_strings(value, path)):
        code = item.upper()
        if not (len(code) == 2 and code.isalpha()):
            raise ICPError(f"{path}[{i}]", "expected an ISO 3166 two-letter country code")
        codes.append("GB" if code == "UK" else code)
    return codes


def _technologies(value: Any, path: str) -> list[str]:
    known = fingerprint_table()
    names = []
    for i, item in enumerate(_strings(value, path)):
        canonical = known.canonical_name(item)
        if canonical is None:
            hint = difflib.get_close_matches(item.lower(), sorted(known.names), n=1, cutoff=0.6)
            extra = f" (did you mean {known.names[hint[0]]!r}?)" if hint else ""
            raise ICPError(f"{path}[{i}]", f"unknown technology {item!r}{extra}")
        names.append(canonical)
    return names


def _choice_list(value: Any, path: str, choices: tuple[str, ...] | frozenset[str]) -> list[str]:
    items = _strings(value, path)
    for i, item in enumerate(items):
        if item not in choices:
            raise ICPError(f"{path}[{i}]", f"expected one of {', '.join(sorted(choices))}")
    return items


def normalize(icp: Any) -> dict[str, Any]:
    """A validated copy of the ICP with defaults filled in; raises ICPError."""
    obj = _object(icp, "", _TOP_LEVEL)
    if "name" not in obj:
        raise ICPError("name", "required")
    out: dict[str, Any] = {"name": _string(obj["name"], "name")}
    if "description" in obj:
        out["description"] = _string(obj["description"], "description", allow_empty=True)

    industries = []
    if "industries" in obj and not isinstance(obj["industries"], list):
        raise ICPError("industries", f"expected a list, got {_type_name(obj['industries'])}")
    for i, item in enumerate(obj.get("industries") or []):
        path = f"industries[{i}]"
        entry = _object(item, path, {"name", "keywords"})
        if "name" not in entry:
            raise ICPError(f"{path}.name", "required")
        name = _string(entry["name"], f"{path}.name")
        keywords = _keyword_list(entry.get("keywords", []), f"{path}.keywords")
        industries.append({"name": name, "keywords": keywords or [name]})
    out["industries"] = industries

    kw = _object(obj.get("keywords", {}), "keywords", {"any", "all", "none"})
    out["keywords"] = {
        k: _keyword_list(kw.get(k, []), f"keywords.{k}") for k in ("any", "all", "none")
    }

    out["business_model"] = _choice_list(obj.get("business_model", []), "business_model",
                                         BUSINESS_MODELS)  # fmt: skip
    out["employees"] = _employees(obj["employees"]) if obj.get("employees") is not None else None

    countries = _object(obj.get("countries", {}), "countries", {"include", "exclude"})
    out["countries"] = {k: _country_codes(countries.get(k, []), f"countries.{k}")
                        for k in ("include", "exclude")}  # fmt: skip

    languages = []
    for i, item in enumerate(_strings(obj.get("languages", []), "languages")):
        code = item.lower()
        if not (2 <= len(code) <= 3 and code.isalpha()):
            raise ICPError(f"languages[{i}]", "expected an ISO 639-1 code such as 'de'")
        languages.append(code)
    out["languages"] = languages

    tech = _object(obj.get("technologies", {}), "technologies", {"any", "none"})
    out["technologies"] = {k: _technologies(tech.get(k, []), f"technologies.{k}")
                           for k in ("any", "none")}  # fmt: skip

    signals = _object(obj.get("signals", {}), "signals", {"prefer"})
    out["signals"] = {"prefer": _choice_list(signals.get("prefer", []), "signals.prefer",
                                             CUE_NAMES)}  # fmt: skip

    excluded = []
    for i, item in enumerate(_strings(obj.get("exclude_domains", []), "exclude_domains")):
        try:
            excluded.append(input_domain(item))
        except ValueError as exc:
            raise ICPError(f"exclude_domains[{i}]", str(exc)) from None
    out["exclude_domains"] = excluded

    if "hard_filters" in obj:
        hard = _choice_list(obj["hard_filters"], "hard_filters", HARD_FILTERS)
        out["hard_filters"] = sorted(set(hard) | {"exclude_domains"})
    else:
        out["hard_filters"] = list(DEFAULT_HARD_FILTERS)

    weights = _object(obj.get("weights", {}), "weights", set(CRITERIA))
    out["weights"] = {
        c: _number(weights[c], f"weights.{c}", 0, 1000) if c in weights else DEFAULT_WEIGHTS[c]
        for c in CRITERIA
    }
    thresholds = _object(obj.get("thresholds", {}), "thresholds", set(DEFAULT_THRESHOLDS))
    out["thresholds"] = {
        "qualified": _number(thresholds.get("qualified", 70), "thresholds.qualified", 0, 100),
        "review": _number(thresholds.get("review", 45), "thresholds.review", 0, 100),
        "min_confidence": _number(
            thresholds.get("min_confidence", 0.5), "thresholds.min_confidence", 0, 1
        ),
    }
    if out["thresholds"]["review"] > out["thresholds"]["qualified"]:
        raise ICPError("thresholds.review", "must not be above thresholds.qualified")
    return out


def validate_icp(icp: Any) -> None:
    """Raise ICPError naming the first offending field; return None when the ICP is valid."""
    normalize(icp)


def active_criteria(normalized: dict[str, Any]) -> list[str]:
    """Criteria the ICP actually asks about (a criterion with nothing to test is skipped)."""
    present = {
        "industries": bool(normalized["industries"]),
        "keywords": any(normalized["keywords"].values()),
        "business_model": bool(normalized["business_model"]),
        "employees": normalized["employees"] is not None,
        "countries": any(normalized["countries"].values()),
        "technologies": any(normalized["technologies"].values()),
        "languages": bool(normalized["languages"]),
        "signals": bool(normalized["signals"]["prefer"]),
    }
    return [c for c in CRITERIA if present[c]]


def cache_key(icp: dict[str, Any]) -> str:
    return json.dumps(icp, sort_keys=True, ensure_ascii=False, default=str)


def example_icp() -> dict[str, Any]:
    """The example ICP shipped in qualify/examples/icp.json (a DACH logistics-software ICP)."""
    from importlib import resources

    text = resources.files("qualify").joinpath("examples/icp.json").read_text(encoding="utf-8")
    icp: dict[str, Any] = json.loads(text)
    return icp
