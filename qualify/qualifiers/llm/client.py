"""A plain httpx client for an OpenAI-compatible ``/v1/chat/completions`` endpoint.

No SDK and no retries inside a call: a job's retries are the worker's (with backoff, and a
server's ``Retry-After`` / ``retry-after-ms`` as the floor), and stacking a second layer of
them under ours would multiply the bill. Every reply is validated here against the answer's
JSON Schema, whatever the server claims to enforce.

Structured output, most to least strict: ``json_schema`` (OpenAI, vLLM, recent Ollama and
llama.cpp), ``json_object`` with the schema in the prompt, then prompt-only JSON. A server
that refuses a mode (an HTTP 400/422/500/501 to the request that asked for it: llama-cpp-
python answers 500) is asked again in the next one, and the mode that worked is remembered
for that endpoint and model for the life of the process. A reply that does not validate
gets one repair request (the error is shown to the model); a second bad reply, a reply cut
by ``max_tokens`` (``finish_reason == "length"``) or no choices at all end the job as
``llm_bad_output``, a permanent error: the same prompt would fail the same way again.

Failures, in the existing taxonomy (:mod:`qualify.errors`):

- 429 and 503: :class:`TransientError` (``llm_rate_limited``, ``llm_unavailable``) with the
  server's delay; other 5xx ``llm_5xx``; a read timeout ``llm_timeout``.
- 401, 403, an unknown model, a 404 for the endpoint itself, a connection that cannot be
  made: :class:`OurSideError` (``scope="llm endpoint"``, ``certain=True``), so the worker
  pauses with one line instead of failing every domain, and probes with :meth:`check`.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema

from qualify.errors import OurSideError, PermanentError, TransientError
from qualify.llmledger import Usage
from qualify.qualifiers.llm.prompt import ANSWER_SCHEMA
from qualify.settings import LlmSettings

MODES = ("json_schema", "json_object", "prompt")
SCOPE = "llm endpoint"
BAD_OUTPUT = "llm_bad_output"
# Statuses with which a server refuses a structured-output mode it does not support.
_MODE_REFUSED = {400, 422, 500, 501}
_VALIDATOR = jsonschema.Draft202012Validator(ANSWER_SCHEMA)

# Per endpoint and model, the mode that worked: shared by every client of the process.
_modes: dict[tuple[str, str], str] = {}
_modes_lock = threading.Lock()


@dataclass(frozen=True)
class Reply:
    answer: dict[str, Any]
    usage: Usage
    model: str  # as the server named it
    mode: str
    repaired: bool = False


def chat_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def models_url(base_url: str) -> str:
    return chat_url(base_url).rsplit("/chat/completions", 1)[0] + "/models"


def forget_modes() -> None:
    """Forget which modes worked (tests)."""
    with _modes_lock:
        _modes.clear()


class LlmClient:
    """One endpoint; thread-safe; at most ``settings.concurrency`` requests in flight."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.url = chat_url(settings.base_url)
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(settings.timeout, connect=10.0),
            limits=httpx.Limits(max_connections=settings.concurrency),
            trust_env=False,  # never a proxy from the environment between us and our model
        )
        self._slots = threading.BoundedSemaphore(settings.concurrency)

    def close(self) -> None:
        self._http.close()

    def mode_for(self, model: str) -> str:
        with _modes_lock:
            return _modes.get((self.url, model), MODES[0])

    # -- asking ---------------------------------------------------------------------------

    def ask(self, model: str, messages: list[dict[str, str]]) -> Reply:
        """The model's validated answer to ``messages``; raises as the module says."""
        mode = self.mode_for(model)
        while True:
            try:
                data = self._post(model, messages, mode)
            except _Refused:
                following = MODES.index(mode) + 1
                if following >= len(MODES):
                    raise PermanentError(
                        f"llm: {self.url} refused a plain chat request", code="llm_bad_request"
                    ) from None
                mode = MODES[following]
                continue
            break
        with _modes_lock:
            _modes[(self.url, model)] = mode
        usage = _usage(data, messages)
        content, problem = _content(data)
        answer, problem = (None, problem) if problem else _parse(content)
        if answer is not None:
            return Reply(answer, usage, str(data.get("model") or model), mode)
        if problem and problem.startswith(("cut", "no choices")):
            raise BadOutput(f"llm: {problem}", usage)
        # One repair: show the model what was wrong. A second failure is final.
        repair = [
            *messages,
            {"role": "assistant", "content": content or ""},
            {
                "role": "user",
                "content": f"That reply is invalid: {problem}. Answer again with"
                " only the JSON object, in the required shape.",
            },
        ]
        again = self._post(model, repair, mode)
        usage = usage + _usage(again, repair)
        content, problem2 = _content(again)
        answer, problem2 = (None, problem2) if problem2 else _parse(content)
        if answer is None:
            raise BadOutput(f"llm: bad output after one repair: {problem2}", usage)
        return Reply(answer, usage, str(again.get("model") or model), mode, repaired=True)

    def _post(self, model: str, messages: list[dict[str, str]], mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.settings.max_output_tokens,
        }
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "icp_verdict", "schema": ANSWER_SCHEMA, "strict": True},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        with self._slots:
            try:
                response = self._http.post(self.url, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise self._unreachable(exc) from None
            except httpx.TimeoutException:
                raise TransientError(
                    f"llm: no answer from {self.url} within {self.settings.timeout:g}s",
                    code="llm_timeout",
                ) from None
            except httpx.HTTPError as exc:
                raise TransientError(f"llm: {self.url}: {exc}", code="llm_transport") from None
        if response.status_code == 200:
            try:
                data = response.json()
            except ValueError:
                raise PermanentError(
                    f"llm: {self.url} answered 200 with a body that is not JSON", code=BAD_OUTPUT
                ) from None
            if not isinstance(data, dict):
                raise PermanentError(
                    f"llm: {self.url} answered {type(data).__name__}", code=BAD_OUTPUT
                )
            return data
        raise self._status_error(response, model, mode)

    def _status_error(self, response: httpx.Response, model: str, mode: str) -> Exception:
        status = response.status_code
        text = response.text[:300]
        if status in (401, 403):
            return self._ours(
                f"llm: {status} from {self.url}; check QUALIFY_LLM_API_KEY",
                "llm_auth",
                "authentication",
            )
        if _unknown_model(status, text):
            return self._ours(
                f"llm: model {model!r} is not served at {self.url}; check --model or"
                " QUALIFY_LLM_MODEL",
                "llm_model",
                "model",
            )
        if status == 404:
            return self._ours(
                f"llm: 404 from {self.url}; check QUALIFY_LLM_BASE_URL", "llm_endpoint", "request"
            )
        if status in (429, 503):
            code = "llm_rate_limited" if status == 429 else "llm_unavailable"
            return TransientError(
                f"llm: {status} from {self.url}",
                code=code,
                retry_after=retry_after(response.headers),
            )
        if mode != "prompt" and status in _MODE_REFUSED:
            return _Refused()
        if status >= 500:
            return TransientError(
                f"llm: {status} from {self.url}: {text}",
                code="llm_5xx",
                retry_after=retry_after(response.headers),
            )
        return PermanentError(f"llm: {status} from {self.url}: {text}", code="llm_bad_request")

    def _ours(self, message: str, code: str, kind: str) -> OurSideError:
        return OurSideError(
            message, code=code, kind=kind, subject=self.url, scope=SCOPE, certain=True
        )

    def _unreachable(self, exc: Exception) -> OurSideError:
        return self._ours(
            f"llm: cannot connect to {self.url} ({type(exc).__name__}); check QUALIFY_LLM_BASE_URL",
            "llm_unreachable",
            "connection",
        )

    # -- checking -------------------------------------------------------------------------

    def check(self, model: str | None) -> None:
        """Before a run is written, or to probe after a pause: the endpoint answers, takes
        our key and serves ``model``. Asks ``/models`` (free: no tokens); a server without
        that list is taken at its word. Raises the OurSideError a job would."""
        url = models_url(self.settings.base_url)
        try:
            response = self._http.get(url, timeout=min(self.settings.timeout, 15.0))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.TimeoutException) as exc:
            raise self._unreachable(exc) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code in (401, 403):
            raise self._ours(
                f"llm: {response.status_code} from {url}; check QUALIFY_LLM_API_KEY",
                "llm_auth",
                "authentication",
            )
        if response.status_code != 200:
            return  # no model list here (some servers): the first job will tell
        try:
            listed = {str(m.get("id")) for m in response.json().get("data") or []}
        except (ValueError, AttributeError):
            return
        if (
            model
            and listed
            and model not in listed
            and not any(m.split(":")[0] == model or model.split(":")[0] == m for m in listed)
        ):
            raise self._ours(
                f"llm: model {model!r} is not served at {url} (it serves"
                f" {', '.join(sorted(listed)[:5])}); check --model or QUALIFY_LLM_MODEL",
                "llm_model",
                "model",
            )


