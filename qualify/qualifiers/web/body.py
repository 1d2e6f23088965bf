"""Response bodies: bounded decompression (gzip bombs) and charset decoding."""

from __future__ import annotations

import codecs
import re
import zlib

# Only what we decode ourselves is advertised, so a server has no reason to send brotli.
ACCEPT_ENCODING = "gzip, deflate"


class UnsupportedEncoding(Exception):
    pass


class _Inflater:
    """One gzip or deflate layer that never produces more than asked for per call."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._obj = self._new()
        self._raw_deflate_tried = False

    def _new(self, wbits: int | None = None) -> zlib._Decompress:
        if wbits is None:
            wbits = 16 + zlib.MAX_WBITS if self._kind == "gzip" else zlib.MAX_WBITS
        return zlib.decompressobj(wbits)

    def decompress(self, data: bytes, limit: int) -> bytes:
        out = bytearray()
        while data and len(out) <= limit:
            try:
                out += self._obj.decompress(data, limit + 1 - len(out))
            except zlib.error:
                if self._kind == "deflate" and not self._raw_deflate_tried:
                    # Some servers send raw deflate without the zlib header.
                    self._raw_deflate_tried = True
                    self._obj = self._new(-zlib.MAX_WBITS)
                    continue
                raise
            if self._obj.unconsumed_tail:
                data = self._obj.unconsumed_tail
            elif self._obj.eof and self._obj.unused_data.startswith(b"\x1f\x8b"):
                data = self._obj.unused_data  # concatenated gzip members
                self._obj = self._new()
            else:
                data = b""
        return bytes(out)


class BoundedDecoder:
    """Decodes a Content-Encoding stream, keeping at most ``limit`` bytes of output.

    ``feed`` returns False once the limit is exceeded; decompression is done in bounded
    steps, so a tiny gzip bomb cannot inflate to gigabytes in memory first.
    """

    def __init__(self, content_encoding: str, limit: int) -> None:
        self.limit = limit
        self.overflow = False
        self._buf = bytearray()
        self._layers: list[_Inflater] = []
        # Encodings are listed in the order applied, so they are undone in reverse.
        for token in reversed([t.strip().lower() for t in content_encoding.split(",")]):
            if token in ("", "identity"):
                continue
            if token in ("gzip", "x-gzip"):
                self._layers.append(_Inflater("gzip"))
            elif token == "deflate":
                self._layers.append(_Inflater("deflate"))
            else:
                raise UnsupportedEncoding(token)

    def feed(self, chunk: bytes) -> bool:
        if self.overflow:
            return False
        room = self.limit - len(self._buf)
        data = chunk
        for layer in self._layers:
            data = layer.decompress(data, room)
        if len(data) > room:
            self._buf += data[:room]
            self.overflow = True
            return False
        self._buf += data
        return True

    def data(self) -> bytes:
        return bytes(self._buf)


_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]{1,40})""", re.I)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, content_type: str = "") -> tuple[str, str]:
    """Bytes to (text, encoding): BOM, header charset, <meta charset>, else UTF-8 or cp1252."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):  # fmt: skip
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace"), f"{encoding}-bom"
    found = _HEADER_CHARSET.search(content_type)
    declared = _codec(found.group(1)) if found else None
    if declared is None:
        meta = _META_CHARSET.search(data[:4096])
        declared = _codec(meta.group(1).decode("ascii", "replace")) if meta else None
    if declared is not None and declared != "utf-8":
        return data.decode(declared, errors="replace"), declared
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if declared:
            return data.decode("utf-8", errors="replace"), "utf-8-replaced"
        # Undeclared legacy pages are mostly Windows-1252; UTF-8 with replacement would
        # turn every umlaut into U+FFFD and break keyword matching.
        return data.decode("cp1252", errors="replace"), "cp1252"
