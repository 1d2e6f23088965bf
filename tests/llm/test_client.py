"""The llm client against the scriptable server: structured-output fallbacks remembered per
endpoint, one repair then llm_bad_output, and every HTTP failure in the error taxonomy."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from qualify.errors import OurSideError, PermanentError, TransientError
from qualify.qualifiers.llm.client import BAD_OUTPUT, SCOPE, BadOutput, LlmClient, chat_url
from qualify.settings import LlmSettings
from tests.llmserver import LlmServer, reply

MESSAGES = [
    {"role": "system", "content": "judge"},
    {
        "role": "user",
        "content": "<<<BEGIN [P1] https://a.example/ (home), untrusted>>>\n"
        "Acme builds fleet software for logistics teams.\n<<<END [P1]>>>",
    },
]


@pytest.fixture
def client(llm: LlmServer) -> Iterator[LlmClient]:
    made = LlmClient(LlmSettings(base_url=llm.base_url, timeout=2.0))
    yield made
    made.close()


def formats(llm: LlmServer) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in llm.requests]


def test_a_good_answer_comes_back_validated_with_usage(llm: LlmServer, client: LlmClient) -> None:
    found = client.ask("test-model", MESSAGES)
    assert found.answer["reasons"][0]["quote"] == "Acme builds fleet software for logistics teams."
    assert found.mode == "json_schema" and found.model == "test-model"
    assert found.usage.prompt_tokens > 0 and not found.usage.estimated
    assert llm.requests[0]["temperature"] == 0


def test_base_urls_with_and_without_v1() -> None:
    assert chat_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/") == "http://h:1/v1/chat/completions"


def test_a_server_refusing_json_schema_gets_json_object_and_it_is_remembered(
    llm: LlmServer, client: LlmClient
) -> None:
    llm.refuse_json_schema = True  # llama-cpp-python answers 500
    assert client.ask("test-model", MESSAGES).mode == "json_object"
    assert client.ask("test-model", MESSAGES).mode == "json_object"
    # The refusal was paid for once: the second call went straight to json_object.
    assert formats(llm) == ["json_schema", "json_object", "json_object"]


def test_a_server_refusing_both_structured_modes_gets_prompt_only_json(
    llm: LlmServer, client: LlmClient
) -> None:
    llm.script(reply.status(400), reply.status(422))
    assert client.ask("test-model", MESSAGES).mode == "prompt"
    assert formats(llm) == ["json_schema", "json_object", None]


def test_malformed_json_gets_one_repair_then_fails_as_bad_output(
    llm: LlmServer, client: LlmClient
) -> None:
    llm.script(reply.malformed(), reply.malformed(), reply.good())
    with pytest.raises(BadOutput) as caught:
        client.ask("test-model", MESSAGES)
    assert caught.value.code == BAD_OUTPUT and isinstance(caught.value, PermanentError)
    assert llm.chat_requests == 2  # one repair, no more
    assert "invalid" in llm.requests[1]["messages"][-1]["content"]
    assert caught.value.usage.total > 0  # paid for all the same


def test_a_repaired_answer_is_used(llm: LlmServer, client: LlmClient) -> None:
    wrong_shape = reply.answer({"summary": "s", "reasons": [{"criterion": "x"}]})
    llm.script(wrong_shape, reply.good())
    found = client.ask("test-model", MESSAGES)
    assert found.repaired and llm.chat_requests == 2


@pytest.mark.parametrize("action", [reply.length(), reply.no_choices()])
def test_a_cut_or_empty_reply_fails_at_once_as_bad_output(
    llm: LlmServer, client: LlmClient, action: object
) -> None:
    llm.script(action)  # type: ignore[arg-type]
    with pytest.raises(BadOutput):
        client.ask("test-model", MESSAGES)
    assert llm.chat_requests == 1  # repairing a deterministic failure only doubles the bill


@pytest.mark.parametrize(
    ("headers", "delay"),
    [({"retry_after": "7"}, 7.0), ({"retry_after_ms": "1500", "retry_after": "9"}, 1.5)],
)
def test_429_is_transient_and_honours_the_servers_delay(
    llm: LlmServer, client: LlmClient, headers: dict[str, str], delay: float
) -> None:
    llm.script(reply.rate_limited(**headers))
    with pytest.raises(TransientError) as caught:
        client.ask("test-model", MESSAGES)
    assert caught.value.code == "llm_rate_limited"
    assert caught.value.retry_after == pytest.approx(delay)
    assert not isinstance(caught.value, OurSideError)


def test_503_is_transient(llm: LlmServer, client: LlmClient) -> None:
    llm.script(reply.status(503, {"Retry-After": "3"}))
    with pytest.raises(TransientError) as caught:
        client.ask("test-model", MESSAGES)
    assert caught.value.code == "llm_unavailable" and caught.value.retry_after == 3


def test_401_pauses_the_worker_with_one_line_naming_the_key(llm: LlmServer) -> None:
    llm.api_key = "right"
    client = LlmClient(LlmSettings(base_url=llm.base_url, api_key="wrong"))
    try:
        with pytest.raises(OurSideError) as caught:
            client.ask("test-model", MESSAGES)
        with pytest.raises(OurSideError):
            client.check("test-model")
    finally:
        client.close()
    error = caught.value
    assert (error.scope, error.certain, error.code) == (SCOPE, True, "llm_auth")
    assert str(error) == f"llm: 401 from {llm.base_url}/chat/completions; check QUALIFY_LLM_API_KEY"


def test_the_right_key_is_sent(llm: LlmServer) -> None:
    llm.api_key = "right"
    client = LlmClient(LlmSettings(base_url=llm.base_url, api_key="right"))
    try:
        client.check("test-model")
        assert client.ask("test-model", MESSAGES).answer
    finally:
        client.close()


def test_an_unknown_model_is_a_configuration_error(llm: LlmServer, client: LlmClient) -> None:
    with pytest.raises(OurSideError) as caught:
        client.ask("no-such-model", MESSAGES)
    assert caught.value.code == "llm_model" and caught.value.certain
    with pytest.raises(OurSideError, match="model 'no-such-model' is not served"):
        client.check("no-such-model")
    client.check("test-model")  # the one it serves passes


def test_an_unreachable_endpoint_is_a_configuration_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    client = LlmClient(LlmSettings(base_url=f"http://127.0.0.1:{port}/v1"))
    try:
        with pytest.raises(OurSideError) as caught:
            client.ask("m", MESSAGES)
    finally:
        client.close()
    assert caught.value.code == "llm_unreachable" and caught.value.certain
    assert "check QUALIFY_LLM_BASE_URL" in str(caught.value)


def test_a_slow_answer_past_the_timeout_is_transient(llm: LlmServer) -> None:
    llm.script(reply.slow(1.5))
    client = LlmClient(LlmSettings(base_url=llm.base_url, timeout=0.5))
    try:
        with pytest.raises(TransientError) as caught:
            client.ask("test-model", MESSAGES)
    finally:
        client.close()
    assert caught.value.code == "llm_timeout" and not isinstance(caught.value, OurSideError)


def test_requests_in_flight_stay_within_the_llm_concurrency(llm: LlmServer) -> None:
    llm.latency = 0.2
    client = LlmClient(LlmSettings(base_url=llm.base_url, concurrency=2))
    try:
        threads = [
            threading.Thread(target=client.ask, args=("test-model", MESSAGES)) for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        client.close()
    assert llm.chat_requests == 6 and llm.max_in_flight == 2


def test_a_reply_that_is_not_an_object_is_bad_output(llm: LlmServer, client: LlmClient) -> None:
    llm.script(reply.answer(json.dumps(["not", "an", "object"])), reply.answer("no json here"))
    with pytest.raises(BadOutput, match="after one repair"):
        client.ask("test-model", MESSAGES)
