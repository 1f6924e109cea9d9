"""Our contract is at least as strict as the official ones.

Responses: every response or chunk our schemas accept - the examples in openapi.yaml plus instances generated
from our schemas by Schemathesis' own generator - is accepted by OpenAI's official schemas and by Azure
OpenAI's 2024-10-21 ones. Requests: every body our operations accept (generated the same way) is accepted by
OpenAI's official request schemas - equivalently, whatever OpenAI's contract rejects we reject - and a table of
out-of-range requests checks the same from the other side. The few places where the official contracts cannot
be applied as written are listed below with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

import schemathesis

from spec_support import (
    AZURE_URI,
    OPENAI_URI,
    SCHEMAS_DIR,
    SPECS_DIR,
    openapi_document,
    parse_sse,
    resolve_openapi,
    schema_validator,
    official_validator,
)

pytestmark = pytest.mark.needs_shared

GENERATED_RESPONSES = 60
GENERATED_REQUESTS = 120


def _openai(name: str) -> Any:
    return official_validator(OPENAI_URI, f"/components/schemas/{name}")


def _azure(name: str) -> Any:
    return official_validator(AZURE_URI, f"/components/schemas/{name}")


def _as_completion_chunk(schema: dict) -> None:
    # OpenAI streams legacy completions as text_completion objects, but its contract has no chunk schema:
    # CreateCompletionResponse is the closest, read with the two fields a chunk leaves null - finish_reason
    # (null until the last piece) and usage (null on every chunk but the last with include_usage, as the
    # stream_options description in the same contract says). Nothing else is relaxed.
    choice = schema["properties"]["choices"]["items"]
    choice["properties"]["finish_reason"] = {"anyOf": [choice["properties"]["finish_reason"], {"type": "null"}]}
    schema["properties"]["usage"] = {"anyOf": [schema["properties"]["usage"], {"type": "null"}]}


AZURE_EMBEDDINGS = "/paths/~1deployments~1{deployment-id}~1embeddings/post/responses/200/content/application~1json/schema"

# our schema file -> official validators (built lazily: the OpenAI document is 3 MB of YAML)
OFFICIAL_RESPONSES: dict[str, list[tuple[str, Callable[[], Any]]]] = {
    "chat-completion-response.json": [
        ("OpenAI CreateChatCompletionResponse", lambda: _openai("CreateChatCompletionResponse")),
        ("Azure createChatCompletionResponse", lambda: _azure("createChatCompletionResponse")),
    ],
    "chat-completion-chunk.json": [
        ("OpenAI CreateChatCompletionStreamResponse", lambda: _openai("CreateChatCompletionStreamResponse")),
        ("Azure createChatCompletionStreamResponse", lambda: _azure("createChatCompletionStreamResponse")),
    ],
    "completion-response.json": [
        ("OpenAI CreateCompletionResponse", lambda: _openai("CreateCompletionResponse")),
        ("Azure createCompletionResponse", lambda: _azure("createCompletionResponse")),
    ],
    "completion-chunk.json": [
        ("OpenAI CreateCompletionResponse (as a chunk)",
         lambda: official_validator(OPENAI_URI, "/components/schemas/CreateCompletionResponse", patch=_as_completion_chunk)),
        ("Azure createCompletionResponse (as a chunk)",
         lambda: official_validator(AZURE_URI, "/components/schemas/createCompletionResponse", patch=_as_completion_chunk)),
    ],
    "embedding-response.json": [
        ("OpenAI CreateEmbeddingResponse", lambda: _openai("CreateEmbeddingResponse")),
        ("Azure embeddings_create 200", lambda: official_validator(AZURE_URI, AZURE_EMBEDDINGS)),
    ],
    "model-list.json": [("OpenAI ListModelsResponse", lambda: _openai("ListModelsResponse"))],
    "model.json": [("OpenAI Model", lambda: _openai("Model"))],
}


def official_view(schema_name: str, instance: dict) -> dict | None:
    """What of an instance our schema accepts is compared with the official contracts (None: nothing).

    - Azure's prompt-filter preamble chunk (empty id/object/model, created 0) is real Azure output that
      neither official contract describes: not compared.
    - A base64 embedding (encoding_format base64) is real output the official schemas type as a number
      array: the string is swapped for a number array and the rest of the instance is compared."""
    if schema_name.endswith("-chunk.json") and instance.get("object") == "":
        return None
    if schema_name == "embedding-response.json":
        data = [{**item, "embedding": [0.0]} if isinstance(item["embedding"], str) else item for item in instance["data"]]
        return {**instance, "data": data}
    return instance


# --- the corpus of responses ------------------------------------------------------------------------------------

def _example(name: str) -> Any:
    return resolve_openapi(openapi_document()["components"]["examples"][name])["value"]


def _stream_chunks(name: str) -> list[dict]:
    return [json.loads(event["data"]) for event in parse_sse(_example(name)) if event["data"] != "[DONE]"]


def example_responses() -> list[tuple[str, dict]]:
    corpus = [
        ("chat-completion-response.json", _example(name))
        for name in ("ChatCompletionResponseBasic", "ChatCompletionResponseToolCalls", "ChatCompletionResponseAzure")
    ]
    corpus += [("chat-completion-chunk.json", chunk) for name in ("ChatCompletionStreamOpenAI", "ChatCompletionStreamAzure")
               for chunk in _stream_chunks(name)]
    corpus += [("completion-response.json", _example("CompletionResponseBasic"))]
    corpus += [("completion-chunk.json", chunk) for chunk in _stream_chunks("CompletionStream")]
    corpus += [("embedding-response.json", _example(n)) for n in ("EmbeddingResponseFloat", "EmbeddingResponseBase64")]
    corpus += [("model-list.json", _example("ModelList")), ("model.json", _example("Model"))]
    return corpus + HAND_WRITTEN


_LOGPROB = {"token": "Hi", "logprob": -0.01, "bytes": [72, 105], "top_logprobs": [{"token": "Hi", "logprob": -0.01, "bytes": [72, 105]}]}
_FILTER = {"hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "low"},
           "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": True, "severity": "medium"}}
HAND_WRITTEN: list[tuple[str, dict]] = [
    ("chat-completion-response.json", {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1737000000, "model": "gpt-4o", "service_tier": "default",
        "choices": [
            {"index": 0, "finish_reason": "length", "logprobs": {"content": [_LOGPROB], "refusal": None},
             "message": {"role": "assistant", "content": "Hi", "refusal": None, "annotations": [
                 {"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 2, "url": "https://example.com/a", "title": "A"}}]}},
            {"index": 1, "finish_reason": "content_filter", "logprobs": None, "content_filter_results": _FILTER,
             "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."}},
            {"index": 2, "finish_reason": "function_call", "logprobs": None,
             "message": {"role": "assistant", "content": None, "refusal": None, "function_call": {"name": "f", "arguments": "{}"}}},
            {"index": 3, "finish_reason": "stop", "logprobs": None,
             "message": {"role": "assistant", "content": "", "refusal": None,
                         "audio": {"id": "audio_1", "expires_at": 1737003600, "data": "UklGRg==", "transcript": "Hi"}}},
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "text_tokens": 5, "image_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 4, "audio_tokens": 0, "text_tokens": 3,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
    }),
    ("chat-completion-response.json", {
        "id": "chatcmpl-2", "object": "chat.completion", "created": 1737000000, "model": "gpt-4o", "system_fingerprint": "fp_1",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {**_FILTER, "jailbreak": {"filtered": False, "detected": False},
                                                                                 "custom_blocklists": {"filtered": False, "details": []}}}],
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "content_filter_results": {**_FILTER, "protected_material_code": {"filtered": False, "detected": True,
                                                "citation": {"URL": "https://github.com/x/y", "license": "MIT"}}},
                     "message": {"role": "assistant", "content": "Per the policy [doc1].", "refusal": None,
                                 "context": {"intent": "[\"rail travel\"]", "citations": [{"content": "Rail is fine.", "title": "Policy",
                                             "url": "https://contoso/policy", "filepath": "policy.md", "chunk_id": "0"}]}}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 6, "total_tokens": 56},
    }),
    ("chat-completion-chunk.json", {
        "id": "chatcmpl-3", "object": "chat.completion.chunk", "created": 1737000000, "model": "gpt-4o", "obfuscation": "x1",
        "choices": [{"index": 0, "finish_reason": None, "logprobs": None, "delta": {"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}],
    }),
    ("chat-completion-chunk.json", {
        "id": "chatcmpl-3", "object": "chat.completion.chunk", "created": 1737000000, "model": "gpt-4o", "usage": None,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": {"content": None, "refusal": None},
                     "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":\"Paris\"}"}}]}}],
    }),
    ("completion-response.json", {
        "id": "cmpl-1", "object": "text_completion", "created": 1737000000, "model": "gpt-35-turbo-instruct", "system_fingerprint": "fp_2",
        "choices": [{"index": 0, "text": " test", "finish_reason": "length", "content_filter_results": _FILTER,
                     "logprobs": {"tokens": [" test"], "token_logprobs": [-0.2], "top_logprobs": [{" test": -0.2, " trial": -2.1}], "text_offset": [14]}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER}],
    }),
    ("embedding-response.json", {
        "object": "list", "model": "text-embedding-3-large",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}, {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }),
]


# --- generated instances: Schemathesis' generator, driven through a throwaway document ----------------------

def _generator_document(tmp: Path, names: list[str]) -> Any:
    """An OpenAPI document whose request bodies are our *response* schemas, so `as_strategy()` yields
    instances of them exactly as Schemathesis would build them."""
    document = {"openapi": "3.1.0", "info": {"title": "instances", "version": "1"}, "paths": {}}
    for name in names:
        document["paths"]["/" + name.removesuffix(".json")] = {"post": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": (SCHEMAS_DIR / name).as_uri()}}}},
            "responses": {"200": {"description": "ok"}},
        }}
    path = tmp / "instances.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return schemathesis.openapi.from_path(str(path))


def generate(operation: Any, count: int) -> list[Any]:
    bodies: list[Any] = []

    @given(operation.as_strategy())
    @settings(max_examples=count, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    def collect(case: Any) -> None:
        bodies.append(case.body)

    collect()
    return bodies


@pytest.fixture(scope="module")
def generated_responses(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict]]:
    names = list(OFFICIAL_RESPONSES)
    document = _generator_document(tmp_path_factory.mktemp("instances"), names)
    return [(name, body) for name in names
            for body in generate(document["/" + name.removesuffix(".json")]["POST"], GENERATED_RESPONSES)]


def _assert_within_official(corpus: list[tuple[str, dict]], shared_dir: Path) -> dict[str, int]:
    compared: dict[str, int] = {}
    validators = {name: [(label, build()) for label, build in builders] for name, builders in OFFICIAL_RESPONSES.items()}
    for name, instance in corpus:
        ours = [e.message for e in schema_validator(name).iter_errors(instance)]
        assert not ours, (name, ours, instance)
        view = official_view(name, instance)
        if view is None:
            continue
        for label, validator in validators[name]:
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(view)]
            assert not errors, f"{name} accepts what {label} rejects: {errors}\n{json.dumps(instance)[:2000]}"
        compared[name] = compared.get(name, 0) + 1
    return compared


def test_example_and_hand_written_responses_satisfy_the_official_contracts(shared_dir: Path) -> None:
    compared = _assert_within_official(example_responses(), shared_dir)
    assert set(compared) == set(OFFICIAL_RESPONSES)


def test_generated_responses_satisfy_the_official_contracts(shared_dir: Path, generated_responses) -> None:
    compared = _assert_within_official(generated_responses, shared_dir)
    # Enough of each kind really reached the official schemas (not everything was an exception).
    assert all(compared.get(name, 0) >= GENERATED_RESPONSES // 3 for name in OFFICIAL_RESPONSES), str(compared)


def test_documented_exceptions_are_real_output_our_schemas_accept(shared_dir: Path) -> None:
    preamble = _stream_chunks("ChatCompletionStreamAzure")[0]
    assert official_view("chat-completion-chunk.json", preamble) is None
    assert not list(schema_validator("chat-completion-chunk.json").iter_errors(preamble))
    assert _openai_rejects("CreateChatCompletionStreamResponse", preamble)
    base64 = _example("EmbeddingResponseBase64")
    assert _openai_rejects("CreateEmbeddingResponse", base64)
    assert not _openai_rejects("CreateEmbeddingResponse", official_view("embedding-response.json", base64))


def _openai_rejects(name: str, instance: Any) -> bool:
    return not _openai(name).is_valid(instance)


# --- requests -------------------------------------------------------------------------------------------------

OFFICIAL_REQUESTS = {
    "chat": ("CreateChatCompletionRequest", "/v1/chat/completions", "/deployments/{deployment-id}/chat/completions"),
    "completion": ("CreateCompletionRequest", "/v1/completions", "/openai/deployments/{deployment-id}/completions"),
    "embedding": ("CreateEmbeddingRequest", "/v1/embeddings", "/deployments/{deployment-id}/embeddings"),
}


AZURE_ONLY_ARGUMENTS = {"embedding": ("input_type",)}


@pytest.fixture(scope="module")
def contract() -> Any:
    return schemathesis.openapi.from_path(str(SPECS_DIR / "openapi.yaml"))


@pytest.mark.parametrize("kind", list(OFFICIAL_REQUESTS))
def test_generated_requests_satisfy_openai_request_schema(shared_dir: Path, contract: Any, kind: str) -> None:
    official_name, v1_path, deployment_path = OFFICIAL_REQUESTS[kind]
    official = _openai(official_name)
    for path in (v1_path, deployment_path):
        bodies = generate(contract[path]["POST"], GENERATED_REQUESTS)
        assert len(bodies) >= GENERATED_REQUESTS // 2
        for body in bodies:
            # The deployment paths name the model in the URL; OpenAI's body always names it. They also take the
            # arguments only Azure declares (2024-10-21), which OpenAI's contract cannot judge: left out here.
            candidate = body if "model" in body else {**body, "model": "gpt-4o"}
            if path == deployment_path:
                candidate = {k: v for k, v in candidate.items() if k not in AZURE_ONLY_ARGUMENTS.get(kind, ())}
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in official.iter_errors(candidate)]
            assert not errors, f"{path} accepts a body OpenAI's {official_name} rejects: {errors}\n{json.dumps(body)[:2000]}"


BASE_REQUESTS = {
    "chat": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
    "completion": {"model": "gpt-35-turbo-instruct", "prompt": "Say hi"},
    "embedding": {"model": "text-embedding-3-small", "input": "hello"},
}
OUR_REQUEST_SCHEMA = {"chat": "chat-completion-request.json", "completion": "completion-request.json", "embedding": "embedding-request.json"}

# (kind, field, value) that OpenAI's contract rejects; we must reject each too.
OFFICIALLY_INVALID = [
    ("chat", "temperature", 2.5), ("chat", "temperature", -0.1), ("chat", "temperature", "hot"),
    ("chat", "top_p", 1.01), ("chat", "n", 0), ("chat", "n", 129), ("chat", "presence_penalty", 2.1),
    ("chat", "frequency_penalty", -2.1), ("chat", "top_logprobs", 21), ("chat", "top_logprobs", -1),
    ("chat", "top_logprobs", None), ("chat", "stop", ["a", "b", "c", "d", "e"]), ("chat", "stop", []),
    ("chat", "messages", []), ("chat", "messages", [{"role": "robot", "content": "Hi"}]),
    ("chat", "messages", [{"role": "user"}]), ("chat", "messages", [{"role": "tool", "content": "42"}]),
    ("chat", "messages", [{"role": "user", "content": []}]),
    ("chat", "messages", [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]),
    ("chat", "messages", [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "ultra"}}]}]),
    ("chat", "messages", [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "ogg"}}]}]),
    ("chat", "messages", [{"role": "function", "content": "x"}]),
    ("chat", "tool_choice", "sometimes"), ("chat", "tool_choice", {"type": "function"}),
    ("chat", "tools", [{"type": "function", "function": {"description": "no name"}}]),
    ("chat", "response_format", {"type": "xml"}), ("chat", "response_format", {"type": "json_schema", "json_schema": {"schema": {}}}),
    ("chat", "logit_bias", {"50256": "x"}), ("chat", "functions", []), ("chat", "function_call", "always"),
    ("chat", "reasoning_effort", "extreme"), ("chat", "service_tier", "gold"), ("chat", "modalities", ["video"]),
    ("chat", "audio", {"voice": "alloy"}), ("chat", "safety_identifier", "x" * 65), ("chat", "stream", "yes"),
    ("chat", "max_tokens", "ten"), ("chat", "max_completion_tokens", 1.5), ("chat", "store", "no"),
    ("chat", "metadata", {"k": 1}), ("chat", "parallel_tool_calls", None), ("chat", "model", 4),
    ("chat", "prediction", {"type": "content"}), ("chat", "stream_options", {"include_usage": "yes"}),
    ("completion", "prompt", [[]]), ("completion", "prompt", [1, "a"]), ("completion", "logprobs", 6),
    ("completion", "best_of", 21), ("completion", "max_tokens", -1), ("completion", "n", 0), ("completion", "temperature", 3),
    ("completion", "echo", "yes"), ("completion", "suffix", 1), ("completion", "stop", ["1", "2", "3", "4", "5"]),
    ("embedding", "input", []), ("embedding", "input", ["x"] * 2049), ("embedding", "input", [[]]),
    ("embedding", "encoding_format", "int8"), ("embedding", "dimensions", 0), ("embedding", "foo", 1),
    ("embedding", "user", 7),
]


@pytest.mark.parametrize(("kind", "field", "value"), OFFICIALLY_INVALID, ids=[f"{k}.{f}={v!r}"[:60] for k, f, v in OFFICIALLY_INVALID])
def test_what_openai_rejects_we_reject(shared_dir: Path, kind: str, field: str, value: Any) -> None:
    body = {**BASE_REQUESTS[kind], field: value}
    assert not _openai(OFFICIAL_REQUESTS[kind][0]).is_valid(body), "the table entry must be invalid officially"
    assert not schema_validator(OUR_REQUEST_SCHEMA[kind]).is_valid(body)


def test_missing_required_fields(shared_dir: Path) -> None:
    for kind, body in BASE_REQUESTS.items():
        for field in body:
            if field == "model":
                continue  # optional in our body schema; the /v1 operations require it (see test_spec_documents)
            smaller = {k: v for k, v in body.items() if k != field}
            assert not _openai(OFFICIAL_REQUESTS[kind][0]).is_valid(smaller)
            assert not schema_validator(OUR_REQUEST_SCHEMA[kind]).is_valid(smaller), (kind, field)


# Where we are deliberately stricter than OpenAI's contract: it accepts these, we reject them, because the
# real services reject them (or the field does not exist there).
STRICTER_THAN_OFFICIAL = [
    ("chat", "foo", 1, "unknown top-level argument: Azure answers 400 'Unrecognized request argument supplied'"),
    ("chat", "max_tokens", 0, "max_tokens < 1 is a 400 on both services"),
    ("chat", "max_completion_tokens", 0, "same bound as max_tokens"),
    ("chat", "messages", [{"role": "user", "content": "Hi", "id": "m1"}],
     "OpenAI: \"Additional properties are not allowed ('id' was unexpected) - 'messages.0'\""),
    ("chat", "messages", [{"role": "assistant"}], "an assistant turn needs content, tool_calls, function_call or audio"),
    ("chat", "messages", [{"role": "assistant", "content": None, "tool_calls": []}], "empty tool_calls is a 400"),
    ("chat", "messages", [{"role": "user", "content": "Hi", "name": "a b"}], "OpenAI rejects whitespace in names"),
    ("chat", "tools", [{"type": "function", "function": {"name": "get weather"}}], "function names are [a-zA-Z0-9_-]{1,64}"),
    ("chat", "logit_bias", {"hello": 1}, "logit_bias keys are token ids"),
    ("chat", "logit_bias", {"50256": 101}, "bias values are -100..100"),
    ("chat", "metadata", {f"k{i}": "v" for i in range(17)}, "at most 16 metadata pairs"),
    ("chat", "seed", 2**63, "seed is a signed 64-bit integer"),
    ("chat", "data_sources", [{"type": "azure_search"}], "On Your Data entries need parameters"),
    ("completion", "best_of", 0, "best_of must be at least 1 (and at least n)"),
    ("completion", "prompt", [], "an empty prompt list is a 400"),
    ("completion", "prompt", [-1], "token ids are non-negative"),
    ("embedding", "input", "", "an empty input is a 400"),
    ("embedding", "input", ["ok", ""], "empty strings in the batch are a 400"),
]


@pytest.mark.parametrize(("kind", "field", "value", "reason"), STRICTER_THAN_OFFICIAL,
                         ids=[f"{k}.{f}" for k, f, _, _ in STRICTER_THAN_OFFICIAL])
def test_documented_strictness_beyond_openai(shared_dir: Path, kind: str, field: str, value: Any, reason: str) -> None:
    body = {**BASE_REQUESTS[kind], field: value}
    assert _openai(OFFICIAL_REQUESTS[kind][0]).is_valid(body), f"OpenAI's contract already rejects this ({reason})"
    assert not schema_validator(OUR_REQUEST_SCHEMA[kind]).is_valid(body), reason