class BadOutput(PermanentError):
    """The model's answer was unusable; ``usage`` is what the attempt cost all the same."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message, code=BAD_OUTPUT)
        self.usage = usage


class _Refused(Exception):
    """The server refused the structured-output mode asked for."""


def _unknown_model(status: int, text: str) -> bool:
    lowered = text.lower()
    return (
        status in (400, 404)
        and "model" in lowered
        and any(
            w in lowered
            for w in (
                "not found",
                "does not exist",
                "unknown model",
                "model_not_found",
                "no such model",
            )
        )
    )


def retry_after(headers: httpx.Headers) -> float | None:
    """A server's requested delay in seconds: ``retry-after-ms``, else ``Retry-After`` as
    seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _usage(data: dict[str, Any], messages: list[dict[str, str]]) -> Usage:
    raw = data.get("usage")
    if isinstance(raw, dict) and isinstance(raw.get("prompt_tokens"), int):
        completion = raw.get("completion_tokens")
        return Usage(raw["prompt_tokens"], completion if isinstance(completion, int) else 0)
    # No usage reported: count four characters a token, and say so.
    prompt_chars = sum(len(m.get("content") or "") for m in messages)
    content, _ = _content(data)
    return Usage(prompt_chars // 4 + 1, len(content or "") // 4 + 1, estimated=True)


def _content(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """The reply's text, or why there is none."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, "no choices in the reply"
    choice = choices[0]
    if choice.get("finish_reason") == "length":
        return None, "cut off at max_tokens (finish_reason length)"
    message = choice.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str) or not content.strip():
        return None, "an empty reply"
    return content, None


def _parse(content: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in ``content`` (code fences and chatter around it tolerated),
    validated against the answer's schema; or why not."""
    text = (content or "").strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None, "no JSON object in the reply"
    try:
        answer = json.loads(text[start : end + 1])
    except ValueError as exc:
        return None, f"malformed JSON ({exc})"
    errors = sorted(_VALIDATOR.iter_errors(answer), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "the answer"
        return None, f"{where}: {first.message[:200]}"
    return answer, None
