"""Hostile input to the gateway: deep JSON, paths that would mint metric series, server-level errors in JSON."""

import socket

import httpx
import orjson

from conftest import mock_config, read_response, running_mock
from gw_proxy_support import CHAT_PATH, HELLO, KEY, backend, config, post, running_gateway

from aigw.protocol.json_depth import too_deep


def nested(depth: int) -> bytes:
    levels = depth // 2
    return b'{"type":"object","properties":{"a":' * levels + b'{"type":"string"}' + b"}}" * levels


def test_too_deep_names_where_without_recursing():
    assert too_deep({"a": [1, {"b": 2}]}) is None
    deep = orjson.loads(b'{"tools":[{"function":{"parameters":' + nested(400) + b"}}]}")
    assert too_deep(deep) == "tools[0].function.parameters"
    assert too_deep(orjson.loads(b"[" * 1000 + b"]" * 1000)) == "[0][0][0][0]"


def test_deep_json_is_a_400_with_param_and_trips_no_breaker():
    with running_mock() as (mock_url, _):
        cfg = config([backend("mock", mock_url, circuit_breaker={"rules": [{"failureCondition": {
            "count": 1, "interval": "PT10S", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT30S"}]})], "mock")
        with running_gateway(cfg) as (base, app, _):
            head = orjson.dumps(HELLO)[:-1]
            for depth in (300, 900):
                for body in (head + b',"tools":[{"type":"function","function":{"name":"t","parameters":' + nested(depth) + b"}}]}",
                             head + b',"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":'
                             + nested(depth) + b"}}}"):
                    response = post(base, body)
                    assert response.status_code == 400, response.text[:200]
                    error = response.json()["error"]
                    assert error["param"].startswith(("tools[0].function.parameters", "response_format.json_schema.schema"))
                    assert "nests more than 128 levels" in error["message"]
            assert post(base, HELLO).status_code == 200
            assert app.services.backends.health()["mock"]["trips"] == 0


def test_the_mock_refuses_deep_json_on_every_surface(mock_server):
    deep = nested(600)
    cases = [
        ("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
         b'{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"t","parameters":'
         + deep + b"}}]}"),
        ("/v1/chat/completions", b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"response_format":'
         b'{"type":"json_schema","json_schema":{"name":"s","schema":' + deep + b"}}}"),
        ("/mcp", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":' + deep + b"}}"),
        ("/a2a/assistant", b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":' + deep + b"}"),
        ("/contentsafety/text:analyze?api-version=2024-09-01", b'{"text":"hi","extra":' + deep + b"}"),
    ]
    for path, body in cases:
        response = httpx.post(mock_server + path, content=body, timeout=10,
                              headers={"content-type": "application/json", "accept": "application/json, text/event-stream",
                                       "api-key": "any", "mcp-protocol-version": "2025-06-18"})
        assert response.headers["content-type"].startswith("application/json"), path
        if path.startswith("/a2a"):  # A2A's JSON-RPC binding answers protocol errors inside a 200
            assert response.status_code == 200 and response.json()["error"]["code"] == -32600, response.text[:200]
        else:
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])


def test_paths_never_mint_metric_series(mock_server):
    with running_gateway(config([backend("mock", mock_server)], "mock")) as (base, _, _):
        for index in range(60):
            httpx.post(f"{base}/openai/deployments/gpt-4o/chat/completions/extra-{index}?api-version=2024-10-21",
                       json=HELLO, headers={"api-key": KEY})
            httpx.post(f"{base}/random-{index}/x", json=HELLO, headers={"api-key": KEY})
        text = httpx.get(f"{base}/metrics").text
    series = [line for line in text.splitlines() if line.startswith("aigw_requests_total{")]
    assert len(series) <= 3 and not any("extra-" in line or "random-" in line for line in series), series


def test_server_level_errors_are_json_in_apim_shape(mock_server):
    with running_gateway(config([backend("mock", mock_server)], "mock")) as (base, _, _):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 100_000 + b"\r\n\r\n")
            status, headers, body = read_response(sock)
    assert status == 431 and headers["content-type"] == "application/json" and headers["apim-request-id"]
    assert orjson.loads(body)["statusCode"] == 431


def test_the_mock_logs_what_arrived_raw_for_the_admin_only():
    with running_mock(mock_config()) as (mock_url, _):
        httpx.post(f"{mock_url}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21&x=%41",
                   json=HELLO, headers={"api-key": "client-key-1"})
        assert httpx.get(f"{mock_url}/_mock/requests").status_code == 401
        log = httpx.get(f"{mock_url}/_mock/requests?limit=5", headers={"authorization": "Bearer mock-admin"}).json()["requests"]
        first = next(entry for entry in log if not entry["admin"])
        assert first["raw_path"] == "/openai/deployments/gpt-4o/chat/completions" and first["query"].endswith("x=%41")
        assert ["api-key", "client-key-1"] in first["headers"]
        httpx.post(f"{mock_url}/_mock/reset", headers={"authorization": "Bearer mock-admin"})
        after = httpx.get(f"{mock_url}/_mock/requests", headers={"authorization": "Bearer mock-admin"}).json()["requests"]
        assert all(entry["admin"] for entry in after)
