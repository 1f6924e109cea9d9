"""Schemathesis reads the contract the way the contract tests will: it loads openapi.yaml with its relative
schema refs offline, accepts the examples as responses, and validates every event of a stream through
`contentMediaType` + `contentSchema` (rejecting a malformed chunk)."""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response

from spec_support import SPECS_DIR, iter_operations, openapi_document, resolve_openapi


@pytest.fixture(scope="module")
def schema():
    return schemathesis.openapi.from_path(str(SPECS_DIR / "openapi.yaml"))


def _response(status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"content-type": [content_type], **{k: [v] for k, v in (headers or {}).items()}}
    request = requests.Request("POST", "http://gateway.test/v1/chat/completions").prepare()
    return Response(status_code=status, headers=all_headers, content=body, request=request, elapsed=0.01, verify=True)


def _example(name: str):
    return resolve_openapi(openapi_document()["components"]["examples"][name])["value"]


def test_every_operation_loads(schema) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(list(iter_operations())) >= 25  # 11 model, 6 MCP, 3 A2A, 10 Content Safety


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/deployments/{deployment-id}/chat/completions"])
def test_json_and_stream_examples_pass(schema, path: str) -> None:
    operation = schema[path]["POST"]
    for name in ("ChatCompletionResponseBasic", "ChatCompletionResponseToolCalls", "ChatCompletionResponseAzure"):
        operation.validate_response(_response(200, "application/json", json.dumps(_example(name)).encode()))
    for name in ("ChatCompletionStreamOpenAI", "ChatCompletionStreamAzure"):
        operation.validate_response(_response(200, "text/event-stream", _example(name).encode()))


def test_completion_stream_example_passes(schema) -> None:
    schema["/v1/completions"]["POST"].validate_response(
        _response(200, "text/event-stream", _example("CompletionStream").encode())
    )


def _stream_failure(schema, body: bytes) -> str:
    with pytest.raises((AssertionError, FailureGroup)) as caught:
        schema["/v1/chat/completions"]["POST"].validate_response(_response(200, "text/event-stream", body))
    return str(caught.value)


def test_stream_with_a_malformed_chunk_fails(schema) -> None:
    broken = _example("ChatCompletionStreamOpenAI").replace('"finish_reason":"stop"', '"finish_reason":"done"')
    assert "SSE event violates schema" in _stream_failure(schema, broken.encode())


def test_stream_with_a_wrong_terminator_fails(schema) -> None:
    broken = _example("ChatCompletionStreamOpenAI").replace("data: [DONE]", "data: [END]")
    assert "SSE event violates schema" in _stream_failure(schema, broken.encode())


def test_chunk_with_an_unknown_field_fails(schema) -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "extra": 1}
    body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
    assert "SSE event violates schema" in _stream_failure(schema, body)


@pytest.mark.parametrize(("path", "name"), [("/mcp", "McpToolCallStream"), ("/mcp/{server}", "McpResumableToolCallStream"),
                                          ("/a2a/{agent}", "A2AStreamTranscript")])
def test_jsonrpc_stream_examples_pass(schema, path: str, name: str) -> None:
    schema[path]["POST"].validate_response(_response(200, "text/event-stream", _example(name).encode()))


@pytest.mark.parametrize(("path", "name"), [("/mcp", "McpToolCallStream"), ("/a2a/{agent}", "A2AStreamTranscript")])
def test_jsonrpc_stream_with_a_malformed_message_fails(schema, path: str, name: str) -> None:
    """Each event's JSON-RPC message is validated (contentSchema), not only the event envelope."""
    broken = _example(name).replace('"jsonrpc":"2.0"', '"jsonrpc":"1.0"', 1)
    with pytest.raises((AssertionError, FailureGroup)) as caught:
        schema[path]["POST"].validate_response(_response(200, "text/event-stream", broken.encode()))
    # "SSE event violates schema" (MCP: the payload schema sits in an anyOf branch) or "SSE event payload
    # violates content schema" (A2A: contentSchema directly on `data`).
    assert str(caught.value).startswith("SSE event") and "violates" in str(caught.value)


def test_mcp_get_stream_example_passes(schema) -> None:
    schema["/mcp"]["GET"].validate_response(
        _response(200, "text/event-stream", _example("McpResourceUpdatedStream").encode())
    )


def test_error_bodies_and_rate_limit_headers_pass(schema) -> None:
    operation = schema["/openai/deployments/{deployment-id}/chat/completions"]["POST"]
    for name in ("ErrorRateLimited", "ErrorGatewayRateLimited"):
        operation.validate_response(
            _response(429, "application/json", json.dumps(_example(name)).encode(),
                      {"retry-after": "2", "retry-after-ms": "1500", "apim-request-id": "0d7c9c5e-8c1e-4a53-9b0e-2f1f9c6c1a11"})
        )
    with pytest.raises((AssertionError, FailureGroup)):
        operation.validate_response(
            _response(400, "application/json", json.dumps({"error": {"message": "no code"}}).encode())
        )
