"""mcp and a2a: the JSON-RPC protocols a gateway passes through (or a mock serves).

MCP streamable HTTP (facts file §3): ``initialize`` issues an ``Mcp-Session-Id``; a later request
without it is 400, with an unknown one 404; errors are JSON-RPC error objects echoing the request's
``id`` (-32601 unknown method, -32602 bad params, -32700 unparseable); a tool that fails is a *result*
with ``isError: true``. Answers may come as JSON or as an SSE stream; both are read.

A2A: the agent card has the required fields and every endpoint URL in it points at the target (a
gateway must rewrite its backend's URLs); ``message/send`` echoes ids and answers a Task or Message;
``message/stream`` is ``text/event-stream`` of JSON-RPC responses with the request's id, ending with
a final event.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import orjson
import pytest

from aigw.protocol import sse

MCP_VERSION = "2025-06-18"
ACCEPT_BOTH = "application/json, text/event-stream"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
TERMINAL_TASK_STATES = {"completed", "failed", "canceled", "rejected", "input-required", "auth-required"}


def _responses(exchange) -> list[dict]:
    """JSON-RPC messages of a JSON or SSE answer."""
    media = (exchange.header("content-type") or "").split(";")[0].strip().lower()
    if media == "text/event-stream":
        out = []
        for event in sse.decode_all(exchange.body):
            if event.data.strip():
                try:
                    out.append(orjson.loads(event.data))
                except orjson.JSONDecodeError:
                    raise AssertionError(f"an SSE event is not JSON: {event.data[:200]!r}") from None
        return out
    body = exchange.json()
    return body if isinstance(body, list) else [body]


def _answer_to(exchange, request_id) -> dict:
    """The JSON-RPC response to ``request_id`` (the id must be echoed exactly, type included)."""
    for message in _responses(exchange):
        if isinstance(message, dict) and "id" in message and ("result" in message or "error" in message):
            if message["id"] == request_id and type(message["id"]) is type(request_id):
                assert message.get("jsonrpc") == "2.0", f"response lacks jsonrpc 2.0: {message}"
                return message
    raise AssertionError(f"no JSON-RPC response with id {request_id!r} (status {exchange.status}): {exchange.body[:400]!r}")


class McpClient:
    def __init__(self, target) -> None:
        self.target, self.path, self.session = target, target.capabilities.mcp, None

    def post(self, message, *, session: str | None | bool = True, raw: bytes | None = None):
        headers = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH}
        sid = self.session if session is True else session or None
        if sid:
            headers["Mcp-Session-Id"] = sid
            headers["MCP-Protocol-Version"] = MCP_VERSION
        return self.target.request("POST", self.path, body=raw if raw is not None else orjson.dumps(message), headers=headers)

    def initialize(self) -> dict:
        request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": MCP_VERSION, "capabilities": {}, "clientInfo": {"name": "aigw-check", "version": "1"}}}
        exchange = self.post(request, session=False)
        assert exchange.status == 200, f"initialize got {exchange.status}: {exchange.body[:300]!r}"
        answer = _answer_to(exchange, 1)
        assert "result" in answer, f"initialize failed: {answer}"
        self.session = exchange.header("mcp-session-id")
        assert self.session, "initialize did not issue an Mcp-Session-Id header"
        assert all(0x21 <= ord(c) <= 0x7E for c in self.session), f"session id {self.session!r} has non-visible characters"
        note = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert note.status == 202, f"the notifications/initialized notification got {note.status}, not 202"
        return answer["result"]

    def call(self, method: str, params=None, request_id=7) -> dict:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params is not None else {})}
        exchange = self.post(message)
        assert exchange.status == 200, f"{method} got HTTP {exchange.status}: {exchange.body[:300]!r}"
        return _answer_to(exchange, request_id)


@pytest.mark.aigw(group="mcp", needs=("mcp",))
def test_mcp_initialize_issues_a_session(aigw_target):
    client = McpClient(aigw_target)
    result = client.initialize()
    assert isinstance(result.get("protocolVersion"), str), f"initialize result lacks protocolVersion: {result}"
    assert isinstance(result.get("capabilities"), dict), f"initialize result lacks capabilities: {result}"
    assert isinstance((result.get("serverInfo") or {}).get("name"), str), f"initialize result lacks serverInfo.name: {result}"
    listing = client.call("tools/list", {})
    assert isinstance((listing.get("result") or {}).get("tools"), list), f"tools/list in the session failed: {listing}"


@pytest.mark.aigw(group="mcp", needs=("mcp",))
def test_mcp_session_rules(aigw_target):
    client = McpClient(aigw_target)
    client.initialize()
    ping = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    missing = client.post(ping, session=False)
    assert missing.status == 400, f"a request without Mcp-Session-Id after initialize got {missing.status}, not 400"
    unknown = client.post(ping, session=f"unknown-{uuid.uuid4().hex}")
    assert unknown.status == 404, f"a request with an unknown Mcp-Session-Id got {unknown.status}, not 404"
    ended = aigw_target.request("DELETE", client.path, headers={"Mcp-Session-Id": client.session,
                                                                 "MCP-Protocol-Version": MCP_VERSION})
    if ended.status == 405:
        return  # the spec lets a server refuse client-initiated termination
    assert ended.status in (200, 202, 204), f"DELETE of the session got {ended.status}"
    after = client.post(ping)
    assert after.status == 404, f"a request in a session the client ended got {after.status}, not 404"


@pytest.mark.aigw(group="mcp", needs=("mcp",))
@pytest.mark.parametrize("request_id", [41, "req-41"], ids=["int-id", "string-id"])
def test_mcp_jsonrpc_errors_echo_the_id(aigw_target, request_id):
    client = McpClient(aigw_target)
    client.initialize()
    unknown = client.call("no/such/method", {}, request_id)
    assert (unknown.get("error") or {}).get("code") == -32601, f"an unknown method must be -32601: {unknown}"
    bad = client.call("tools/call", {"arguments": {}}, request_id)
    assert (bad.get("error") or {}).get("code") == -32602, f"tools/call without a name must be -32602: {bad}"
    nameless = client.call("tools/call", {"name": f"no_such_tool_{uuid.uuid4().hex[:8]}"}, request_id)
    assert (nameless.get("error") or {}).get("code") == -32602, f"an unknown tool must be -32602: {nameless}"
    garbled = client.post(None, raw=b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert garbled.status in (200, 400), f"unparseable JSON got HTTP {garbled.status}"
    codes = [(m.get("error") or {}).get("code") for m in _responses(garbled) if isinstance(m, dict)]
    assert -32700 in codes, f"unparseable JSON must be answered with -32700: {garbled.body[:300]!r}"


@pytest.mark.aigw(group="mcp", needs=("mcp",))
def test_mcp_tool_failures_are_results(aigw_target):
    """Bad arguments and failing tools: a result with isError true (2025-06-18 also allows -32602 for
    arguments that break the input schema), never an HTTP error."""
    client = McpClient(aigw_target)
    client.initialize()
    tools = (client.call("tools/list", {}).get("result") or {}).get("tools") or []
    strict = [t for t in tools if (t.get("inputSchema") or {}).get("required")]
    if not strict:
        pytest.skip("not applicable: the MCP server lists no tool with required arguments")
    answer = client.call("tools/call", {"name": strict[0]["name"], "arguments": {}})
    if "error" in answer:
        assert answer["error"].get("code") == -32602, f"bad tool arguments must be isError or -32602: {answer}"
    else:
        assert answer["result"].get("isError") is True, f"a call missing required arguments did not fail: {answer}"
    for tool in (t for t in tools if "fail" in t.get("name", "")):
        result = client.call("tools/call", {"name": tool["name"], "arguments": {}}).get("result")
        assert result is not None and result.get("isError") is True, (
            f"tool {tool['name']!r} failed as a protocol error instead of a result with isError: {result}")
        assert isinstance(result.get("content"), list) and result["content"], "a failed tool result must say why in content"


# -- A2A ---------------------------------------------------------------------------------------------


def _card(target) -> dict:
    exchange = target.request("GET", target.capabilities.a2a)
    assert exchange.status == 200, f"GET {target.capabilities.a2a} got {exchange.status}"
    card = exchange.json()
    assert isinstance(card, dict), "the agent card is not a JSON object"
    return card


def _endpoints(card: dict) -> list[str]:
    urls = [i.get("url") for i in card.get("supportedInterfaces") or [] if isinstance(i, dict)]
    urls += [card.get("url")] + [i.get("url") for i in card.get("additionalInterfaces") or [] if isinstance(i, dict)]
    return [u for u in urls if u]


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    host = lambda u: "loopback" if (u.hostname or "") in LOOPBACK else u.hostname  # noqa: E731
    return a.scheme == b.scheme and host(a) == host(b) and (a.port or 80) == (b.port or 80)


@pytest.mark.aigw(group="a2a", needs=("a2a",))
def test_agent_card_shape_and_urls(aigw_target):
    card = _card(aigw_target)
    for name in ("name", "description", "version"):
        assert isinstance(card.get(name), str) and card[name], f"the agent card lacks {name!r}"
    assert isinstance(card.get("capabilities"), dict), "the agent card lacks capabilities"
    for name in ("defaultInputModes", "defaultOutputModes"):
        assert isinstance(card.get(name), list) and all(isinstance(m, str) for m in card[name]), f"{name} must be a list of media types"
    skills = card.get("skills")
    assert isinstance(skills, list) and skills, "the agent card lists no skills"
    for skill in skills:
        assert all(isinstance(skill.get(k), str) for k in ("id", "name", "description")), f"skill lacks id/name/description: {skill}"
    endpoints = _endpoints(card)
    assert endpoints, "the agent card names no endpoint URL (url or supportedInterfaces[].url)"
    for url in endpoints:
        assert _same_origin(url, aigw_target.base_url), (
            f"the agent card's endpoint {url} does not point at the target {aigw_target.base_url} (a gateway must rewrite it)")


def _a2a_path(target) -> str:
    url = _endpoints(_card(target))[0]
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _message(text: str) -> dict:
    return {"message": {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex,
                        "parts": [{"kind": "text", "text": text}]}}


def _rpc(target, path: str, payload: dict | bytes, accept: str = "application/json"):
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return target.request("POST", path, body=body, headers={"Content-Type": "application/json", "Accept": accept})


@pytest.mark.aigw(group="a2a", needs=("a2a",))
@pytest.mark.parametrize("request_id", [5, "a2a-5"], ids=["int-id", "string-id"])
def test_a2a_jsonrpc_answers_and_errors(aigw_target, request_id):
    path = _a2a_path(aigw_target)
    sent = _rpc(aigw_target, path, {"jsonrpc": "2.0", "id": request_id, "method": "message/send",
                                    "params": _message("What can you do?")})
    assert sent.status == 200, f"message/send got HTTP {sent.status}: {sent.body[:300]!r}"
    answer = _answer_to(sent, request_id)
    result = answer.get("result")
    assert isinstance(result, dict) and result.get("kind") in ("task", "message"), f"message/send must answer a Task or Message: {answer}"
    unknown = _answer_to(_rpc(aigw_target, path, {"jsonrpc": "2.0", "id": request_id, "method": "no/such", "params": {}}), request_id)
    assert (unknown.get("error") or {}).get("code") == -32601, f"an unknown method must be -32601: {unknown}"
    bad = _answer_to(_rpc(aigw_target, path, {"jsonrpc": "2.0", "id": request_id, "method": "message/send",
                                              "params": {"message": "not an object"}}), request_id)
    assert (bad.get("error") or {}).get("code") == -32602, f"message/send with a malformed message must be -32602: {bad}"
    garbled = _rpc(aigw_target, path, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    codes = [(m.get("error") or {}).get("code") for m in _responses(garbled) if isinstance(m, dict)]
    assert -32700 in codes, f"unparseable JSON must be answered with -32700: {garbled.status} {garbled.body[:300]!r}"


def _is_final(result: dict) -> bool:
    kind = result.get("kind")
    if kind == "message":
        return True
    if kind == "status-update":
        return result.get("final") is True
    if kind == "task":
        return (result.get("status") or {}).get("state") in TERMINAL_TASK_STATES
    return False


@pytest.mark.aigw(group="a2a", needs=("a2a",))
@pytest.mark.parametrize("text", ["Hello there", "Please summarise this report"])
def test_a2a_message_stream_framing(aigw_target, text):
    if not _card(aigw_target).get("capabilities", {}).get("streaming"):
        pytest.skip("not applicable: the agent card does not declare streaming")
    exchange = _rpc(aigw_target, _a2a_path(aigw_target), {"jsonrpc": "2.0", "id": "st-1", "method": "message/stream",
                                                           "params": _message(text)}, accept="text/event-stream")
    assert exchange.status == 200, f"message/stream got HTTP {exchange.status}: {exchange.body[:300]!r}"
    media = (exchange.header("content-type") or "").split(";")[0].strip().lower()
    assert media == "text/event-stream", f"message/stream answered {exchange.header('content-type')!r}, not text/event-stream"
    decoder = sse.SSEDecoder()
    decoder.feed(exchange.body)
    assert not decoder.has_partial_event, "the stream ends in the middle of an event"
    events = [e for e in decoder.events if e.data.strip()]
    assert events, "message/stream sent no events"
    for position, event in enumerate(events):
        try:
            message = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise AssertionError(f"event {position} is not JSON: {event.data[:200]!r}") from None
        assert message.get("jsonrpc") == "2.0" and message.get("id") == "st-1", f"event {position} is not a response to st-1: {message}"
        assert "result" in message, f"event {position} is an error: {message}"
        final = _is_final(message["result"])
        assert final == (position == len(events) - 1), (
            f"event {position} of {len(events)}: {'a final event before the end' if final else 'the stream ends without a final event'}"
            f" ({message['result'].get('kind')})")
