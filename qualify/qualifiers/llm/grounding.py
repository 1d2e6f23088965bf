"""Quote verification: is what the model quoted really on the page it cited?

Both sides are normalised first (NFKC, case, whitespace, quotes and dashes), so a curly
quote or a non-breaking space the model retyped is not a hallucination. Then:

- ``exact``: the normalised quote is a substring of the normalised page text. A quote that
  elides with ``...`` is checked piece by piece, in order.
- ``fuzzy``: otherwise, the best-aligned window of the page (around its longest common
  runs with the quote) must share at least ``FUZZY_THRESHOLD`` of the quote's characters;
  recorded as ``fuzzy`` so a reader knows it was not word for word.
- ``unverified``: neither, or the quote is too short to prove anything (``"."``, a single
  word): it needs ``MIN_QUOTE_CHARS`` letters or digits in ``MIN_QUOTE_WORDS`` words.

Figures are held to the letter, because they are what size criteria turn on and what a
fuzzy alignment forgives most easily ("80 engineers" and "800 engineers" align at 0.96): a
fuzzy quote's figures must all stand on the page, and the claim's figures must all stand in
the quote (the quote must contain what it claims), else the reason is unverified.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

EXACT = "exact"
FUZZY = "fuzzy"
UNVERIFIED = "unverified"
VERIFIED = (EXACT, FUZZY)

MIN_QUOTE_CHARS = 12
MIN_QUOTE_WORDS = 2
FUZZY_THRESHOLD = 0.9
# Longest common runs shorter than this are not worth aligning around.
_MIN_ANCHOR = 8
_MAX_ANCHORS = 6

_QUOTES = dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u2032\u0060\u00b4"), "'")
_QUOTES.update(
    dict.fromkeys(map(ord, "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u2039\u203a"), '"')
)
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), "-")
_SPACE = re.compile(r"\s+")
_ELISION = re.compile(r"\s*(?:\.\.\.|\[\.\.\.\]|\(\.\.\.\))\s*")
_WORD = re.compile(r"\w{2,}")
# A figure as written: 80, 1,000, 1.000, 2.5 (digits joined by a separator are one figure).
_FIGURE = re.compile(r"\d+(?:[.,'\u00a0 ]\d{3})*(?:[.,]\d+)?")


def normalise(text: str) -> str:
    """The form both a quote and a page are compared in."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_QUOTES).translate(_DASHES).replace('"', "'")
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Check:
    """How a quote fared: ``status`` (exact, fuzzy, unverified), the alignment ``ratio``
    for a fuzzy match, and ``why`` for an unverified one."""

    status: str
    ratio: float = 1.0
    why: str | None = None

    @property
    def verified(self) -> bool:
        return self.status in VERIFIED


def substantial(quote: str) -> bool:
    """Whether a quote is long enough to prove anything."""
    words = _WORD.findall(normalise(quote))
    return len(words) >= MIN_QUOTE_WORDS and sum(len(w) for w in words) >= MIN_QUOTE_CHARS


def figures(text: str) -> set[str]:
    """The figures in ``text``, separators dropped (``1,000`` and ``1000`` are one)."""
    return {re.sub(r"\D", "", found) for found in _FIGURE.findall(normalise(text))}


def verify(quote: str, page_text: str, claim: str = "") -> Check:
    """Check ``quote`` against ``page_text``, and that it holds the figures ``claim``
    states (see the module docstring)."""
    if not substantial(quote):
        return Check(UNVERIFIED, 0.0, "quote too short to verify")
    text = normalise(page_text)
    wanted = normalise(quote).strip(" '")
    pieces = [p for p in _ELISION.split(wanted) if p.strip(" '")]
    if _in_order(pieces, text):
        found = Check(EXACT)
    else:
        ratio = min((_aligned(piece, text) for piece in pieces), default=0.0)
        if ratio < FUZZY_THRESHOLD:
            return Check(UNVERIFIED, round(ratio, 3), "quote not found on the cited page")
        altered = sorted(figures(quote) - figures(page_text))
        if altered:
            return Check(UNVERIFIED, round(ratio, 3), f"figure {altered[0]} is not on the page")
        found = Check(FUZZY, round(ratio, 3))
    unsupported = sorted(figures(claim) - figures(quote))
    if unsupported:
        return Check(UNVERIFIED, found.ratio, f"the claim's {unsupported[0]} is not in the quote")
    return found


def _in_order(pieces: list[str], text: str) -> bool:
    at = 0
    for piece in pieces:
        found = text.find(piece.strip(" '"), at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _aligned(quote: str, text: str) -> float:
    """The share of ``quote``'s characters that the best window of ``text`` matches."""
    if not quote or not text:
        return 0.0
    matcher = SequenceMatcher(None, text, quote, autojunk=False)
    anchors = sorted(
        (b for b in matcher.get_matching_blocks() if b.size >= _MIN_ANCHOR),
        key=lambda b: -b.size,
    )[:_MAX_ANCHORS]
    best = 0.0
    span = len(quote) + len(quote) // 10 + 2
    for block in anchors:
        start = max(0, block.a - block.b - len(quote) // 20)
        window = text[start : start + span]
        matched = sum(
            b.size
            for b in SequenceMatcher(None, quote, window, autojunk=False).get_matching_blocks()
        )
        best = max(best, matched / len(quote))
    return best
