"""Domain names: the one normaliser (for domain lists and the web qualifier alike), and reading
domain lists safely.

A line holds a domain or a URL. Schemes, paths, ports, ``www.``, case and trailing dots are
normalised away and internationalised names become punycode, so ``https://WWW.Bücher.de/shop``
and ``xn--bcher-kva.de`` are the same company.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

import idna

from qualify.errors import InputError
from qualify.spool import RowSpool
from qualify.textfile import line_blocks, read_chunks

if TYPE_CHECKING:
    import tldextract

MAX_LINE_BYTES = 2048
# Reasons for rejected lines are kept for the first few; a million junk lines are only counted.
MAX_INVALID_KEPT = 1000
#: The one column a plain list carries: its line as written.
PLAIN_INPUT_COLUMN = "input"

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Most lines of a big list are already a bare domain: they skip the URL and IDN handling.
_BARE = re.compile(r"[A-Za-z0-9.-]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SPACE = re.compile(r"\s")
_JSON_ESCAPED = re.compile(r'[\x00-\x1f"\\\x7f\u2028\u2029]')

# Top-level labels that never name a public host (RFC 6761, RFC 2606's names for
# documentation and testing, RFC 8375, common intranet suffixes); the web qualifier's SSRF
# guard refuses them too.
SPECIAL_USE_TLDS = frozenset(
    ("localhost", "local", "internal", "intranet", "lan", "home", "corp", "private", "arpa",
     "invalid", "onion", "alt", "example", "test")
)  # fmt: skip


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
        # Imported here: it costs a tenth of a second, and `status` or `--help` never needs it.
        import tldextract

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
    allow_port: bool = True,
    public_suffix: bool = True,
) -> str:
    """Return the canonical domain for a line of input, or raise :class:`InvalidDomain`.

    The defaults read a pasted domain list (`qualify run`). The web qualifier, for the
    domain it is given and an ICP's ``exclude_domains``, keeps ``www.`` (a host of its own
    there) and refuses a bare ``host:port`` (a name takes no port; a URL's port is dropped
    either way). Without ``public_suffix`` the name is not looked up in the public suffix
    list (what finding a stored domain needs: `show RUN DOMAIN` starts without loading it).
    """
    if not isinstance(text, str):
        raise InvalidDomain(f"expected a domain name string, got {type(text).__name__}")
    host = text.strip()
    if _BARE.fullmatch(host):
        host = host.rstrip(".").lower()
        if not keep_www and host.startswith("www."):
            host = host[4:]
        _check_shape(host, public_suffix)
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
    _check_shape(host, public_suffix)
    return host


def _check_shape(host: str, public_suffix: bool = True) -> None:
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
    if tld in SPECIAL_USE_TLDS:
        raise InvalidDomain(f"a reserved name (.{tld}), not a public domain")
    if not public_suffix:
        return
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
    """The unique, normalised domains of a file in first-seen order, and what was skipped.

    ``columns`` names what each job carries from its input row (``rows``: the position in
    ``domains`` and a JSON array aligned with ``columns``, for each domain that carries
    anything, in order); ``domain_column`` is the
    one the domains were read from. A plain list carries its line, as ``input``, only where
    it differs from the domain (``https://www.acme.com/`` for ``acme.com``). ``unit`` is
    what the invalid entries' numbers count: file lines, or spreadsheet rows.
    """

    source: str
    domains: list[str] = field(default_factory=list)
    duplicates: int = 0
    invalid: list[InvalidLine] = field(default_factory=list)
    invalid_count: int = 0
    format: str = "text"
    columns: list[str] = field(default_factory=lambda: [PLAIN_INPUT_COLUMN])
    domain_column: str = PLAIN_INPUT_COLUMN
    #: Columns that agree with ``domain_column``, read where its cell is empty.
    fallback_columns: list[str] = field(default_factory=list)
    rows: RowSpool = field(default_factory=RowSpool)
    unit: str = "line"
    #: How many cells were cut to the carried size limit.
    cut_cells: int = 0

    def note_invalid(self, number: int, text: str, reason: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_INVALID_KEPT:
            self.invalid.append(InvalidLine(number, text[:200], reason))

    def check_not_empty(self) -> None:
        """Raise :class:`InputError` when not one valid domain was found."""
        if self.domains:
            return
        plural = "" if self.invalid_count == 1 else "s"
        detail = (
            f" ({self.invalid_count} invalid {self.unit}{plural})" if self.invalid_count else ""
        )
        first = ""
        if self.invalid:
            first = f"; first: {self.unit} {self.invalid[0].line}: {self.invalid[0].reason}"
        raise InputError(f"{self.source}: no valid domain{detail}{first}")

    def close(self) -> None:
        self.rows.close()


def iter_lines(stream: BinaryIO, source: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for content lines (blank lines and ``#`` comments
    left out), refusing binary data or text in no encoding :mod:`qualify.textfile` reads."""
    return content_lines(line_blocks(read_chunks(stream), source))


def content_lines(blocks: Iterable[list[str]]) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` of the lines that are neither blank nor a ``#`` comment."""
    done = 0
    for lines in blocks:
        for offset, line in enumerate(lines, start=done + 1):
            stripped = line.strip()
            if stripped and stripped[0] != "#":
                yield offset, stripped
        done += len(lines)


def read_domains(
    stream: BinaryIO, source: str, *, header_names: frozenset[str] = frozenset()
) -> DomainList:
    """Read a whole domain list from ``stream``; see :func:`read_domain_lines`."""
    return read_domain_lines(iter_lines(stream, source), source, header_names=header_names)


def read_domain_lines(
    lines: Iterable[tuple[int, str]],
    source: str,
    *,
    header_names: frozenset[str] = frozenset(),
    keep_lines: bool = True,
) -> DomainList:
    """Read a whole domain list, one pass, keeping only the unique normalised domains.

    A first line that is one of ``header_names`` (compared as :func:`header_key` gives
    them) is a header, not a bad domain. ``keep_lines``: each job carries its line as
    written where it differs from its domain."""
    result = DomainList(source=source)
    rows = result.rows
    # A dict keeps first-seen order and deduplicates in one structure.
    seen: dict[str, None] = {}
    lines = iter(lines)
    first = next(lines, None)
    if first is not None:
        is_header = bool(header_names) and header_key(first[1]) in header_names
        lines = lines if is_header else itertools.chain([first], lines)
    for number, line in lines:
        text = _strip_trailing_comment(line)
        try:
            if len(text) > MAX_LINE_BYTES:
                raise InvalidDomain(f"longer than {MAX_LINE_BYTES} characters")
            domain = normalise(text)
        except InvalidDomain as exc:
            result.note_invalid(number, text, str(exc))
            continue
        if domain in seen:
            result.duplicates += 1
        else:
            if keep_lines and text != domain:
                rows.add(len(seen), _one_cell_json(text))
            seen[domain] = None
    result.domains = list(seen)
    result.check_not_empty()
    return result


def _one_cell_json(text: str) -> str:
    """``json.dumps([text])``, without its cost for the common line (a URL) that holds
    nothing JSON escapes."""
    if _JSON_ESCAPED.search(text):
        return json.dumps([text], ensure_ascii=False)
    return f'["{text}"]'


def header_key(name: str) -> str:
    """A column header as compared with known names: ``Company Domain Name`` and
    ``company_domain_name`` are both ``companydomainname``."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _strip_trailing_comment(text: str) -> str:
    # "acme.com  # met at a fair" is a domain with a note; "#" inside a URL is a fragment.
    for marker in (" #", "\t#"):
        if marker in text:
            return text.split(marker, 1)[0].rstrip()
    return text
