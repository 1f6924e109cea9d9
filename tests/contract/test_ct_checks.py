"""checks.py and target.py against canned HTTP exchanges (the ``responses`` library), without a server."""

import copy

import orjson
import pytest
import responses

from aigw.contract_tests.capabilities import load_capabilities
from aigw.contract_tests.checks import (check_chat_completion, check_completion, check_embeddings, check_error_body,
                                        check_request_id, response_problems)
from aigw.contract_tests.target import Target, TargetError

BASE = "http://target.test"
CHAT_URL = f"{BASE}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
REQUEST = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
GOOD = {
    "id": "chatcmpl-abc123", "object": "chat.completion", "created": 0, "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"], "additionalProperties": False}}}


def _answer(**changes):
    body = copy.deepcopy(GOOD)
    body["created"] = int(__import__("time").time())
    for key, value in changes.items():
        body[key] = value
    return body


def _target() -> Target:
    return Target(BASE, profile="gateway", capabilities=load_capabilities("gateway"), api_keys=["secret-key-1234"])


@responses.activate
def test_a_compliant_answer_has_no_problems() -> None:
    responses.post(CHAT_URL, json=_answer(), headers={"apim-request-id": "r-1"})
    exchange = _target().post("chat", REQUEST)
    assert exchange.status == 200
    assert check_chat_completion(REQUEST, exchange.json()) == []
    assert check_request_id(exchange.response_headers) == []
    sent = responses.calls[0].request
    assert sent.headers["api-key"] == "secret-key-1234"
    assert orjson.loads(sent.body) == REQUEST


@responses.activate
def test_wrong_usage_sum_is_found() -> None:
    responses.post(CHAT_URL, json=_answer(usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 13}))
    problems = response_problems("chat", REQUEST, _target().post("chat", REQUEST).json())
    assert problems["usage_arithmetic"] == ["usage.total_tokens 13 != prompt_tokens 9 + completion_tokens 3"]


@pytest.mark.parametrize(("changes", "check", "fragment"), [
    ({"object": "chat.completions"}, "object_values", "not 'chat.completion'"),
    ({"id": "abc"}, "id_format", "does not match"),
    ({"created": 1_700_000_000_000}, "created_near_now", "from now"),
    ({"created": "2024-01-01"}, "created_near_now", "not an integer"),
    ({"usage": {"prompt_tokens": 9, "completion_tokens": 40, "total_tokens": 49}}, "max_tokens_respected", "> max_tokens 20"),
    ({"choices": []}, "n_choices", "0 choices for n=1"),
    ({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "tool_calls"}]},
     "finish_reason_consistency", "without any tool call"),
    ({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "done"}]},
     "finish_reason_consistency", "is not one of"),
])
def test_each_rule_reports_its_own_problem(changes, check, fragment) -> None:
    problems = response_problems("chat", REQUEST, _answer(**changes))
    assert any(fragment in p for p in problems[check]), problems
    assert all(not found for name, found in problems.items() if name != check), problems


def _tool_answer(arguments: str, name: str = "get_weather") -> dict:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return _answer(choices=[{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                             "finish_reason": "tool_calls"}])


def test_tool_call_arguments_must_be_json_for_the_tool_schema() -> None:
    request = {**REQUEST, "tools": [WEATHER_TOOL]}
    assert check_chat_completion(request, _tool_answer('{"location": "Oslo"}')) == []
    assert "not valid JSON" in check_chat_completion(request, _tool_answer('{"location": '))[0]
    assert "do not match get_weather" in check_chat_completion(request, _tool_answer('{"city": "Oslo"}'))[0]
    assert "did not declare" in check_chat_completion(request, _tool_answer("{}", name="launch"))[0]


