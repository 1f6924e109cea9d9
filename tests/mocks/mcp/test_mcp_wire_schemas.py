"""What the MCP servers actually send validates against the official MCP schema (2025-06-18, from ../shared)
and against our own contract (specs/schemas/mcp-response.json $defs) — results, errors and SSE notifications."""

import json

import httpx
import jsonschema
import jsonschema_rs
import pytest

from aigw.protocol.spec import SCHEMA_BASE, registry, validator
from mcp_helpers import BOTH, RawSession, running_mock, shared_dir, sse_messages

CALLS = [  # (server, method, params, official definition, our $defs name)
    ("default", "ping", None, "EmptyResult", "EmptyResult"),
    ("default", "tools/list", {}, "ListToolsResult", "ListToolsResult"),
    ("default", "tools/call", {"name": "calculator", "arguments": {"operation": "add", "a": 1, "b": 2}},
     "CallToolResult", "CallToolResult"),
    ("default", "tools/call", {"name": "search_docs", "arguments": {"query": "caching"}}, "CallToolResult", "CallToolResult"),
    ("default", "tools/call", {"name": "failing_tool", "arguments": {}}, "CallToolResult", "CallToolResult"),
    ("default", "resources/list", {}, "ListResourcesResult", "ListResourcesResult"),
    ("default", "resources/templates/list", {}, "ListResourceTemplatesResult", "ListResourceTemplatesResult"),
    ("default", "resources/read", {"uri": "docs://token-limits"}, "ReadResourceResult", "ReadResourceResult"),
    ("default", "resources/read", {"uri": "docs://logo.png"}, "ReadResourceResult", "ReadResourceResult"),
    ("default", "resources/read", {"uri": "weather://Oslo/current"}, "ReadResourceResult", "ReadResourceResult"),
    ("default", "prompts/list", {}, "ListPromptsResult", "ListPromptsResult"),
    ("default", "prompts/get", {"name": "summarize_document", "arguments": {"slug": "mcp-servers"}},
     "GetPromptResult", "GetPromptResult"),
    ("default", "completion/complete", {"ref": {"type": "ref/prompt", "name": "weather_report"},
                                        "argument": {"name": "location", "value": "S"}}, "CompleteResult", "CompleteResult"),
    ("default", "logging/setLevel", {"level": "debug"}, "EmptyResult", "EmptyResult"),
    ("conformance", "tools/call", {"name": "test_image_content"}, "CallToolResult", "CallToolResult"),
    ("conformance", "tools/call", {"name": "test_audio_content"}, "CallToolResult", "CallToolResult"),
    ("conformance", "tools/call", {"name": "test_multiple_content_types"}, "CallToolResult", "CallToolResult"),
    ("conformance", "tools/call", {"name": "test_embedded_resource"}, "CallToolResult", "CallToolResult"),
    ("conformance", "prompts/get", {"name": "test_prompt_with_image"}, "GetPromptResult", "GetPromptResult"),
    ("conformance", "prompts/get", {"name": "test_prompt_with_embedded_resource",
                                    "arguments": {"resourceUri": "test://x"}}, "GetPromptResult", "GetPromptResult"),
]
ERRORS = [("default", "no/such", {}), ("default", "tools/call", {"name": "nope"}),
          ("default", "resources/read", {"uri": "docs://missing"}), ("default", "prompts/get", {"name": "summarize_document"})]


@pytest.fixture(scope="module")
def official():
    definitions = json.loads((shared_dir() / "reference" / "upstream-specs" / "mcp-schema-2025-06-18.json").read_text())

    def check(name: str, instance) -> list[str]:
        schema = {"$ref": f"#/definitions/{name}", "definitions": definitions["definitions"]}
        return [f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(instance)]
    return check


def ours(name: str, instance) -> list[str]:
    compiled = jsonschema_rs.validator_for({"$ref": f"{SCHEMA_BASE}mcp-response.json#/$defs/{name}"}, registry=registry())
    return [e.message for e in compiled.iter_errors(instance)]


@pytest.fixture(scope="module")
def sessions():
    with running_mock() as (url, _):
        with httpx.Client(base_url=url, timeout=10) as client:
            yield {name: RawSession(client, f"/mcp/{name}") for name in ("default", "conformance")}


def test_initialize_result(sessions, official):
    for session in sessions.values():
        assert official("InitializeResult", session.init) == [] and ours("InitializeResult", session.init) == []


@pytest.mark.parametrize("server, method, params, official_name, our_name", CALLS,
                         ids=[f"{c[0]}:{c[1]}:{(c[2] or {}).get('name') or (c[2] or {}).get('uri', '')}" for c in CALLS])
def test_results(sessions, official, server, method, params, official_name, our_name):
    response = sessions[server].call(method, params)
    assert validator("mcp-response").is_valid(response)
    assert official("JSONRPCResponse", response) == []
    assert official(official_name, response["result"]) == [] and ours(our_name, response["result"]) == []


@pytest.mark.parametrize("server, method, params", ERRORS, ids=[e[1] for e in ERRORS])
def test_errors(sessions, official, server, method, params):
    response = sessions[server].call(method, params)
    assert official("JSONRPCError", response) == [] and ours("Error", response) == []


def test_stream_notifications(sessions, official):
    response = sessions["default"].post({"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {
        "name": "slow_task", "arguments": {"steps": 2, "step_ms": 0}, "_meta": {"progressToken": "t"}}}, accept=BOTH)
    messages = sse_messages(response.content)
    kinds = {"notifications/progress": "ProgressNotification", "notifications/message": "LoggingMessageNotification"}
    for message in messages[:-1]:
        assert official("JSONRPCNotification", message) == [] and official(kinds[message["method"]], message) == []
        assert ours("ServerNotification", message) == []
    assert official("CallToolResult", messages[-1]["result"]) == []


def test_what_clients_send_validates_against_our_request_schema():
    check = validator("mcp-request")
    assert check.is_valid({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "calculator"}})
    assert not check.is_valid({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}})
    assert not check.is_valid({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "loud"}})
    assert check.is_valid({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert check.is_valid({"jsonrpc": "2.0", "id": 3, "result": {"action": "accept"}})
    assert not check.is_valid({"jsonrpc": "2.0", "id": None, "method": "ping"})
