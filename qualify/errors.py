"""Typed errors raised by the library; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


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


class BackendUnavailable(QualifyError):
    """The database or queue server cannot be reached."""


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
