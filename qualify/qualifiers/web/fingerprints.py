"""Technology detection from a fingerprint table the project owns (data/fingerprints.json).

Each entry names a technology and how it shows: asset hosts (a suffix match, so
``force.com`` covers ``acme.my.force.com``), URL substrings, raw-HTML markers, the meta
generator, response headers and cookie-name prefixes. Add a tool by adding a line there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Fingerprint:
    name: str
    category: str


class FingerprintTable:
    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self.by_host: dict[str, Fingerprint] = {}
        self.url_markers: list[tuple[str, Fingerprint]] = []
        self.html_markers: list[tuple[str, Fingerprint]] = []
        self.generators: list[tuple[str, Fingerprint]] = []
        self.headers: list[tuple[str, str, Fingerprint]] = []
        self.cookies: list[tuple[str, Fingerprint]] = []
        self.names: dict[str, str] = {}  # lower-case name -> canonical name
        for entry in entries:
            fp = Fingerprint(entry["name"], entry["category"])
            self.names[fp.name.lower()] = fp.name
            for host in entry.get("hosts", ()):
                self.by_host[host.lower()] = fp
            self.url_markers += [(m.lower(), fp) for m in entry.get("urls", ())]
            self.html_markers += [(m.lower(), fp) for m in entry.get("html", ())]
            self.generators += [(g.lower(), fp) for g in entry.get("generator", ())]
            for header, value in entry.get("headers", {}).items():
                self.headers.append((header.lower(), value.lower(), fp))
            self.cookies += [(c, fp) for c in entry.get("cookies", ())]

    def canonical_name(self, name: str) -> str | None:
        return self.names.get(name.strip().lower())

    def host_match(self, host: str) -> Fingerprint | None:
        """The technology serving assets from ``host`` or a parent domain of it."""
        fp = self.by_host.get(host)
        if fp is not None:
            return fp
        dot = host.find(".")
        while dot != -1:
            host = host[dot + 1 :]
            if "." not in host:
                return None
            fp = self.by_host.get(host)
            if fp is not None:
                return fp
            dot = host.find(".")
        return None

    def detect(
        self,
        *,
        script_hosts: Iterable[str],
        referenced_hosts: Iterable[str],
        html_lower: str,
        generator: str,
        headers: Mapping[str, str],
        cookies: Iterable[str],
    ) -> list[dict[str, str]]:
        """Technologies seen, each ``{name, category, evidence}``, first evidence wins."""
        found: dict[str, dict[str, str]] = {}

        def add(fp: Fingerprint, evidence: str) -> None:
            if fp.name not in found:
                found[fp.name] = {"name": fp.name, "category": fp.category, "evidence": evidence}

        for host in script_hosts:
            fp = self.host_match(host)
            if fp is not None:
                add(fp, f"script from {host}")
        for host in referenced_hosts:
            fp = self.host_match(host)
            if fp is not None:
                add(fp, f"page references {host}")
        for marker, fp in self.url_markers:
            if fp.name not in found and marker in html_lower:
                add(fp, f"page references '{marker}'")
        for marker, fp in self.html_markers:
            if fp.name not in found and marker in html_lower:
                add(fp, f"page source contains '{marker}'")
        if generator:
            lowered = generator.lower()
            for prefix, fp in self.generators:
                if lowered.startswith(prefix):
                    add(fp, f"meta generator '{generator[:60]}'")
        for header, value, fp in self.headers:
            seen = headers.get(header)
            if seen is not None and (not value or value in seen.lower()):
                add(fp, f"response header {header}: {seen[:60]}")
        for cookie in cookies:
            for prefix, fp in self.cookies:
                if cookie.startswith(prefix):
                    add(fp, f"cookie {cookie[:40]}")
        return list(found.values())


_table: FingerprintTable | None = None
_table_lock = threading.Lock()


def table() -> FingerprintTable:
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                raw = (
                    resources.files(__package__)
                    .joinpath("data/fingerprints.json")
                    .read_text(encoding="utf-8")
                )
                _table = FingerprintTable(json.loads(raw)["technologies"])
    return _table
