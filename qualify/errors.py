"""Typed errors raised by the library; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from typing import Any


class QualifyError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 1


class InputError(QualifyError):
    """Bad input or usage: a file, an option, a record. The message names the culprit."""

    exit_code = 2


class NotFoundError(InputError):
    """A run, job or domain that does not exist."""


class ConfigError(InputError):
    """A malformed setting, such as a database or queue URL."""


class StoreVersionError(ConfigError):
    """The store's schema is not the one this qualify reads and writes."""


class NewerStoreError(StoreVersionError):
    """The store was written by a newer qualify: this one must not write it."""

    def __init__(self, where: str, migration: str) -> None:
        self.migration = migration
        super().__init__(f"{where} was written by a newer qualify ({migration}); upgrade qualify")


class NotAStoreError(ConfigError):
    """The database holds another program's tables, not a qualify store."""


class BackendUnavailable(QualifyError):
    """The database or queue server cannot be reached."""


class StoreUnavailable(BackendUnavailable):
    """The whole store cannot be written now (disk full, connection lost): ``cause`` says
    why. Never a job's error: its outcome is held and recorded when the store is back."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(f"store unavailable ({cause})")


class InvalidStateError(QualifyError):
    """The operation does not apply to the object in its current state."""


class ICPError(InputError):
    """The ICP does not satisfy the qualifier's schema; ``path`` names the field."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class QualifierError(Exception):
    """Raised by a qualifier for one domain. ``code`` is a stable, machine-readable reason."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or type(self).__name__


class TransientError(QualifierError):
    """Worth retrying later: the job waits with backoff, then runs again."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentError(QualifierError):
    """Retrying cannot help: the job fails at once and keeps this error."""


class OurSideError(TransientError):
    """A failure that may lie on our side (our network, resolver, gateway or credentials)
    rather than with the company. The worker's outage breaker weighs these before anything
    is recorded: many of them at once pause the worker instead of becoming results.

    ``scope`` names what would be broken, as the worker shows it when it pauses
    (``network``, ``llm endpoint``). ``kind`` names what failed, as one would count it
    (``lookup``, ``connection``, ``TLS handshake``, ``request``). ``subject`` is what the
    failure is about (a domain): the breaker counts distinct subjects. ``certain`` skips the
    counting: one such failure pauses the worker (a 401 from our own model endpoint says all
    there is to say). ``result`` is what to record instead if our side proves healthy (a
    dns_nxdomain result: the company has no website); without it the failure is an ordinary
    :class:`TransientError` then (retried with backoff).

    A qualifier may also offer ``probe(error) -> bool | None``: True once our side answers
    again, False while it does not, None when it cannot tell (the worker then tries one job).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        kind: str = "request",
        subject: str | None = None,
        scope: str = "network",
        certain: bool = False,
        result: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.kind = kind
        self.subject = subject
        self.scope = scope
        self.certain = certain
        self.result = result
