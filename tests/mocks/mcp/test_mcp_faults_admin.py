"""Faults for MCP servers through the admin API (/_mock/mcp): latency, HTTP 500/503, dropped sessions —
seeded, so the same requests meet the same faults."""

import time

import httpx
import pytest

from mcp_helpers import ADMIN, RawSession, mock_config, running_mock, with_mcp_server

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def client():
    with running_mock() as (url, _):
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def test_admin_needs_the_token_and_names_servers(client):
    assert client.get("/_mock/mcp").status_code == 401
    overview = client.get("/_mock/mcp", headers=ADMIN).json()["servers"]
    assert set(overview) == {"default", "tools", "docs", "conformance"}
    assert overview["conformance"]["path"] == "/mcp/conformance"
    missing = client.put("/_mock/mcp/nope/faults", json={}, headers=ADMIN)
    assert missing.status_code == 404 and "conformance" in missing.json()["error"]["message"]


def test_invalid_faults_are_refused_clearly(client):
    for body, fragment in (({"error_rates": {"429": 0.5}}, "not one of"), ({"drop_session_rate": 2}, "drop_session_rate"),
                           ({"added_latency_ms": -1}, "added_latency_ms"), ({"bogus": 1}, "bogus")):
        response = client.put("/_mock/mcp/default/faults", json=body, headers=ADMIN)
        assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert client.put("/_mock/mcp/default/faults", content=b"[", headers=ADMIN).status_code == 400


def test_error_faults_answer_500_or_503_with_a_json_rpc_error(client):
    session = RawSession(client)
    client.put("/_mock/mcp/default/faults", json={"error_rates": {"503": 1.0}}, headers=ADMIN).raise_for_status()
    response = session.post(PING)
    assert response.status_code == 503 and response.json()["error"]["code"] == -32603
    assert RawSession(client, "/mcp/tools").result("ping") == {}  # other servers unaffected
    client.delete("/_mock/mcp/default/faults", headers=ADMIN).raise_for_status()
    assert session.post(PING).status_code == 200
    counters = client.get("/_mock/mcp/default", headers=ADMIN).json()["counters"]
    assert counters["fault:503"] == 1


def test_added_latency(client):
    session = RawSession(client)
    client.patch("/_mock/mcp/default/faults", json={"added_latency_ms": 150}, headers=ADMIN).raise_for_status()
    started = time.monotonic()
    assert session.post(PING).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_dropped_sessions_answer_404_until_the_client_initializes_again(client):
    session = RawSession(client)
    client.put("/_mock/mcp/default/faults", json={"drop_session_rate": 1.0}, headers=ADMIN).raise_for_status()
    assert session.post(PING).status_code == 404
    client.delete("/_mock/mcp/default/faults", headers=ADMIN).raise_for_status()
    again = RawSession(client)
    assert again.result("ping") == {}
    dropped = client.delete("/_mock/mcp/default/sessions", headers=ADMIN).json()
    assert dropped["dropped"] >= 1 and again.post(PING).status_code == 404


def _fault_pattern(seed: int) -> list[int]:
    with running_mock(mock_config(seed=seed)) as (url, _):
        with httpx.Client(base_url=url) as client:
            session = RawSession(client)
            client.put("/_mock/mcp/default/faults", json={"error_rates": {"500": 0.3, "503": 0.2}},
                       headers=ADMIN).raise_for_status()
            return [session.post(PING).status_code for _ in range(40)]


def test_faults_are_reproducible_by_seed():
    pattern = _fault_pattern(11)
    assert pattern == _fault_pattern(11)
    assert {200, 500, 503} == set(pattern)
    assert pattern != _fault_pattern(12)


def test_reset_restores_the_config(client):
    session = RawSession(client)
    client.put("/_mock/mcp/default/faults", json={"error_rates": {"500": 1.0}}, headers=ADMIN).raise_for_status()
    assert client.post("/_mock/mcp/reset", headers=ADMIN).json() == {"status": "reset"}
    assert session.post(PING).status_code == 404  # sessions went with the reset
    assert RawSession(client).result("ping") == {}
    assert client.get("/_mock/mcp/default/faults", headers=ADMIN).json()["error_rates"] == {}


def test_faults_from_the_config_file():
    with running_mock(with_mcp_server(1, faults={"error_rates": {500: 1.0}})) as (url, _):
        with httpx.Client(base_url=url) as client:
            assert client.post("/mcp/tools", json=PING).status_code == 500
