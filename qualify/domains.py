"""Domain lists: normalise what people paste into a file, and read such files safely.

A line holds a domain or a URL. Schemes, paths, ports, ``www.``, case and trailing dots are
normalised away and internationalised names become punycode, so ``https://WWW.Bücher.de/shop``
and ``xn--bcher-kva.de`` are the same company.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import idna
import tldextract

from qualify.errors import InputError

MAX_LINE_BYTES = 2048
# Reasons for rejected lines are kept for the first few; a million junk lines are only counted.
MAX_INVALID_KEPT = 1000
_BLOCK = 1 << 20

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Most lines of a big list are already a bare domain: they skip the URL and IDN handling.
_BARE = re.compile(r"[A-Za-z0-9.-]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SPACE = re.compile(r"\s")
_RESERVED_SUFFIXES = ("localhost", "local", "internal", "test", "example", "invalid", "onion")


class InvalidDomain(ValueError):
    """A line that is not a public domain; the message says why."""


@cache
def _public_suffixes() -> tldextract.TLDExtract:
    # An empty URL list makes tldextract use its bundled snapshot and never touch the network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@cache
def _suffix_index() -> Callable[[list[str]], Any]:
    """tldextract's suffix trie lookup, without the URL parsing around it (3x faster, which
    matters on a million lines); its public API if that internal ever moves."""
    extractor = _public_suffixes()
    try:
        return extractor._get_tld_extractor().suffix_index
    except AttributeError:  # pragma: no cover - another tldextract version
        return lambda labels: _suffix_index_public(extractor, labels)


def _suffix_index_public(extractor: tldextract.TLDExtract, labels: list[str]) -> Any:
    parts = extractor.extract_str(".".join(labels))
    if not parts.suffix:
        return None
    suffix_start = len(labels) - len(parts.suffix.split("."))
    return ((suffix_start, None), (suffix_start, None))


def normalise(text: str) -> str:
    """Return the canonical domain for a line of input, or raise :class:`InvalidDomain`."""
    host = text.strip()
    if _BARE.fullmatch(host):
        host = host.rstrip(".").lower()
        if host.startswith("www."):
            host = host[4:]
        _check_shape(host)
        return host
    if not host:
        raise InvalidDomain("empty")
    if _SCHEME.match(host):
        try:
            host = urlsplit(host).hostname or ""
        except ValueError as exc:
            raise InvalidDomain(f"unparseable URL ({exc})") from None
    else:
        host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = host.rsplit("@", 1)[-1]
        if host.startswith("["):
            raise InvalidDomain("an IP address, not a domain")
        host = host.split(":", 1)[0]
    if not host:
        raise InvalidDomain("no host name")
    if _SPACE.search(host):
        raise InvalidDomain("contains spaces")
    host = host.rstrip(".").lower()
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidDomain(f"not a valid internationalised name ({exc})") from None
    if host.startswith("www."):
        host = host[4:]
    _check_shape(host)
    return host


def _check_shape(host: str) -> None:
    labels = host.split(".")
    if labels[-1].isdigit() or ":" in host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            raise InvalidDomain("an IP address, not a domain")
    if len(host) > 253:
        raise InvalidDomain("longer than 253 characters")
    if not _HOST_NAME.fullmatch(host):
        raise InvalidDomain("not a host name (letters, digits, hyphens and dots only)")
    if labels[-1] in _RESERVED_SUFFIXES:
        raise InvalidDomain(f"a reserved name (.{labels[-1]}), not a public domain")
    found = _suffix_index()(labels)
    if not found:
        raise InvalidDomain("no public suffix")
    if found[0][0] == 0:
        raise InvalidDomain("a public suffix, not a domain")


@dataclass(frozen=True)
class InvalidLine:
    line: int
    text: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass
class DomainList:
    """The unique, normalised domains of a file in first-seen order, and what was skipped."""

    source: str
    domains: list[str] = field(default_factory=list)
    duplicates: int = 0
    invalid: list[InvalidLine] = field(default_factory=list)
    invalid_count: int = 0


def iter_lines(stream: BinaryIO, source: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for content lines, refusing binary or non-UTF-8 data.

    Reads a megabyte at a time and checks and decodes each block at once: per-line work is
    what costs on a million lines.
    """
    done = 0  # lines before the current block
    pending = b""
    while True:
        chunk = stream.read(_BLOCK)
        data = pending + chunk
        if not data:
            return
        cut = len(data) if not chunk else data.rfind(b"\n") + 1
        if not cut:
            if len(data) > _BLOCK:
                raise InputError(f"{source}:{done + 1}: a line longer than 1 MB; not a list")
            pending = data
            continue
        block, pending = data[:cut], data[cut:]
        text = _decode_block(block, done, source)
        if done == 0:
            text = text.removeprefix("\ufeff")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        for offset, line in enumerate(lines, start=done + 1):
            stripped = line.strip()
            if stripped and stripped[0] != "#":
                yield offset, stripped
        done += len(lines)
        if not chunk:
            return


def _decode_block(block: bytes, done: int, source: str) -> str:
    nul = block.find(b"\x00")
    if nul >= 0:
        line = done + block.count(b"\n", 0, nul) + 1
        raise InputError(f"{source}:{line}: binary data (NUL byte); expected a text file")
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = done + block.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{source}:{line}: not UTF-8 text") from None


def read_domains(stream: BinaryIO, source: str) -> DomainList:
    """Read a whole domain list, one pass, keeping only the unique normalised domains."""
    result = DomainList(source=source)
    # A dict keeps first-seen order and deduplicates in one structure.
    seen: dict[str, None] = {}
    for number, text in iter_lines(stream, source):
        text = _strip_trailing_comment(text)
        try:
            if len(text) > MAX_LINE_BYTES:
                raise InvalidDomain(f"longer than {MAX_LINE_BYTES} characters")
            domain = normalise(text)
        except InvalidDomain as exc:
            result.invalid_count += 1
            if len(result.invalid) < MAX_INVALID_KEPT:
                result.invalid.append(InvalidLine(number, text[:200], str(exc)))
            continue
        if domain in seen:
            result.duplicates += 1
        else:
            seen[domain] = None
    if not seen:
        detail = f" ({result.invalid_count} invalid lines)" if result.invalid_count else ""
        first = (
            f"; first: line {result.invalid[0].line}: {result.invalid[0].reason}"
            if (result.invalid)
            else ""
        )
        raise InputError(f"{source}: no valid domain{detail}{first}")
    result.domains = list(seen)
    return result


def _strip_trailing_comment(text: str) -> str:
    # "acme.com  # met at a fair" is a domain with a note; "#" inside a URL is a fragment.
    for marker in (" #", "\t#"):
        if marker in text:
            return text.split(marker, 1)[0].rstrip()
    return text
