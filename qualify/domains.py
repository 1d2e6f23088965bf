"""Domain names: the one normaliser (for domain lists and the web qualifier alike), and reading
domain lists safely.

A line holds a domain or a URL. Schemes, paths, ports, ``www.``, case and trailing dots are
normalised away and internationalised names become punycode, so ``https://WWW.Bücher.de/shop``
and ``xn--bcher-kva.de`` are the same company.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
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

# Top-level labels that never name a public host (RFC 6761, RFC 8375, common intranet
# suffixes); the web qualifier's SSRF guard refuses them too.
SPECIAL_USE_TLDS = frozenset(
    ("localhost", "local", "internal", "intranet", "lan", "home", "corp", "private", "arpa",
     "invalid", "onion", "alt")
)  # fmt: skip
# Reserved for documentation and testing (RFC 2606): never public either, but the web
# qualifier's test fixtures are named so, hence ``allow_test_names``. A later issue moves the
# fixtures to public-looking names and removes that allowance.
TEST_TLDS = ("example", "test")


class InvalidDomain(ValueError):
    """A line that is not a public domain; the message says why."""


_extractor: tldextract.TLDExtract | None = None
_extractor_lock = threading.Lock()


def public_suffixes() -> tldextract.TLDExtract:
    """The process's one public-suffix extractor (the web qualifier's "same site" uses it too).

    No URLs and no cache directory: tldextract uses its bundled snapshot and never touches
    the network or the disk.
    """
    global _extractor
    if _extractor is None:
        with _extractor_lock:
            if _extractor is None:
                extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
                extractor("warm.example.com")  # load the snapshot here, inside the lock
                _extractor = extractor
    return _extractor


_final_suffixes: frozenset[str] | None = None


def _final_public_suffixes() -> frozenset[str]:
    """The public suffixes no rule extends (``com``, ``de``, ``co.uk``, not ``uk`` or ``jp``).

    A name ending in one of them has exactly that suffix, so the normaliser answers most
    names with one set lookup instead of tldextract's ``extract_str`` (1M lines through
    `qualify run`: 6.1 s instead of 8.2 s). Built once from tldextract's public rule list;
    IDN rules are left out (tldextract matches those on decoded labels), so such names take
    the full lookup. tests/test_domains.py checks the two agree on every rule.
    """
    global _final_suffixes
    if _final_suffixes is None:
        rules = public_suffixes().tlds
        extended: set[str] = set()
        for rule in rules:
            labels = rule.lstrip("!").split(".")
            extended.update(".".join(labels[i:]) for i in range(1, len(labels)))
        _final_suffixes = frozenset(
            rule
            for rule in rules
            if rule.isascii() and rule[0] not in "*!" and "xn--" not in rule
            and rule not in extended
        )  # fmt: skip
    return _final_suffixes


def normalise(
    text: str,
    *,
    keep_www: bool = False,
    allow_test_names: bool = False,
    allow_port: bool = True,
) -> str:
    """Return the canonical domain for a line of input, or raise :class:`InvalidDomain`.

    The defaults read a pasted domain list (`qualify run`). The web qualifier, for the
    domain it is given and an ICP's ``exclude_domains``, keeps ``www.`` (a host of its own
    there), refuses a bare ``host:port`` (a name takes no port; a URL's port is dropped
    either way) and, with ``allow_test_names``, accepts ``.example`` and ``.test`` names.
    """
    if not isinstance(text, str):
        raise InvalidDomain(f"expected a domain name string, got {type(text).__name__}")
    host = text.strip()
    if _BARE.fullmatch(host):
        host = host.rstrip(".").lower()
        if not keep_www and host.startswith("www."):
            host = host[4:]
        _check_shape(host, allow_test_names)
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
        if not allow_port and ":" in host:
            raise InvalidDomain("a domain takes no port")
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
    if not keep_www and host.startswith("www."):
        host = host[4:]
    _check_shape(host, allow_test_names)
    return host


def _check_shape(host: str, allow_test_names: bool) -> None:
    labels = host.split(".")
    tld = labels[-1]
    if tld.isdigit() or ":" in host:
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
    if tld in TEST_TLDS:
        if allow_test_names and len(labels) > 1:
            return  # no public suffix to look for
        raise InvalidDomain(f"a reserved name (.{tld}), not a public domain")
    if tld in SPECIAL_USE_TLDS:
        raise InvalidDomain(f"a reserved name (.{tld}), not a public domain")
    final = _final_suffixes or _final_public_suffixes()
    if tld in final:
        is_suffix = len(labels) == 1
    elif len(labels) > 1 and f"{labels[-2]}.{tld}" in final:
        is_suffix = len(labels) == 2
    else:
        parts = public_suffixes().extract_str(host)
        if not parts.suffix:
            raise InvalidDomain("no public suffix")
        is_suffix = not parts.domain
    if is_suffix:
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
