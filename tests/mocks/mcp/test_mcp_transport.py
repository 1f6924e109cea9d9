"""Streamable HTTP as the MCP spec defines it: sessions, versions, headers, status codes, SSE, batches, auth."""

import json
import threading

import httpx
import pytest

from mcp_helpers import ADMIN, BOTH, RawSession, mock_config, running_mock, sse_messages, with_mcp_server


@pytest.fixture(scope="module")
def mock():
    with running_mock() as (url, app):
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client, app


@pytest.fixture
def client(mock):
    return mock[0]


def _initialize(version: str) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@pytest.mark.parametrize("offered, agreed", [("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                                             ("2025-03-26", "2025-03-26"), ("2024-11-05", "2025-11-25"),
                                             ("2099-01-01", "2025-11-25")])
def test_version_negotiation_answers_the_clients_version_or_our_latest(client, offered, agreed):
    response = client.post("/mcp", json=_initialize(offered), headers={"accept": BOTH})
    assert response.status_code == 200
    result = sse_messages(response.content)[-1]["result"]
    assert result["protocolVersion"] == agreed
    assert set(result["capabilities"]) == {"logging", "tools", "resources", "prompts", "completions"}
    assert response.headers["mcp-session-id"]


def test_capabilities_follow_what_the_server_exposes(client):
    caps = RawSession(client, "/mcp/tools").init["capabilities"]
    assert "tools" in caps and "resources" not in caps and "prompts" not in caps
    assert RawSession(client, "/mcp/tools").error("resources/list")["code"] == -32601


def test_session_is_required_checked_and_ended_by_delete(client):
    session = RawSession(client)
    ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
    missing = client.post("/mcp", json=ping, headers={"accept": "application/json"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32600 and missing.json()["id"] == 7
    unknown = client.post("/mcp", json=ping, headers={"accept": "application/json", "mcp-session-id": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32001
    assert session.result("ping") == {}
    assert client.delete("/mcp", headers={"mcp-session-id": session.id}).status_code == 204
    assert session.post(ping).status_code == 404
    assert client.delete("/mcp").status_code == 400


def test_idle_sessions_expire_on_the_mock_clock(client):
    session = RawSession(client)
    client.post("/_mock/clock/advance", json={"seconds": 3601}, headers=ADMIN).raise_for_status()
    assert session.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 404


def test_protocol_version_header_is_checked(client):
    session = RawSession(client)
    bad = session.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, **{"mcp-protocol-version": "1999-01-01"})
    assert bad.status_code == 400 and "MCP-Protocol-Version" in bad.json()["error"]["message"]
    headers = session.headers()
    del headers["mcp-protocol-version"]  # absent: the server assumes 2025-03-26 and carries on
    assert client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers).status_code == 200


def test_notifications_and_responses_get_202_without_body(client):
    session = RawSession(client)
    for message in ({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}},
                    {"jsonrpc": "2.0", "id": 5, "result": {}}):
        response = session.post(message)
        assert response.status_code == 202 and response.content == b""


def test_accept_header_chooses_json_or_sse(client):
    session = RawSession(client)
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert session.post(message, accept="application/json").headers["content-type"] == "application/json"
    streamed = session.post(message, accept=BOTH)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert [m["id"] for m in sse_messages(streamed.content)] == [1]
    assert session.post(message, accept="text/html").status_code == 406


def test_slow_tool_streams_progress_then_the_result(client):
    session = RawSession(client)
    response = session.post({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "slow_task", "arguments": {"steps": 4, "step_ms": 5}, "_meta": {"progressToken": "tok"}}}, accept=BOTH)
    messages = sse_messages(response.content)
    progress = [m["params"] for m in messages if m.get("method") == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1, 2, 3, 4] and {p["progressToken"] for p in progress} == {"tok"}
    assert messages[-1]["id"] == 3 and messages[-1]["result"]["content"][0]["text"].startswith("Completed 4 steps")


def test_priming_event_and_resumption_with_last_event_id(client):
    session = RawSession(client, version="2025-11-25")
    response = session.post({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "slow_task", "arguments": {"steps": 2, "step_ms": 1}, "_meta": {"progressToken": 1}}}, accept=BOTH)
    assert response.text.startswith("id: ") and "data: \n\n" in response.text.split("event:")[0]
    first_id = response.text.split("\n")[0][4:]
    resumed = client.get("/mcp", headers={**session.headers("text/event-stream"), "last-event-id": first_id})
    assert sse_messages(resumed.content) == sse_messages(response.content)
    bad = client.get("/mcp", headers={**session.headers("text/event-stream"), "last-event-id": "99-0"})
    assert bad.status_code == 400


