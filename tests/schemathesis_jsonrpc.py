"""A Schemathesis check for JSON-RPC answers, and the set-up that lets generated cases reach MCP and A2A methods.

Schemathesis' built-in checks judge HTTP: a JSON-RPC service answers most errors inside HTTP 200, so a wrong
id, an invented error code or a response with both ``result`` and ``error`` passes every one of them as long
as the body matches the (necessarily loose) response schema. ``jsonrpc_conformance`` reads every JSON-RPC
response of an MCP or A2A operation — the JSON body, or each message of an event stream — and asserts:

- it is a response: ``jsonrpc`` "2.0" and exactly one of ``result`` and ``error``;
- its id echoes the request's id. ``null`` only on an error answering a request whose id could not be read
  (JSON-RPC 2.0 §5: parse error, invalid request) or refused at the HTTP level before the message was read
  (non-200: missing session, unauthorized, too large, wrong media type);
- an error's code is one the protocol defines (``MCP_CODES`` / ``A2A_CODES``) and its message a non-empty
  string; and it is never -32603 Internal error: in a run without injected faults that is the server
  failing, the JSON-RPC twin of a 5xx that ``not_a_server_error`` would flag;
- a stream answering a request ends with its response, and (MCP) holds exactly one;
- a request whose body Schemathesis generated to violate the schema, answered 200, is answered with an
  error and never a result: the JSON-RPC form of ``negative_data_rejection``, which for these operations
  is configured to accept 200 (``NEGATIVE_STATUSES``), because JSON-RPC answers most refusals inside 200.

Routing answers that are not JSON-RPC — 404 for a server or agent that does not exist, 405 for a method
the path does not take — are left to the built-in checks.

``registered(check)`` adds the check to Schemathesis' registry only for the duration of one run, so other
runs in the same process (the model API's, which asserts its exact set of checks) never see it.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from typing import Any, Callable, Iterator

import httpx
from schemathesis.checks import CHECKS
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.case import Case

JSONRPC_CODES = {-32700, -32600, -32601, -32602, -32603}  # JSON-RPC 2.0 §5.1
# MCP adds -32002 resource not found (spec, resources/read) and -32001 session not found (the reference
# SDKs' code for an unknown Mcp-Session-Id, answered with HTTP 404); see specs/schemas/mcp-response.json.
MCP_CODES = JSONRPC_CODES | {-32001, -32002}
# A2A v1.0 §5.4 (and v0.3): TaskNotFound -32001 ... VersionNotSupported -32009.
A2A_CODES = JSONRPC_CODES | set(range(-32009, -32000))
UNREADABLE = {-32700, -32600}
INTERNAL_ERROR = -32603
# negative_data_rejection's default statuses, plus 200 (see the module docstring), for the JSON-RPC POSTs.
NEGATIVE_STATUSES = ["200", "400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
# Per-operation settings for the JSON-RPC POSTs.
JSONRPC_OPERATIONS = [
    {"include-method": "POST", "include-path-regex": r"^/(mcp|a2a/)",
     "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_STATUSES}}},
]


def jsonrpc_service(path: str) -> str | None:
    """"mcp" or "a2a" for an operation that speaks JSON-RPC (by its path template), else None."""
    if path == "/mcp" or path.startswith("/mcp/"):
        return "mcp"
    if path == "/a2a/{agent}":
        return "a2a"
    return None


def _header(headers: dict[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return ""


def _request_id(body: Any) -> tuple[bool, Any]:
    """(readable, id): whether the request carries an id a server can echo, and that id."""
    if isinstance(body, dict) and "id" in body:
        value = body["id"]
        if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
            return True, value
    return False, None


def _messages(content_type: str, content: bytes) -> list[Any]:
    if content_type.startswith("text/event-stream"):
        text = content.decode("utf-8")
        messages = []
        for block in text.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:"))
            if data.strip():
                messages.append(json.loads(data))
        return messages
    return [json.loads(content)]


def check_response(service: str, status: int, content_type: str, content: bytes, request: Any,
                   negative_body: bool = False) -> None:
    """Raise AssertionError naming the first way the answer breaks JSON-RPC (see the module docstring)."""
    if not content or not (content_type.startswith("text/event-stream") or "json" in content_type):
        return  # 202 for a notification: no body
    try:
        messages = _messages(content_type, content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AssertionError(f"a JSON-RPC answer that is not JSON: {exc}") from None
    if status in (404, 405) and not (isinstance(messages[0], dict) and "jsonrpc" in messages[0]):
        return  # a routing answer (no such server or agent; a method the path does not take)
    if negative_body and status == 200:
        results = [m for m in messages if isinstance(m, dict) and "result" in m]
        assert not results, "a request body that violates the schema got a result, not an error"
    readable, request_id = _request_id(request)
    codes = MCP_CODES if service == "mcp" else A2A_CODES
    responses = [m for m in messages if not (isinstance(m, dict) and "method" in m)]
    if isinstance(request, dict) and "method" in request and readable and content_type.startswith("text/event-stream"):
        assert responses and messages[-1] is responses[-1], "the stream does not end with the response to the request"
        if service == "mcp":
            assert len(responses) == 1, f"{len(responses)} responses on one MCP request stream"
    for message in responses:
        if isinstance(request, list) and isinstance(message, list):
            continue  # a batch answer (MCP 2025-03-26): judged by the schema checks
        assert isinstance(message, dict), f"a JSON-RPC response must be an object, got {type(message).__name__}"
        assert message.get("jsonrpc") == "2.0", f'"jsonrpc" is {message.get("jsonrpc")!r}, not "2.0"'
        assert ("result" in message) != ("error" in message), "a response carries exactly one of result and error"
        assert "id" in message, "a response carries the request's id"
        if "result" in message:
            assert readable and message["id"] == request_id, (
                f"a result with id {message['id']!r} answers a request with id {request_id!r}")
            continue
        error = message["error"]
        assert isinstance(error, dict), "error must be an object"
        code = error.get("code")
        assert code in codes, f"error code {code!r} is not one {service.upper()} defines ({sorted(codes)})"
        assert isinstance(error.get("message"), str) and error["message"], "an error needs a message"
        assert code != INTERNAL_ERROR, f"-32603 Internal error (the server failed): {error['message']}"
        if message["id"] is None:
            assert code in UNREADABLE or status != 200 or not readable or request_id is None, (
                f"error {code} with id null, but the request's id {request_id!r} was readable")
        else:
            assert readable and message["id"] == request_id, (
                f"an error with id {message['id']!r} answers a request with id {request_id!r}")


def jsonrpc_conformance(ctx: Any, response: Any, case: Case) -> bool | None:
    """Schemathesis check (see the module docstring). Returns True — Schemathesis' "skipped", not recorded —
    for operations that do not speak JSON-RPC, None when it checked and found nothing wrong."""
    service = jsonrpc_service(case.operation.path)
    if service is None or case.method.upper() != "POST":
        return True
    negative_body = case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY)
    check_response(service, response.status_code, _header(response.headers, "content-type").lower(),
                   response.content, case.body, negative_body)
    return None


@contextlib.contextmanager
def registered(check: Callable) -> Iterator[None]:
    CHECKS.register(check)
    try:
        yield
    finally:
        CHECKS.unregister(check.__name__)


# --- reaching the methods ------------------------------------------------------------------------------------


def _positive(case: Case, location: ParameterLocation) -> bool:
    return case.meta is None or not case.meta.is_negative_at(location)


def _pick(choices: tuple[str, ...], generated: Any) -> str:
    return choices[zlib.crc32(repr(generated).encode()) % len(choices)]


class ServiceRouter:
    """``map_case`` for the JSON-RPC services: positive parts of a case address what exists.

    Generated server and agent names are free strings in the contract, so they become configured ones. An
    MCP request needs a live session (``initialize`` first), which no generated header can hold: positive
    requests get one, per server, with its negotiated protocol version; a positive DELETE ends a session of
    its own, so the shared ones live on. Positive ``A2A-Version`` headers state the version of the method's
    generation. Negative parts stay as generated, so the refusals are exercised too.
    """

    def __init__(self, base_url: str, mcp_servers: tuple[str, ...], agents: tuple[str, ...],
                 v03_methods: frozenset[str]) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10)
        self.mcp_servers, self.agents, self.v03_methods = mcp_servers, agents, v03_methods
        self._sessions: dict[str, tuple[str, str]] = {}
        self.sessions_opened = 0

    def close(self) -> None:
        self.client.close()

    def open_session(self, path: str) -> tuple[str, str] | None:
        """A new initialized session on the server at ``path``; None where no server is (a negative path)."""
        response = self.client.post(path, headers={"accept": "application/json, text/event-stream"}, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "schemathesis", "version": "4"}}})
        if response.status_code != 200:
            return None
        session, version = response.headers["mcp-session-id"], _messages(
            response.headers["content-type"], response.content)[-1]["result"]["protocolVersion"]
        self.client.post(path, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                         headers={"mcp-session-id": session, "mcp-protocol-version": version,
                                  "accept": "application/json, text/event-stream"})
        self.sessions_opened += 1
        return session, version

    def __call__(self, context: Any, case: Case) -> Case:
        service = jsonrpc_service(case.operation.path)
        if service == "mcp":
            self._mcp(case)
        elif service == "a2a":
            self._a2a(case)
        return case

    def _mcp(self, case: Case) -> None:
        if case.path_parameters and _positive(case, ParameterLocation.PATH):
            case.path_parameters["server"] = _pick(self.mcp_servers, case.path_parameters.get("server"))
        if not _positive(case, ParameterLocation.HEADER):
            return
        path = case.formatted_path
        initialize = isinstance(case.body, dict) and case.body.get("method") == "initialize"
        if initialize:
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "mcp-session-id"}
            return
        if case.method.upper() == "DELETE":
            opened = self.open_session(path)
        else:
            if path not in self._sessions:
                self._sessions[path] = self.open_session(path)
            opened = self._sessions[path]
        if opened is None:
            return
        session, version = opened
        case.headers = {**(case.headers or {}), "Mcp-Session-Id": session, "MCP-Protocol-Version": version}

    def _a2a(self, case: Case) -> None:
        if case.path_parameters and _positive(case, ParameterLocation.PATH):
            case.path_parameters["agent"] = _pick(self.agents, case.path_parameters.get("agent"))
        if _positive(case, ParameterLocation.HEADER) and isinstance(case.body, dict):
            legacy = str(case.body.get("method")) in self.v03_methods
            case.headers = {**(case.headers or {}), "A2A-Version": "0.3" if legacy else "1.0"}
