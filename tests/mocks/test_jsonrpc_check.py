"""The ``jsonrpc_conformance`` check (tests/schemathesis_jsonrpc.py) catches what Schemathesis' built-ins let
through inside HTTP 200, and passes the answers the services really give."""

import json

import pytest

from schemathesis_jsonrpc import check_response

JSON = "application/json"
SSE = "text/event-stream"
REQUEST = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "calculator"}}


def _body(*messages: dict) -> bytes:
    return json.dumps(messages[0]).encode() if len(messages) == 1 else b""


def _stream(*messages: dict) -> bytes:
    return b"".join(b"id: 1-%d\nevent: message\ndata: %s\n\n" % (i, json.dumps(m).encode()) for i, m in enumerate(messages))


def _fails(service: str, status: int, content_type: str, content: bytes, request=REQUEST, negative: bool = False) -> str:
    with pytest.raises(AssertionError) as caught:
        check_response(service, status, content_type, content, request, negative)
    return str(caught.value)


@pytest.mark.parametrize(("service", "status", "content_type", "content", "request_body"), [
    ("mcp", 200, JSON, _body({"jsonrpc": "2.0", "id": 7, "result": {"content": []}}), REQUEST),
    ("mcp", 200, JSON, _body({"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "Invalid params"}}), REQUEST),
    ("mcp", 400, JSON, _body({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}), "{"),
    ("mcp", 404, JSON, _body({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "Session not found"}}), REQUEST),
    ("mcp", 200, SSE, _stream({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}},
                              {"jsonrpc": "2.0", "id": 7, "result": {}}), REQUEST),
    ("mcp", 202, JSON, b"", {"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ("a2a", 200, JSON, _body({"jsonrpc": "2.0", "id": "g", "error": {"code": -32001, "message": "Task not found"}}),
     {"jsonrpc": "2.0", "id": "g", "method": "GetTask"}),
    ("a2a", 404, JSON, _body({"error": {"code": "NotFound", "message": "No A2A agent named 'x'"}}), REQUEST),
])
def test_conformant_answers_pass(service, status, content_type, content, request_body) -> None:
    check_response(service, status, content_type, content, request_body)


def test_a_result_with_another_id_fails() -> None:
    assert "answers a request with id 7" in _fails("mcp", 200, JSON, _body({"jsonrpc": "2.0", "id": 8, "result": {}}))


def test_an_error_with_null_id_for_a_readable_request_fails() -> None:
    body = _body({"jsonrpc": "2.0", "id": None, "error": {"code": -32602, "message": "Invalid params"}})
    assert "id null" in _fails("mcp", 200, JSON, body)


def test_result_and_error_together_fail() -> None:
    body = _body({"jsonrpc": "2.0", "id": 7, "result": {}, "error": {"code": -32602, "message": "x"}})
    assert "exactly one of result and error" in _fails("mcp", 200, JSON, body)


@pytest.mark.parametrize(("service", "code"), [("mcp", -32005), ("mcp", 42), ("a2a", -32010), ("a2a", "oops")])
def test_codes_outside_the_protocol_fail(service: str, code) -> None:
    body = _body({"jsonrpc": "2.0", "id": 7, "error": {"code": code, "message": "x"}})
    assert "is not one" in _fails(service, 200, JSON, body)


def test_an_internal_error_fails() -> None:
    body = _body({"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "Internal error"}})
    assert "-32603" in _fails("a2a", 200, JSON, body)


def test_a_stream_that_does_not_end_with_the_response_fails() -> None:
    stream = _stream({"jsonrpc": "2.0", "id": 7, "result": {}}, {"jsonrpc": "2.0", "method": "notifications/message"})
    assert "does not end with the response" in _fails("mcp", 200, SSE, stream)


def test_two_responses_on_one_mcp_stream_fail() -> None:
    stream = _stream({"jsonrpc": "2.0", "id": 7, "result": {}}, {"jsonrpc": "2.0", "id": 7, "result": {}})
    assert "2 responses" in _fails("mcp", 200, SSE, stream)


def test_a_result_for_a_schema_violating_body_fails() -> None:
    body = _body({"jsonrpc": "2.0", "id": 7, "result": {}})
    assert "got a result" in _fails("mcp", 200, JSON, body, negative=True)


def test_wrong_jsonrpc_version_and_non_json_fail() -> None:
    assert '"2.0"' in _fails("mcp", 200, JSON, _body({"jsonrpc": "1.0", "id": 7, "result": {}}))
    assert "not JSON" in _fails("a2a", 200, JSON, b"{not json")
