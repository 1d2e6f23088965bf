"""JSON-LD blocks: the Organization (name, size, country, founding date, profiles), offers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from qualify.qualifiers.web.employees import from_jsonld as employees_from_jsonld

_ORG_TYPES = {
    "organization", "corporation", "localbusiness", "onlinebusiness", "onlinestore",
    "professionalservice", "ngo", "store", "softwarecompany", "company",
}  # fmt: skip
_OFFER_TYPES = {"product", "offer", "aggregateoffer", "productgroup"}
_MAX_BLOCK = 200_000  # a JSON-LD block larger than this is data, not metadata


def _nodes(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data[:200]:
            yield from _nodes(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        graph = data.get("@graph")
        if graph is not None:
            yield from _nodes(graph, depth + 1)


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw] if raw else []
    return {str(v).rsplit("/", 1)[-1].lower() for v in values}


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, list) and value:
        return _text(value[0])
    return str(value)[:200] if isinstance(value, str | int | float) and value != "" else None


def _country(address: Any) -> str | None:
    if isinstance(address, list) and address:
        address = address[0]
    if isinstance(address, dict):
        return _text(address.get("addressCountry"))
    return None


def parse_blocks(blocks: Iterable[str], url: str) -> dict[str, Any]:
    """Organization facts and offer counts from the page's ld+json script texts."""
    org: dict[str, Any] = {}
    offers = 0
    types: set[str] = set()
    for block in blocks:
        if len(block) > _MAX_BLOCK:
            continue
        try:
            data = json.loads(block)
        except (ValueError, RecursionError):
            continue  # broken (or absurdly nested) JSON-LD is common; it tells us nothing
        for node in _nodes(data):
            node_types = _types(node)
            types |= node_types
            if node_types & _OFFER_TYPES:
                offers += 1
            if not node_types & _ORG_TYPES or org.get("name"):
                continue
            org = {"name": _text(node.get("name")), "source_url": url}
            if node.get("numberOfEmployees") is not None:
                org["employees"] = employees_from_jsonld(node["numberOfEmployees"], url)
            country = _country(node.get("address")) or _country(node.get("location"))
            if country:
                org["country"] = country
            if node.get("foundingDate"):
                org["founding_date"] = _text(node.get("foundingDate"))
            same_as = node.get("sameAs")
            if isinstance(same_as, str):
                same_as = [same_as]
            if isinstance(same_as, list):
                org["same_as"] = [s for s in same_as if isinstance(s, str)][:10]
    return {"organization": org or None, "offers": offers, "types": sorted(types)[:20]}
