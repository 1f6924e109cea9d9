"""(2) Every example in openapi.yaml validates against the schema it illustrates, stream transcripts event by
event (by the framing of their service: model chunk streams end in `[DONE]`, JSON-RPC streams carry one
message per event and end with the response); (3) the seed's examples validate, except the ones listed here
with the reason our schemas reject them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from spec_support import (
    STREAM_FRAMING,
    content_schema_of,
    iter_media_types,
    openapi_schema_validator,
    parse_sse,
    resolve_openapi,
    schema_validator,
    service_of,
)


def _media_examples() -> Iterator[tuple[str, str, dict[str, Any], Any]]:
    for where, media_type, media in iter_media_types():
        for name, example in media.get("examples", {}).items():
            yield f"{where} {media_type} {name}", media_type, media["schema"], resolve_openapi(example)["value"]


MEDIA_EXAMPLES = list(_media_examples())


def test_there_are_examples_for_every_status_and_stream() -> None:
    statuses = {where.split()[2] for where, *_ in MEDIA_EXAMPLES}
    assert {"request", "200", "400", "401", "403", "404", "408", "413", "415", "429", "500", "503"} <= statuses
    assert any(media_type == "text/event-stream" for _, media_type, _, _ in MEDIA_EXAMPLES)
    illustrated = {where.rsplit(" ", 2)[0] for where, *_ in MEDIA_EXAMPLES}
    for where, media_type, _ in iter_media_types():
        assert where in illustrated, f"{where} {media_type} has no example"


@pytest.mark.parametrize(("where", "media_type", "schema", "value"), MEDIA_EXAMPLES, ids=[m[0] for m in MEDIA_EXAMPLES])
def test_media_type_example_matches_its_schema(where: str, media_type: str, schema: dict, value: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in openapi_schema_validator(schema).iter_errors(value)]
    assert not errors, errors
    if media_type == "text/event-stream" and value["data"] not in ("[DONE]", ""):
        # jsonschema treats contentSchema as an annotation; check the JSON payload explicitly.
        payload_validator = openapi_schema_validator(content_schema_of(resolve_openapi(schema)))
        payload = json.loads(value["data"])
        assert not [e.message for e in payload_validator.iter_errors(payload)], payload


def _transcripts() -> Iterator[tuple[str, str, dict[str, Any], str]]:
    for where, media_type, media in iter_media_types():
        if media_type != "text/event-stream":
            continue
        framing = STREAM_FRAMING[service_of(where.split()[1])]
        for name, example in media.get("x-stream-transcripts", {}).items():
            yield f"{where} {name}", framing, media["schema"], resolve_openapi(example)["value"]


TRANSCRIPTS = list(_transcripts())
CHUNK_TRANSCRIPTS = [(w, s, t) for w, framing, s, t in TRANSCRIPTS if framing == "chunks"]
JSONRPC_TRANSCRIPTS = [(w, s, t) for w, framing, s, t in TRANSCRIPTS if framing == "jsonrpc"]


@pytest.mark.parametrize(("where", "schema", "text"), CHUNK_TRANSCRIPTS, ids=[t[0] for t in CHUNK_TRANSCRIPTS])
def test_stream_transcript_is_a_valid_stream(where: str, schema: dict, text: str) -> None:
    assert text.endswith("data: [DONE]\n\n"), "a stream ends with the [DONE] event and a blank line"
    events = parse_sse(text)
    assert [event["data"] for event in events].count("[DONE]") == 1
    event_validator = openapi_schema_validator(schema)
    chunk_validator = openapi_schema_validator(content_schema_of(resolve_openapi(schema)))
    chunks = []
    for event in events:
        assert not list(event_validator.iter_errors(event)), event
        if event["data"] != "[DONE]":
            chunk = json.loads(event["data"])
            assert not [e.message for e in chunk_validator.iter_errors(chunk)], chunk
            chunks.append(chunk)
    real = [chunk for chunk in chunks if chunk["object"]]  # drop Azure's prompt-filter preamble
    assert len({(chunk["id"], chunk["created"], chunk["model"]) for chunk in real}) == 1, "one id/created/model"
    finishing = [c for chunk in real for c in chunk["choices"] if c.get("finish_reason")]
    assert len(finishing) == 1
    if "chat.completion.chunk" == real[0]["object"]:
        assert real[0]["choices"][0]["delta"].get("role") == "assistant", "the first delta carries the role"


@pytest.mark.parametrize(("where", "schema", "text"), JSONRPC_TRANSCRIPTS, ids=[t[0] for t in JSONRPC_TRANSCRIPTS])
def test_jsonrpc_stream_transcript_is_a_valid_stream(where: str, schema: dict, text: str) -> None:
    """Every event is one JSON-RPC message valid for the stream; no `[DONE]`. A stream answering a POST ends
    with the response to it (a result or an error, with the request's id) and holds only one response; the
    GET stream carries only server-initiated messages (notifications and requests)."""
    assert text.endswith("\n\n") and "[DONE]" not in text
    events = parse_sse(text)
    event_validator = openapi_schema_validator(schema)
    payload_validator = openapi_schema_validator(content_schema_of(resolve_openapi(schema)))
    messages = []
    for event in events:
        assert not list(event_validator.iter_errors(event)), event
        if event["data"] == "":  # a priming event (SEP-1699): an id to resume from, no message
            assert "id" in event
            continue
        message = json.loads(event["data"])
        assert not [e.message for e in payload_validator.iter_errors(message)], message
        assert message["jsonrpc"] == "2.0"
        messages.append(message)
    assert messages, "a transcript shows at least one message"
    responses = [m for m in messages if "method" not in m]
    if where.startswith("GET "):
        assert not responses, "the GET stream carries no responses"
        return
    assert "method" not in messages[-1], "a POST's stream ends with its response"
    if service_of(where.split()[1]) == "mcp":
        assert len(responses) == 1, "MCP: one response per request stream"
    else:
        assert len({m["id"] for m in responses}) == 1, "A2A: every event answers the one request"
    for response in responses:
        assert ("result" in response) != ("error" in response)


def test_every_stream_media_type_has_a_transcript() -> None:
    streams = [where for where, media_type, _ in iter_media_types() if media_type == "text/event-stream"]
    covered = {where.rsplit(" ", 1)[0] for where, *_ in TRANSCRIPTS}
    assert streams and set(streams) <= covered


# --- (3) the seed ---------------------------------------------------------------------------------------------

SEED_SCHEMA_FOR = {
    "chat-completion-request": "chat-completion-request.json",
    "chat-completion-response": "chat-completion-response.json",
    "completion-request": "completion-request.json",
    "completion-response": "completion-response.json",
    "embedding-request": "embedding-request.json",
    "embedding-response": "embedding-response.json",
    "mcp-request": "mcp-request.json",
    "mcp-response": "mcp-response.json",
}

# Seed examples our schemas reject, each with the reason. The reasons are the official contracts': OpenAI's
# CreateChatCompletionResponse / CreateCompletionResponse (and Azure's 2024-10-21 ones) require them too.
SEED_REJECTED = {
    "ai-gateway-chat-completion-response-example.json": {
        "'refusal' is a required property": "message.refusal (null when there is none) is required by both official contracts",
        "'logprobs' is a required property": "choices[].logprobs (null when not requested) is required by both official contracts",
    },
    "ai-gateway-completion-response-example.json": {
        "'logprobs' is a required property": "choices[].logprobs (null when not requested) is required by both official contracts",
    },
    ("openapi", "/deployments/{deployment-id}/chat/completions", "200"): {
        "'refusal' is a required property": "as above",
        "'logprobs' is a required property": "as above",
    },
    ("openapi", "/deployments/{deployment-id}/completions", "200"): {
        "'logprobs' is a required property": "as above",
    },
}


def _seed_example_files(shared: Path) -> list[tuple[Path, str]]:
    files = sorted((shared / "seed-specs" / "examples").glob("ai-gateway-*-example.json"))
    assert len(files) == 8
    return [(path, SEED_SCHEMA_FOR[path.name.removeprefix("ai-gateway-").removesuffix("-example.json")]) for path in files]


def _errors(schema_name: str, instance: Any) -> set[str]:
    return {error.message for error in schema_validator(schema_name).iter_errors(instance)}


@pytest.mark.needs_shared
def test_seed_example_files(shared_dir: Path) -> None:
    for path, schema_name in _seed_example_files(shared_dir):
        errors = _errors(schema_name, json.loads(path.read_text(encoding="utf-8")))
        assert errors == set(SEED_REJECTED.get(path.name, {})), (path.name, errors)


def _seed_inline_examples(shared: Path) -> Iterator[tuple[str, str, str, Any]]:
    seed = yaml.safe_load((shared / "seed-specs" / "openapi" / "microsoft-azure-api-management-ai-gateway-openapi.yaml").read_text())
    kind = {"/chat/completions": "chat-completion", "/completions": "completion", "/embeddings": "embedding", "/mcp": "mcp"}
    for path, item in seed["paths"].items():
        stem = next(value for suffix, value in kind.items() if path.endswith(suffix))
        operation = item["post"]
        for example in operation["requestBody"]["content"]["application/json"]["examples"].values():
            yield path, "request", f"{stem}-request.json", example["value"]
        for status, response in operation["responses"].items():
            for example in response["content"]["application/json"]["examples"].values():
                yield path, status, f"{stem}-response.json", example["value"]


@pytest.mark.needs_shared
def test_seed_openapi_inline_examples(shared_dir: Path) -> None:
    checked = 0
    for path, where, schema_name, value in _seed_inline_examples(shared_dir):
        errors = _errors(schema_name, value)
        assert errors == set(SEED_REJECTED.get(("openapi", path, where), {})), (path, where, errors)
        checked += 1
    assert checked == 8

