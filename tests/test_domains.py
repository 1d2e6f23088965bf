from __future__ import annotations

import io
import json

import pytest

from qualify.domains import (
    SPECIAL_USE_TLDS,
    InvalidDomain,
    normalise,
    public_suffixes,
    read_domains,
)
from qualify.errors import InputError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("  ACME.com  ", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("acme.com.", "acme.com"),
        ("https://www.Acme.com/about?x=1#team", "acme.com"),
        ("http://acme.co.uk:8080/", "acme.co.uk"),
        ("acme.com/pricing", "acme.com"),
        ("user@acme.com", "acme.com"),
        ("blog.acme.io", "blog.acme.io"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("https://MÜNCHEN.de", "xn--mnchen-3ya.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_normalise_canonical_forms(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("10.0.0.1", "IP address"),
        ("https://192.168.1.1/admin", "IP address"),
        ("[::1]", "IP address"),
        ("localhost", "reserved"),
        ("printer.local", "reserved"),
        ("acme.example", "reserved"),
        ("acme", "no public suffix"),
        ("acme.notatld", "no public suffix"),
        ("co.uk", "public suffix, not a domain"),
        ("acme .com", "spaces"),
        ("acme_corp.com", "not a host name"),
        ("-acme.com", "not a host name"),
        ("acme..com", "not a host name"),
        ("a" * 64 + ".com", "not a host name"),
        ("http://", "no host name"),
    ],
)
def test_normalise_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidDomain, match=reason):
        normalise(raw)


def test_the_suffix_shortcut_agrees_with_tldextract_on_every_rule() -> None:
    # normalise answers most names from the suffixes no rule extends; every rule of the
    # bundled list, as a name of its own and under one or two more labels, must get the
    # answer tldextract's own lookup gives.
    extractor = public_suffixes()
    checked = 0
    for rule in extractor.tlds:
        name = rule.lstrip("!").replace("*", "wild")
        if not name.isascii() or name.rsplit(".", 1)[-1] in SPECIAL_USE_TLDS:
            continue
        for host in (name, f"acme.{name}", f"shop.acme.{name}"):
            parts = extractor.extract_str(host)
            try:
                normalise(host, keep_www=True)
            except InvalidDomain:
                accepted = False
            else:
                accepted = True
            assert accepted == bool(parts.suffix and parts.domain), host
            checked += 1
    assert checked > 15_000


def test_one_public_suffix_extractor_per_process() -> None:
    from qualify.qualifiers.web import domains as sites

    assert public_suffixes() is public_suffixes()
    assert sites.registrable_domain("www.shop.acme.co.uk") == "acme.co.uk"
    assert sites.public_suffixes is public_suffixes


def _read(text: bytes) -> object:
    return read_domains(io.BytesIO(text), "domains.txt")


def test_read_counts_duplicates_and_invalid_lines_by_number() -> None:
    result = _read(
        b"# leads from the fair\n"
        b"acme.com\n"
        b"\n"
        b"https://www.acme.com/\n"
        b"localhost\n"
        b"Globex.io  # met at the booth\n"
        b"not a domain\n"
        b"ACME.COM.\n"
    )
    assert result.domains == ["acme.com", "globex.io"]
    assert result.duplicates == 2
    assert [(line.line, line.text) for line in result.invalid] == [
        (5, "localhost"),
        (7, "not a domain"),
    ]
    assert result.invalid_count == 2


def test_read_strips_utf8_bom() -> None:
    assert _read("\ufeffacme.com\n".encode()).domains == ["acme.com"]


def test_read_handles_crlf_and_missing_final_newline() -> None:
    assert _read(b"acme.com\r\nglobex.io").domains == ["acme.com", "globex.io"]


def test_binary_file_is_an_error_naming_the_line() -> None:
    with pytest.raises(InputError, match=r"^domains\.txt:2: binary data"):
        _read(b"acme.com\n\x00\x01\x02\n")


def test_utf8_mixed_with_other_bytes_is_an_error_naming_the_line() -> None:
    # UTF-8 up to line 2, then a byte that is not: no encoding reads both.
    with pytest.raises(InputError, match=r"^domains\.txt:3: not UTF-8"):
        _read("acme.com\nbücher.de\n".encode() + b"\xff\xfe bad\n")


def test_bytes_in_no_encoding_read_here_are_an_error_naming_the_line() -> None:
    # 0x81 is neither UTF-8 nor Windows-1252.
    with pytest.raises(InputError, match=r"^domains\.txt:2: not text \(neither UTF-8 nor"):
        _read(b"acme.com\n\x81bad.com\n")


def test_file_without_a_valid_domain_is_an_error() -> None:
    with pytest.raises(InputError, match=r"^domains\.txt: no valid domain \(2 invalid lines\)"):
        _read(b"# nothing\nlocalhost\n127.0.0.1\n")


def test_empty_file_is_an_error() -> None:
    with pytest.raises(InputError, match="no valid domain"):
        _read(b"")


def test_invalid_line_details_are_capped_but_counted() -> None:
    result = _read(b"acme.com\n" + b"bad line\n" * 1500)
    assert result.invalid_count == 1500
    assert len(result.invalid) == 1000


def test_a_large_list_is_read_in_one_pass() -> None:
    lines = "".join(f"company{i}.com\n" for i in range(50_000)).encode()
    repeats = "".join(f"https://www.company{i}.com/\n" for i in range(0, 50_000, 50)).encode()
    result = _read(lines + repeats)
    assert len(result.domains) == 50_000
    assert result.domains[:2] == ["company0.com", "company1.com"]
    assert result.duplicates == 1000


def test_each_job_carries_its_line_as_written_where_it_is_not_its_domain() -> None:
    # Positions in the list of unique domains, and JSON that holds any text (the fast path
    # for lines without anything to escape must agree with json.dumps).
    result = _read(
        b"acme.com\n"
        b"https://www.Globex.io/about\n"
        b'https://initech.com/a"b\\\\c\n'
        b"ACME.COM\n" + "https://bücher.de/\n".encode()
    )
    assert result.domains == ["acme.com", "globex.io", "initech.com", "xn--bcher-kva.de"]
    assert [(position, json.loads(row)) for position, row in result.rows] == [
        (1, ["https://www.Globex.io/about"]),
        (2, ['https://initech.com/a"b\\\\c']),
        (3, ["https://bücher.de/"]),
    ]
