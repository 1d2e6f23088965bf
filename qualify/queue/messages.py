"""A queue message is the text ``qualify-job:<id>``, and nothing else is accepted.

A message is only a hint that a job may be ready (DESIGN.md: the store is the truth), so it
carries the job id and nothing more. :func:`decode` accepts nothing else: a message planted
on a shared queue server can at worst wake a worker for a job that does not need it; it can
never run code (huey's default pickle serializer would).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("qualify.queue")

PREFIX = "qualify-job:"
#: The job id after the prefix, as a regular expression that Python and PostgreSQL read alike
#: (the store's pop_and_claim_jobs decodes messages on the server).
DIGITS = "[1-9][0-9]{0,17}"
_PREFIX_BYTES = PREFIX.encode("ascii")
_MESSAGE = re.compile(re.escape(_PREFIX_BYTES) + b"(" + DIGITS.encode("ascii") + b")")


class ForgedMessage(ValueError):
    """A queue message that is not one of ours."""


def encode(job_id: int) -> bytes:
    return _PREFIX_BYTES + str(int(job_id)).encode("ascii")


def decode(data: Any) -> int:
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ForgedMessage(f"refused a queue message of type {type(data).__name__}")
    match = _MESSAGE.fullmatch(bytes(data))
    if match is None:
        raise ForgedMessage(f"refused a queue message that is not a job id: {bytes(data)[:60]!r}")
    return int(match.group(1))


def decode_all(messages: Iterable[Any]) -> list[int]:
    """Decode messages, logging and dropping anything that is not a job id."""
    job_ids = []
    for data in messages:
        try:
            job_ids.append(decode(data))
        except ForgedMessage as exc:
            log.warning("%s", exc)
    return job_ids
