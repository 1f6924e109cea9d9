"""streaming: server-sent event framing and the chunk contract of streamed answers.

Each generated example sends one request twice without streaming and once streamed. The stream must be
valid on its own (``aigw.contract_tests.stream_checks``: framing, chunk schema, one id, role first,
finish chunk, usage chunk iff ``include_usage``, Content-Type). When the two plain answers agree the
target is deterministic for that request (the mock is: its answer is a function of the request; a
gateway in front of it is too, and a semantic cache replays one stored answer), and then the
concatenated deltas must say exactly what the plain answer says, with the same finish reasons and
usage — the check that catches re-chunking, dropped or duplicated deltas and invented usage.

Prompts carry a per-example tag so a gateway's cache never mixes these answers with other tests'.
Completion caps keep every example to a few hundred tokens, well inside any per-key token limit. A
target may still throttle (the schema group's fuzzing can use up a backend's requests per 10 s): a 429
with a short Retry-After is waited out and the request sent again — limits are the rate-limit group's
business, not this one's.
"""

from __future__ import annotations

import time

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from aigw.contract_tests.stream_checks import analyse_stream, message_of

PROMPTS = (
    "Write one sentence about the sea.",
    "List three colours.",
    "Say hello in French and in German.",
    "Describe a bicycle in a few words.",
    "Give me a short tip for writing unit tests.",
)
MAX_EXAMPLES = 10  # each example is three requests; more adds time, not coverage
THROTTLE_WAIT_S = 15.0  # the longest Retry-After this group waits out
THROTTLE_RETRIES = 3


def _post(target, operation: str, body: dict, **kwargs):
    """``target.post``, waiting out a throttled answer's (short) Retry-After a few times."""
    for attempt in range(THROTTLE_RETRIES + 1):
        exchange = target.post(operation, body, **kwargs)
        wait = (exchange.header("retry-after") or "").strip()
        if exchange.status != 429 or not wait.isdigit() or int(wait) > THROTTLE_WAIT_S or attempt == THROTTLE_RETRIES:
            return exchange
        time.sleep(int(wait) + 0.2)


def _settings(target):
    return settings(max_examples=min(target.max_examples, MAX_EXAMPLES), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), derandomize=False)


def _body(prompt: str, tag: str, n: int, max_tokens: int) -> dict:
    return {"messages": [{"role": "user", "content": f"{prompt} (stream check {tag})"}], "n": n,
            "max_tokens": max_tokens, "temperature": 0}


def _plain_answer(target, body: dict) -> dict:
    answer = _post(target, "chat", body)
    assert answer.status == 200, f"a plain chat request got {answer.status}: {answer.body[:300]!r}"
    return answer.json()


@pytest.mark.aigw(group="streaming", needs=("streaming",))
def test_chat_stream_contract(aigw_target):
    """Framing, chunk schema and consistency with the non-streamed answer, over generated requests."""
    target = aigw_target
    counter = iter(range(10_000))

    @seed(target.seed)
    @_settings(target)
    @given(prompt=st.sampled_from(PROMPTS), n=st.sampled_from([1, 1, 2]), max_tokens=st.integers(1, 40),
           include_usage=st.booleans())
    def example(prompt, n, max_tokens, include_usage):
        body = _body(prompt, f"{target.seed}-{next(counter)}", n, max_tokens)
        first, second = _plain_answer(target, body), _plain_answer(target, body)
        streamed = {**body, "stream": True, "stream_options": {"include_usage": include_usage}}
        exchange = _post(target, "chat", streamed, stream=True)
        problems, assembled = analyse_stream(exchange, "chat", include_usage)
        assert not problems, "stream contract violated:\n- " + "\n- ".join(problems)
        assert sorted(assembled.content) == list(range(n)), f"asked for n={n} choices, the stream has {sorted(assembled.content)}"
        if include_usage:
            completion = assembled.usage["completion_tokens"]
            assert completion <= max_tokens * n, f"usage.completion_tokens {completion} exceeds max_tokens {max_tokens} × n {n}"
        deterministic = message_of(first) == message_of(second) and first.get("usage") == second.get("usage")
        if not deterministic:
            return  # a sampling target: the stream was judged on its own
        content, finish = message_of(first)
        for index in range(n):
            assert assembled.content.get(index) == content.get(index), (
                f"choice {index}: the concatenated deltas differ from the non-streamed answer of the same request\n"
                f"  streamed: {assembled.content.get(index)!r}\n  plain:    {content.get(index)!r}")
            assert assembled.finish_reason.get(index) == finish.get(index), (
                f"choice {index}: streamed finish_reason {assembled.finish_reason.get(index)!r}, "
                f"plain {finish.get(index)!r}")
        if include_usage and isinstance(first.get("usage"), dict):
            keys = ("prompt_tokens", "completion_tokens", "total_tokens")
            plain_usage = {k: first["usage"].get(k) for k in keys}
            stream_usage = {k: assembled.usage.get(k) for k in keys}
            assert stream_usage == plain_usage, f"streamed usage {stream_usage} != non-streamed usage {plain_usage}"

    example()


