"""Text files as people save them, read a megabyte at a time.

UTF-8 (with or without a byte order mark), UTF-16 with a byte order mark (Excel's "Unicode
Text") and Windows-1252 (Excel's CSV on Windows), with LF, CRLF or CR line endings. A file
that is ASCII up to its first byte that is not UTF-8 is Windows-1252 from the start (the two
agree on ASCII), so the choice never needs a second pass; a file that mixes UTF-8 with
other bytes is refused, naming the line.

Per-line work is what costs on a million lines, so each block is checked and decoded at
once and handed on as a list of lines.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from qualify.errors import InputError

BLOCK = 1 << 20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_chunks(stream: BinaryIO, size: int = BLOCK) -> Iterator[bytes]:
    """The bytes of ``stream``, ``size`` at a time."""
    while chunk := stream.read(size):
        yield chunk


def line_blocks(chunks: Iterable[bytes], source: str) -> Iterator[list[str]]:
    """The lines of a text file (without their line endings), one block of lines at a time,
    in order: the first block holds line 1. Raises :class:`InputError` naming the line for
    binary data or text in no encoding read here."""
    chunks = iter(chunks)
    first = next(chunks, b"")
    if first.startswith(_UTF16_BOMS):
        chunks = _utf16_as_utf8(first, chunks, source)
        first = next(chunks, b"")
    decoder = _Decoder(source)
    done = 0  # lines before the current block
    pending = first
    for chunk in _then_end(chunks):
        data = pending + chunk
        if chunk:
            cut = data.rfind(b"\n") + 1
            if not cut:
                # CR-only endings; a CR as the last byte may be the first half of a CRLF.
                cut = data.rfind(b"\r", 0, len(data) - 1) + 1
            if not cut:
                if len(data) > BLOCK:
                    raise InputError(f"{source}:{done + 1}: a line longer than 1 MB; not a list")
                pending = data
                continue
        else:
            cut = len(data)
            if not data:
                return
        block, pending = data[:cut], data[cut:]
        text = decoder.decode(block, done)
        if done == 0:
            text = text.removeprefix("\ufeff")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        yield lines
        done += len(lines)


def _then_end(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks, then one empty chunk that says the stream has ended."""
    yield from chunks
    yield b""


class _Decoder:
    """Decodes blocks that end at a line break: UTF-8, or Windows-1252 once a byte that is
    not UTF-8 shows up in a file that was ASCII until then."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.encoding = "utf-8"
        self.ascii_so_far = True

    def decode(self, block: bytes, done: int) -> str:
        nul = block.find(b"\x00")
        if nul >= 0:
            raise InputError(
                f"{self.source}:{_line_at(block, nul, done)}: binary data (NUL byte);"
                " expected a text file"
            )
        if self.encoding == "utf-8":
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not (self.ascii_so_far and block[: exc.start].isascii()):
                    line = _line_at(block, exc.start, done)
                    raise InputError(f"{self.source}:{line}: not UTF-8 text") from None
                self.encoding = "cp1252"
            else:
                self.ascii_so_far = self.ascii_so_far and block.isascii()
                return text
        try:
            return block.decode("cp1252")
        except UnicodeDecodeError as exc:
            line = _line_at(block, exc.start, done)
            raise InputError(
                f"{self.source}:{line}: not text (neither UTF-8 nor Windows-1252)"
            ) from None


def _line_at(block: bytes, position: int, done: int) -> int:
    breaks = block.count(b"\n", 0, position) or block.count(b"\r", 0, position)
    return done + breaks + 1


def _utf16_as_utf8(first: bytes, chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """A UTF-16 file (its byte order mark tells which) as UTF-8 bytes, so it takes the same
    path as every other file; UTF-16 files are rare and small next to a million-line list."""
    decoder = codecs.getincrementaldecoder("utf-16")("strict")
    lines = 0
    for raw in _then_end(_prepend(first, chunks)):
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError:
            raise InputError(f"{source}:{lines + 1}: not UTF-16 text") from None
        if text:
            lines += text.count("\n")
            yield text.encode("utf-8")


def _prepend(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from chunks
