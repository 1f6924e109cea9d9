"""``POST /_mock/reset`` puts the whole mock back to its config: the model API's counters and faults, and the
state each mounted service keeps — MCP sessions, faults and counters; A2A tasks and their push configs;
Content Safety blocklists created or changed through the API (the configured ones come back as configured)."""

from typing import Any

import httpx
import pytest

from aigw.mocks.app import MockApp
from aigw.mocks.state import MockState
from conftest import ADMIN, mock_config, running_mock

API_VERSION = {"api-version": "2024-09-01"}
MCP_ACCEPT = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
V1 = {"A2A-Version": "1.0"}


def _config():
    return mock_config(content_safety={"blocklists": {"competitors": {"description": "Rivals", "items": ["contoso"]}}})


def _reset(client: httpx.Client) -> None:
    response = client.post("/_mock/reset", headers=ADMIN)
    assert response.status_code == 200 and response.json() == {"status": "reset"}, response.text


def _initialize(client: httpx.Client) -> str:
    response = client.post("/mcp", headers={**MCP_ACCEPT, "accept": "application/json"}, json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "reset-test", "version": "1"}}})
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


def _ping(client: httpx.Client, session: str) -> httpx.Response:
    return client.post("/mcp", headers={**MCP_ACCEPT, "accept": "application/json", "mcp-session-id": session,
                                        "mcp-protocol-version": "2025-06-18"},
                       json={"jsonrpc": "2.0", "id": 1, "method": "ping"})


def _a2a(client: httpx.Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/a2a/assistant", headers=V1, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def client():
    with running_mock(_config()) as (url, _app), httpx.Client(base_url=url, timeout=10) as http:
        yield http


def test_reset_ends_mcp_sessions_and_clears_mcp_faults_and_counters(client: httpx.Client) -> None:
    session = _initialize(client)
    assert _ping(client, session).status_code == 200
    faults = client.put("/_mock/mcp/default/faults", headers=ADMIN, json={"added_latency_ms": 5})
    assert faults.status_code == 200 and faults.json()["added_latency_ms"] == 5
    assert client.get("/_mock/mcp/default", headers=ADMIN).json()["counters"]

    _reset(client)

    after = client.get("/_mock/mcp/default", headers=ADMIN).json()
    assert after["faults"]["added_latency_ms"] == 0 and after["sessions"] == 0 and after["counters"] == {}
    assert _ping(client, session).status_code == 404  # the session is gone: initialize again
    assert _ping(client, _initialize(client)).status_code == 200  # and the server serves new sessions


def test_reset_forgets_a2a_tasks_and_their_push_configs(client: httpx.Client) -> None:
    sent = _a2a(client, "SendMessage", {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "What is an AI gateway?"}]},
                                        "configuration": {"returnImmediately": True}})
    task_id = sent["result"]["task"]["id"]
    push = _a2a(client, "CreateTaskPushNotificationConfig", {"taskId": task_id, "url": "http://127.0.0.1:9/hook"})
    assert "result" in push, push
    assert [t["id"] for t in _a2a(client, "ListTasks", {})["result"]["tasks"]] == [task_id]

    _reset(client)

    assert _a2a(client, "GetTask", {"id": task_id})["error"]["code"] == -32001  # TaskNotFound
    assert _a2a(client, "ListTaskPushNotificationConfigs", {"taskId": task_id})["error"]["code"] == -32001
    assert client.get("/_mock/a2a/assistant/deliveries", headers=ADMIN).json()["deliveries"] == []  # and what was sent
    assert _a2a(client, "ListTasks", {})["result"]["tasks"] == []


def test_reset_restores_content_safety_blocklists_to_the_config(client: httpx.Client) -> None:
    created = client.patch("/contentsafety/text/blocklists/made-by-api", params=API_VERSION,
                           headers={"content-type": "application/merge-patch+json"}, json={"description": "temporary"})
    assert created.status_code == 201, created.text
    added = client.post("/contentsafety/text/blocklists/competitors:addOrUpdateBlocklistItems", params=API_VERSION,
                        json={"blocklistItems": [{"text": "fabrikam"}]})
    assert added.status_code == 200, added.text
    renamed = client.patch("/contentsafety/text/blocklists/competitors", params=API_VERSION,
                           headers={"content-type": "application/merge-patch+json"}, json={"description": "changed"})
    assert renamed.status_code == 200
    assert client.delete("/contentsafety/text/blocklists/competitors", params=API_VERSION).status_code == 204

    _reset(client)

    names = [b["blocklistName"] for b in client.get("/contentsafety/text/blocklists", params=API_VERSION).json()["value"]]
    assert names == ["competitors"]
    restored = client.get("/contentsafety/text/blocklists/competitors", params=API_VERSION).json()
    assert restored["description"] == "Rivals"
    items = client.get("/contentsafety/text/blocklists/competitors/blocklistItems", params=API_VERSION).json()["value"]
    assert [item["text"] for item in items] == ["contoso"]


def test_reset_still_resets_the_model_api(client: httpx.Client) -> None:
    chat = client.post("/openai/deployments/gpt-4o/chat/completions", params={"api-version": "2024-10-21"},
                       json={"messages": [{"role": "user", "content": "hello"}]})
    assert chat.status_code == 200
    assert client.get("/_mock/counters", headers=ADMIN).json()["deployments"]["gpt-4o"]["requests"] == 1
    _reset(client)
    assert client.get("/_mock/counters", headers=ADMIN).json()["deployments"]["gpt-4o"]["requests"] == 0


def test_every_mounted_service_registers_its_reset() -> None:
    """One hook per stateful service; a state built before any mount has none and resets as before."""
    app = MockApp(_config())
    assert len(app.state.on_reset) == 3  # A2A, MCP, Content Safety
    calls: list[str] = []
    state = MockState(_config())
    assert state.on_reset == []
    state.on_reset.append(lambda: calls.append("hook"))
    state.reset()
    assert calls == ["hook"]
