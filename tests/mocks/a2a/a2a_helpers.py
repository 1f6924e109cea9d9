"""Raw JSON-RPC calls to the mock's A2A agents, shared by the A2A tests (imported by path, not a package)."""

from typing import Any

import httpx
import orjson

from aigw.protocol.sse import decode_all

V1 = {"A2A-Version": "1.0"}


def rpc(base: str, method: str, params: Any = None, agent: str = "assistant", headers: dict | None = None,
        id: Any = 1) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    response = httpx.post(f"{base}/a2a/{agent}", json=body, headers={**V1, **(headers or {})}, timeout=30)
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()


def stream(base: str, method: str, params: Any, agent: str = "assistant", headers: dict | None = None) -> list[dict]:
    body = {"jsonrpc": "2.0", "id": "s1", "method": method, "params": params}
    response = httpx.post(f"{base}/a2a/{agent}", json=body, headers={**V1, **(headers or {})}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    return [orjson.loads(event.data) for event in decode_all(response.content)]


def user_message(text: str, message_id: str = "msg-1", **extra: Any) -> dict[str, Any]:
    return {"role": "ROLE_USER", "messageId": message_id, "parts": [{"text": text}], **extra}


def send(base: str, text: str, message_id: str = "msg-1", agent: str = "assistant", wait: bool = False,
         **extra: Any) -> dict[str, Any]:
    params = {"message": user_message(text, message_id, **extra), "configuration": {"returnImmediately": not wait}}
    return rpc(base, "SendMessage", params, agent)


def a2a_config(work_seconds: float = 0.4, **section: Any):
    """The default mock config (latency off) with every agent working ``work_seconds`` per task."""
    from conftest import mock_config

    base = mock_config().model_dump()
    base["a2a"].update({"work_seconds": work_seconds, **section})
    for agent in base["a2a"]["agents"]:
        agent["work_seconds"] = None
    return type(mock_config()).model_validate(base)


def advance_clock(base: str, seconds: float) -> None:
    from conftest import ADMIN

    response = httpx.post(f"{base}/_mock/clock/advance", json={"seconds": seconds}, headers=ADMIN)
    assert response.status_code == 200, response.text