def test_forced_tool_choice_may_end_with_stop() -> None:
    request = {**REQUEST, "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    answer = _tool_answer('{"location": "Oslo"}')
    answer["choices"][0]["finish_reason"] = "stop"
    assert check_chat_completion(request, answer) == []
    assert check_chat_completion({**REQUEST, "tools": [WEATHER_TOOL]}, answer)  # not forced: "stop" is wrong


def test_json_mode_content_must_parse() -> None:
    request = {**REQUEST, "response_format": {"type": "json_object"}}
    ok = _answer(choices=[{"index": 0, "message": {"role": "assistant", "content": '{"a": 1}'}, "finish_reason": "stop"}])
    bad = _answer(choices=[{"index": 0, "message": {"role": "assistant", "content": "Sure! {a: 1}"}, "finish_reason": "stop"}])
    assert check_chat_completion(request, ok) == []
    assert "not JSON" in check_chat_completion(request, bad)[0]


def test_legacy_completions_count_choices_per_prompt() -> None:
    request = {"prompt": ["a", "b"], "n": 2, "max_tokens": 5}
    choice = {"text": "x", "finish_reason": "length", "logprobs": None}
    body = {"id": "cmpl-1", "object": "text_completion", "created": int(__import__("time").time()), "model": "m",
            "choices": [{**choice, "index": i} for i in range(4)],
            "usage": {"prompt_tokens": 2, "completion_tokens": 12, "total_tokens": 14}}
    assert check_completion(request, body) == []
    body["choices"] = body["choices"][:3]
    assert check_completion(request, body) == ["3 choices for n=2 × 2 prompts"]


def test_embeddings_count_inputs_and_dimensions() -> None:
    request = {"input": ["a", "b"], "dimensions": 3}
    body = {"object": "list", "model": "e", "usage": {"prompt_tokens": 2, "total_tokens": 2},
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(2)]}
    assert check_embeddings(request, body) == []
    body["data"][1]["embedding"] = [0.1]
    assert check_embeddings(request, body) == ["embedding length 1 != requested dimensions 3"]


@responses.activate
def test_error_bodies_in_both_shapes_and_broken_ones() -> None:
    responses.post(CHAT_URL, json={"statusCode": 429, "message": "Rate limit is exceeded."}, status=429)
    exchange = _target().post("chat", REQUEST)
    assert check_error_body(exchange.status, exchange.header("Content-Type"), exchange.body) == []
    assert check_error_body(400, "application/json", b'{"error": {"code": "x", "message": "bad"}}') == []
    assert "not JSON" in check_error_body(500, "text/html", b"<h1>oops</h1>")[0]
    assert "statusCode 404" in check_error_body(429, "application/json", b'{"statusCode": 404, "message": "m"}')[0]
    assert "error.json" in check_error_body(400, "application/json", b'{"detail": "bad"}')[0]


@responses.activate
def test_curl_reproducer_redacts_keys_and_stream_events_decode() -> None:
    stream = b'data: {"id":"chatcmpl-1","choices":[]}\n\ndata: [DONE]\n\n'
    responses.post(CHAT_URL, body=stream, content_type="text/event-stream")
    target = _target()
    exchange = target.post("chat", REQUEST, stream=True)
    assert [event.data for event in exchange.events()][-1] == "[DONE]"
    assert orjson.loads(responses.calls[0].request.body)["stream"] is True
    curl = exchange.curl()
    assert "secret-key-1234" not in curl and "api-key: REDACTED" in curl
    assert target.exchanges == [exchange]


@responses.activate
def test_query_keys_are_redacted_and_no_answer_is_a_target_error() -> None:
    target = _target()
    with pytest.raises(TargetError, match="no response"):
        target.request("GET", "/status?subscription-key=topsecret")  # nothing registered: connection refused
    assert "topsecret" not in target.exchanges[-1].curl()
    assert "subscription-key=REDACTED" in target.exchanges[-1].curl()


def test_v1_paths_add_the_model_and_use_a_bearer_token() -> None:
    target = Target(BASE, paths="v1", api_keys=["k-1"])
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/v1/chat/completions", json=_answer())
        target.post("chat", REQUEST)
        sent = mock.calls[0].request
    assert sent.headers["Authorization"] == "Bearer k-1"
    assert orjson.loads(sent.body)["model"] == "gpt-4o"