def test_get_stream_carries_resource_updates_and_is_single(mock):
    client, app = mock
    session = RawSession(client)
    session.result("resources/subscribe", {"uri": "docs://token-limits"})
    received: list[bytes] = []
    opened = threading.Event()

    def listen():
        with client.stream("GET", "/mcp", headers=session.headers("text/event-stream")) as stream:
            opened.set()
            for chunk in stream.iter_bytes():
                received.append(chunk)
                if b"resources/updated" in b"".join(received):
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(5)
    second = client.get("/mcp", headers=session.headers("text/event-stream"))
    assert second.status_code == 409
    notified = client.post("/_mock/mcp/default/notify", json={"uri": "docs://token-limits"}, headers=ADMIN).json()
    assert notified["notified"] == 1
    listener.join(5)
    assert sse_messages(b"".join(received)) == [
        {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "docs://token-limits"}}]


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, -32700),
    (b'"a string"', 400, -32600),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', 400, -32600),
    (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', 400, -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', 400, -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "no/such"}', 200, -32601),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}', 200, -32602),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": []}', 200, -32602),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "docs://nope"}}', 200, -32002),
])
def test_bad_input_gets_the_protocols_own_error(client, body, status, code):
    session = RawSession(client)
    response = client.post("/mcp", content=body, headers=session.headers())
    assert response.status_code == status
    error = response.json()
    assert error["jsonrpc"] == "2.0" and error["error"]["code"] == code
    if status == 200:
        assert error["id"] == 1


def test_http_level_refusals(client):
    session = RawSession(client)
    assert client.put("/mcp", headers=session.headers()).status_code == 405
    assert client.put("/mcp").headers["allow"] == "GET, POST, DELETE"
    assert client.post("/mcp", content=b"{}", headers={**session.headers(), "content-type": "text/plain"}).status_code == 415
    huge = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "' + b"x" * (5 * 1024 * 1024) + b'"}}'
    assert client.post("/mcp", content=huge, headers=session.headers()).status_code == 413
    missing = client.post("/mcp/nowhere", json=_initialize("2025-06-18"))
    assert missing.status_code == 404 and "/mcp/conformance" in missing.json()["error"]["message"]
    reinit = client.post("/mcp", json=_initialize("2025-06-18"), headers=session.headers())
    assert reinit.status_code == 400


def test_batches_only_in_2025_03_26(client):
    modern = RawSession(client, version="2025-06-18")
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    refused = modern.post(batch)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == -32600
    old = RawSession(client, version="2025-03-26")
    answers = old.post(batch + [{"jsonrpc": "2.0", "method": "notifications/initialized"}, {"bad": 1}]).json()
    assert sorted(a["id"] for a in answers if a["id"] is not None) == [1, 2]
    assert [a["error"]["code"] for a in answers if "error" in a] == [-32600]
    streamed = sse_messages(old.post(batch, accept=BOTH).content)
    assert sorted(m["id"] for m in streamed) == [1, 2]
    assert old.post([{"jsonrpc": "2.0", "method": "notifications/initialized"}]).status_code == 202


def test_initialize_params_are_validated(client):
    response = client.post("/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "initialize", "params": {}},
                           headers={"accept": "application/json"})
    assert response.status_code == 200 and response.json()["error"]["code"] == -32602 and response.json()["id"] == 9


def test_bearer_auth_when_configured():
    with running_mock(with_mcp_server(0, auth={"mode": "bearer", "tokens": ["s3cret"]})) as (url, _):
        with httpx.Client(base_url=url) as client:
            refused = client.post("/mcp", json=_initialize("2025-06-18"), headers={"accept": "application/json"})
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer ")
            wrong = client.post("/mcp", json=_initialize("2025-06-18"), headers={"authorization": "Bearer x"})
            assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
            session = RawSession(client, headers={"authorization": "Bearer s3cret"})
            assert session.result("ping") == {}
            assert client.post("/mcp/tools", json=_initialize("2025-06-18")).status_code == 200  # only default guarded


def test_dns_rebinding_protection_on_loopback(client):
    evil = client.post("/mcp", json=_initialize("2025-11-25"), headers={"host": "evil.example.com"})
    assert evil.status_code == 421
    origin = client.post("/mcp", json=_initialize("2025-11-25"), headers={"origin": "http://evil.example.com"})
    assert origin.status_code == 403
    assert client.post("/mcp", json=_initialize("2025-11-25"), headers={"origin": "http://localhost:3000"}).status_code == 200


def test_session_ids_are_deterministic_by_seed():
    def first_ids(seed: int) -> list[str]:
        with running_mock(mock_config(seed=seed)) as (url, _):
            with httpx.Client(base_url=url) as client:
                return [RawSession(client).id for _ in range(2)]
    assert first_ids(3) == first_ids(3) != first_ids(4)


def test_malformed_messages_never_cause_a_500(client):
    session = RawSession(client)
    bodies = [b"", b"[]", b"null", b"[1, 2]", b'{"jsonrpc": "2.0"}', b'{"jsonrpc": "2.0", "id": {}, "method": "ping"}',
              b'{"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": 1}}',
              b'{"jsonrpc": "2.0", "id": 1, "method": "completion/complete", "params": {"ref": 1}}',
              b'{"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "loud"}}',
              b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"cursor": "zzz"}}',
              json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "calculator", "arguments": {"operation": "power", "a": 1e300, "b": 60}}}).encode()]
    for body in bodies:
        for accept in ("application/json", BOTH):
            response = client.post("/mcp", content=body, headers=session.headers(accept))
            assert response.status_code < 500, (body, response.text)
