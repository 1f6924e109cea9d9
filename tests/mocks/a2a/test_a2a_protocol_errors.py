"""Bad input gets JSON-RPC's and A2A's own errors with the request's id — never a 500."""

import httpx
import pytest

from a2a_helpers import a2a_config, rpc
from conftest import mock_config, running_mock


@pytest.fixture(scope="module")
def base():
    with running_mock(a2a_config()) as (url, _):
        yield url


def post_raw(base, body: bytes, headers=None):
    return httpx.post(f"{base}/a2a/assistant", content=body,
                      headers={"content-type": "application/json", "A2A-Version": "1.0", **(headers or {})})


@pytest.mark.parametrize("body, code, id", [
    (b"{not json", -32700, None),
    (b"[]", -32600, None),
    (b'[{"jsonrpc": "2.0", "id": 1, "method": "GetTask"}]', -32600, None),
    (b'{"jsonrpc": "1.0", "id": 5, "method": "GetTask"}', -32600, 5),
    (b'{"jsonrpc": "2.0", "id": 6, "method": 12}', -32600, 6),
    (b'{"jsonrpc": "2.0", "id": "x", "method": "NoSuchMethod"}', -32601, "x"),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "GetTask", "params": [1]}', -32602, 7),
    (b'{"jsonrpc": "2.0", "id": 8, "method": "GetTask", "params": {}}', -32602, 8),
    (b'{"jsonrpc": "2.0", "id": 9, "method": "GetTask", "params": {"id": "t", "historyLength": -1}}', -32602, 9),
    (b'{"jsonrpc": "2.0", "id": 10, "method": "ListTasks", "params": {"pageSize": 0}}', -32602, 10),
    (b'{"jsonrpc": "2.0", "id": 11, "method": "ListTasks", "params": {"pageToken": "zz"}}', -32602, 11),
    (b'{"jsonrpc": "2.0", "id": 12, "method": "ListTasks", "params": {"status": "DONE"}}', -32602, 12),
    (b'{"jsonrpc": "2.0", "id": 13, "method": "ListTasks", "params": {"statusTimestampAfter": "yesterday"}}', -32602, 13),
    (b'{"jsonrpc": "2.0", "id": 14, "method": "message/send", "params": {"message": {"kind": "task"}}}', -32602, 14),
    (b'{"jsonrpc": "2.0", "id": 15, "method": "SendMessage", "params": {"message": {"role": "ROLE_USER", '
     b'"messageId": "m", "parts": [{"raw": "***"}]}}}', -32602, 15),
])
def test_a2a_malformed_requests_get_the_spec_error(base, body, code, id):
    response = post_raw(base, body, {"A2A-Version": "0.3"} if b"/" in body else None)
    assert response.status_code == 200
    payload = response.json()
    assert payload["jsonrpc"] == "2.0" and payload["error"]["code"] == code and payload["id"] == id, payload


def test_a2a_version_header_rules(base):
    params = {"id": "missing"}
    assert rpc(base, "GetTask", params, headers={"A2A-Version": "0.2"})["error"]["code"] == -32009
    assert rpc(base, "GetTask", params, headers={"A2A-Version": "0.3"})["error"]["code"] == -32009  # v1.0 name
    assert rpc(base, "tasks/get", params, headers={"A2A-Version": "0.3"})["error"]["code"] == -32001
    assert rpc(base, "GetTask", params, headers={"A2A-Version": "1.0"})["error"]["code"] == -32001
    query = httpx.post(f"{base}/a2a/assistant?A2A-Version=9.9", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask",
                                                                      "params": params})
    assert query.json()["error"]["code"] == -32009


def test_a2a_http_level_refusals(base):
    assert httpx.get(f"{base}/a2a/assistant").status_code == 405
    assert httpx.post(f"{base}/a2a/nobody", json={}).status_code == 404
    assert httpx.get(f"{base}/a2a/assistant/elsewhere").status_code == 404
    index = httpx.get(f"{base}/a2a").json()
    assert [a["name"] for a in index["agents"]] == ["assistant", "researcher"]
    too_big = post_raw(base, b" " * (5 * 1024 * 1024))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == -32600


def test_a2a_streaming_refused_when_the_capability_is_off():
    data = a2a_config().model_dump()
    data["a2a"]["agents"][0]["streaming"] = False
    with running_mock(type(mock_config()).model_validate(data)) as (url, _):
        card = httpx.get(f"{url}/.well-known/agent-card.json").json()
        assert card["capabilities"]["streaming"] is False
        body = rpc(url, "SendStreamingMessage", {"message": {"role": "ROLE_USER", "messageId": "m",
                                                             "parts": [{"text": "x"}]}})
        assert body["error"]["code"] == -32004 and body["error"]["data"][0]["reason"] == "UNSUPPORTED_OPERATION"


def test_a2a_keys_auth_is_enforced_and_declared():
    config = a2a_config().model_copy(update={"auth": type(mock_config().auth)(mode="keys", keys=["k1"])})
    with running_mock(config) as (url, _):
        card = httpx.get(f"{url}/.well-known/agent-card.json").json()
        assert card["securityRequirements"] and card["security"] == [{"apiKey": []}, {"bearer": []}]
        refused = httpx.post(f"{url}/a2a/assistant", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert rpc(url, "GetTask", {"id": "t"}, headers={"api-key": "k1"})["error"]["code"] == -32001
        assert rpc(url, "GetTask", {"id": "t"}, headers={"authorization": "Bearer k1"})["error"]["code"] == -32001


def test_a2a_config_errors_are_clear():
    from aigw.mocks.a2a.config import A2AConfig
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="default_agent 'ghost'"):
        A2AConfig(default_agent="ghost")
    with pytest.raises(ValidationError, match="repeated: assistant"):
        A2AConfig(agents=[A2AConfig().agents[0], A2AConfig().agents[0]])
