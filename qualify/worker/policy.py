"""The retry policy: turning what a qualifier did into what the store records.

A result is recorded as done. ``PermanentError`` fails the job at once. ``TransientError``, or
any other exception, waits with exponential backoff and jitter (a server's ``Retry-After`` is
a floor) and runs again, until the run's ``max_attempts`` are used up; then the job fails with
the last error. An ``OurSideError`` that reaches this point was judged the site's own (by the
outage breaker, or with the breaker off): its ``result``, if it has one, is the outcome.
"""

from __future__ import annotations

from qualify.backoff import retry_delay
from qualify.errors import OurSideError, PermanentError, QualifierError
from qualify.qualifiers import QualifierResult, check_result
from qualify.store import ClaimedJob, Outcome, RunPlan

MAX_ERROR_CHARS = 500


def decide(job: ClaimedJob, plan: RunPlan, produced: QualifierResult | BaseException) -> Outcome:
    if isinstance(produced, OurSideError) and produced.result is not None:
        try:
            produced = check_result(produced.result)
        except QualifierError as exc:
            produced = exc
    if isinstance(produced, QualifierResult):
        return Outcome.done(job, produced)
    code, message = describe(produced)
    if isinstance(produced, PermanentError):
        return Outcome.failed(job, code, message)
    if job.attempts >= plan.max_attempts:
        return Outcome.failed(job, code, f"gave up after {job.attempts} attempts: {message}")
    retry_after = getattr(produced, "retry_after", None)
    return Outcome.retry(job, retry_delay(plan.backoff, job.attempts, retry_after), code, message)


def describe(error: BaseException) -> tuple[str, str]:
    """A stable code and a one-line message for an error a qualifier raised."""
    try:
        text = str(error)
    except Exception as exc:  # an exception whose own message raises
        text = f"(its message cannot be read: {type(exc).__name__})"
    if isinstance(error, QualifierError):
        code, message = error.code, text
    else:
        code, message = "unexpected_error", f"{type(error).__name__}: {text}"
    # One line, and nothing a database refuses in text (PostgreSQL rejects NUL).
    message = " ".join(message.replace("\x00", " ").split()) or type(error).__name__
    return code, message[:MAX_ERROR_CHARS]


def summary(outcome: Outcome) -> str:
    """How a job ended, for the worker's log."""
    if outcome.result is not None:
        score = "-" if outcome.result.score is None else f"{outcome.result.score:g}"
        return f"done: {outcome.result.verdict}, score {score}"
    if outcome.retry_in is not None:
        return f"retry in {outcome.retry_in:.1f}s after {outcome.error_code}: {outcome.error}"
    return f"failed: {outcome.error_code}: {outcome.error}"