@pytest.mark.aigw(group="streaming", needs=("streaming",))
def test_stream_without_usage_request_carries_no_usage(aigw_target):
    """A client that did not ask for usage gets none: a gateway that injects include_usage upstream
    (to count tokens) must strip the extra chunk and the per-chunk ``usage`` fields again."""
    body = _body("Name two rivers.", f"no-usage-{aigw_target.seed}", 1, 24)
    exchange = _post(aigw_target, "chat", {**body, "stream": True}, stream=True)
    problems, assembled = analyse_stream(exchange, "chat", include_usage=False)
    assert not problems, "stream contract violated:\n- " + "\n- ".join(problems)
    assert assembled.content.get(0), "the stream assembled to an empty answer"


@pytest.mark.aigw(group="streaming", needs=("streaming", "tools"))
def test_tool_call_stream_assembles_valid_arguments(aigw_target):
    """Streamed tool calls: argument fragments concatenate to a JSON object, finish_reason tool_calls."""
    tool = {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False}}}
    body = {"messages": [{"role": "user", "content": f"What is the weather in Oslo? (stream check {aigw_target.seed})"}],
            "tools": [tool], "tool_choice": "required",
            "max_tokens": 200, "stream": True, "stream_options": {"include_usage": True}}
    exchange = _post(aigw_target, "chat", body, stream=True)
    problems, assembled = analyse_stream(exchange, "chat", include_usage=True)
    assert not problems, "stream contract violated:\n- " + "\n- ".join(problems)
    assert assembled.finish_reason.get(0) == "tool_calls", f"tool_choice required must finish with tool_calls, got {assembled.finish_reason}"
    arguments = assembled.tool_arguments.get(0, "")
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise AssertionError(f"streamed tool-call arguments do not concatenate to JSON: {arguments!r}") from None
    assert isinstance(parsed, dict) and isinstance(parsed.get("city"), str), (
        f"tool-call arguments {parsed!r} do not match the tool's parameters (an object with a string city)")


@pytest.mark.aigw(group="streaming", needs=("streaming", "completions"))
def test_completions_stream_contract(aigw_target):
    """Legacy completions stream the same way: data events, completion-chunk schema, [DONE], same text."""
    body = {"prompt": f"Once upon a time (stream check {aigw_target.seed})", "max_tokens": 20, "temperature": 0}
    first = _post(aigw_target, "completions", body)
    assert first.status == 200, f"a plain completions request got {first.status}: {first.body[:300]!r}"
    second = _post(aigw_target, "completions", body)
    exchange = _post(aigw_target, "completions", {**body, "stream": True, "stream_options": {"include_usage": True}}, stream=True)
    problems, assembled = analyse_stream(exchange, "completions", include_usage=True)
    assert not problems, "stream contract violated:\n- " + "\n- ".join(problems)
    if second.status == 200 and message_of(first.json(), "completions") == message_of(second.json(), "completions"):
        text, finish = message_of(first.json(), "completions")
        assert assembled.content == text, f"streamed text {assembled.content!r} != non-streamed {text!r}"
        assert assembled.finish_reason == finish, f"streamed finish {assembled.finish_reason} != non-streamed {finish}"
