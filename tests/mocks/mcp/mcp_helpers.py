"""Helpers for the MCP tests: a real mock on a free port, and raw streamable-HTTP sessions."""

import json
from typing import Any

import httpx

from aigw.mocks.config import MockConfig, default_config
from aigw.protocol.sse import decode_all
from conftest import running_mock as shared_running_mock, shared_dir  # noqa: F401 - re-exported for the MCP tests

def mock_config(**overrides: Any) -> MockConfig:
    """The embedded default with ``latency: off`` and the given top-level overrides."""
    data = default_config().model_dump()
    data["latency"] = "off"
    data.update(overrides)
    return MockConfig.model_validate(data)


def with_mcp_server(index: int, **changes: Any) -> MockConfig:
    """The test config with fields of MCP server ``index`` changed."""
    data = mock_config().model_dump()
    data["mcp"]["servers"][index].update(changes)
    return MockConfig.model_validate(data)


def running_mock(config: MockConfig | None = None):
    """The suite's running_mock, defaulting to this module's MCP-ready config."""
    return shared_running_mock(config or mock_config())

BOTH = "application/json, text/event-stream"
ADMIN = {"authorization": "Bearer mock-admin"}


def sse_messages(body: bytes) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE body (priming events have empty data and are skipped)."""
    return [json.loads(e.data) for e in decode_all(body) if e.data.strip()]


class RawSession:
    """One MCP session over plain HTTP, so tests can see every status code and header."""

    def __init__(self, client: httpx.Client, path: str = "/mcp", version: str = "2025-06-18",
                 capabilities: dict | None = None, headers: dict | None = None) -> None:
        self.client, self.path, self.extra = client, path, headers or {}
        response = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": capabilities or {},
            "clientInfo": {"name": "aigw-tests", "version": "1"}}}, accept="application/json", session=False)
        assert response.status_code == 200, response.text
        self.init = response.json()["result"]
        self.version = self.init["protocolVersion"]
        self.id = response.headers["mcp-session-id"]
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        self._next = 0

    def headers(self, accept: str = "application/json", session: bool = True) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": accept, **self.extra}
        if session:
            headers |= {"mcp-session-id": self.id, "mcp-protocol-version": self.version}
        return headers

    def post(self, message: Any, accept: str = "application/json", session: bool = True, **headers) -> httpx.Response:
        return self.client.post(self.path, content=json.dumps(message), headers=self.headers(accept, session) | headers)

    def call(self, method: str, params: dict | None = None, accept: str = "application/json") -> dict[str, Any]:
        """The JSON-RPC response (the last message of an SSE answer)."""
        self._next += 1
        message = {"jsonrpc": "2.0", "id": self._next, "method": method, **({"params": params} if params is not None else {})}
        response = self.post(message, accept=accept)
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            answer = sse_messages(response.content)[-1]
        else:
            answer = response.json()
        assert answer["id"] == self._next
        return answer

    def result(self, method: str, params: dict | None = None) -> dict[str, Any]:
        answer = self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    def error(self, method: str, params: dict | None = None) -> dict[str, Any]:
        answer = self.call(method, params)
        assert "error" in answer, answer
        return answer["error"]
