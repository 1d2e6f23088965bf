"""Reading the user's input files: the ICP and the domain list, with errors that name the file."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from qualify.domains import DomainList, read_domains
from qualify.errors import InputError

MAX_ICP_BYTES = 1_000_000


@contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading (``-`` is stdin), turning OS errors into InputError."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, errors translated here
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with stream:
        try:
            yield stream
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, expected a file") from None


def source_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def load_domains(path: str) -> DomainList:
    with open_input(path) as stream:
        return read_domains(stream, source_name(path))


def load_icp(path: str) -> dict[str, Any]:
    """Load an ICP file: UTF-8 JSON holding one object."""
    name = source_name(path)
    with open_input(path) as stream:
        data = stream.read(MAX_ICP_BYTES + 1)
    if len(data) > MAX_ICP_BYTES:
        raise InputError(f"{name}: larger than {MAX_ICP_BYTES:,} bytes; an ICP is a small file")
    if b"\x00" in data:
        raise InputError(f"{name}: binary data (NUL byte); expected a JSON file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{name}: empty file; expected a JSON object")
    try:
        icp = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(icp, dict):
        raise InputError(f"{name}: expected a JSON object, got {_json_type(icp)}")
    return icp


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
