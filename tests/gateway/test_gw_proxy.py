"""The gateway as a proxy, over HTTP: the openai SDK through it, its own answers, shutdown, ``aigw up``.

The gateway and the mock are real servers (uvicorn in threads; ``aigw up`` as a real subprocess).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import mock_config, running_mock
from gw_proxy_support import (CHAT_PATH, HELLO, KEY, backend, config, post, requests_served, running_gateway, sdk,
                              sse_events)
from aigw.protocol.serving import free_port, free_port_run

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three rivers in Europe."}]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def stack():
    with running_mock() as (mock_url, _):
        with running_gateway(config([backend("mock", mock_url)], "mock", limits={"max-body-bytes": 64 * 1024})) as (
                base, _, _):
            yield base, mock_url


def test_sdk_chat_through_the_gateway(stack):
    base, mock_url = stack
    raw = sdk(base).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, max_tokens=20)
    answer = raw.parse()
    direct = openai.AzureOpenAI(azure_endpoint=mock_url, api_key="any", api_version="2024-10-21", max_retries=0)
    expected = direct.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=20)
    assert raw.headers["apim-request-id"]
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (expected.usage.prompt_tokens, 20)


def test_sdk_stream_with_usage_through_the_gateway(stack):
    base, _ = stack
    raw = sdk(base).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=15, stream=True, stream_options={"include_usage": True})
    chunks = list(raw.parse())
    assert raw.headers["apim-request-id"] and raw.headers["content-type"].startswith("text/event-stream")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 15
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 15


def test_sdk_embeddings_through_the_gateway(stack):
    base, _ = stack
    raw = sdk(base).embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                         input=["gateways route", "rivers flow"])
    result = raw.parse()
    assert raw.headers["apim-request-id"]
    assert [len(item.embedding) for item in result.data] == [1536, 1536] and result.usage.prompt_tokens > 0


def test_health_probe(stack):
    base, _ = stack
    response = httpx.get(f"{base}/status-0123456789abcdef")
    assert response.status_code == 200 and response.headers["apim-request-id"]


@pytest.mark.parametrize("case", ["too-large", "bad-json", "not-an-object", "unknown-path", "no-key", "wrong-key",
                                  "query-key-wrong"])
def test_gateway_answers_itself(stack, case):
    base, mock_url = stack
    before = requests_served(mock_url)
    if case == "too-large":
        response = post(base, b'{"messages":"' + b"x" * (64 * 1024) + b'"}')
        expected = (413, "Request entity too large")
    elif case == "bad-json":
        response = post(base, b'{"messages": [')
        expected = (400, None)
    elif case == "not-an-object":
        response = post(base, b"[1, 2]")
        expected = (400, None)
    elif case == "unknown-path":
        response = post(base, HELLO, path="/nowhere/chat/completions")
        expected = (404, "Resource not found")
    elif case == "no-key":
        response = post(base, HELLO, key=None)
        expected = (401, "missing subscription key")
    elif case == "wrong-key":
        response = post(base, HELLO, key="not-a-real-key-0000")
        expected = (401, "invalid subscription key")
    else:
        response = post(base, HELLO, path=CHAT_PATH + "&subscription-key=wrong-key-00000", key=None)
        expected = (401, "invalid subscription key")
    status, message = expected
    assert response.status_code == status and response.headers["apim-request-id"]
    body = response.json()
    if message is None:  # bad JSON is answered like Azure OpenAI: the OpenAI error shape
        assert body["error"]["code"] == "invalid_request_error"
    else:  # the gateway's own errors: APIM's {"statusCode", "message"}
        assert body["statusCode"] == status and message in body["message"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith("AzureApiManagementKey")
    assert requests_served(mock_url) == before  # none of them reached the backend


def test_key_in_the_query_or_ocp_header_is_accepted(stack):
    base, _ = stack
    assert post(base, HELLO, path=CHAT_PATH + f"&subscription-key={KEY}", key=None).status_code == 200
    assert post(base, HELLO, key=None, **{"Ocp-Apim-Subscription-Key": KEY}).status_code == 200


def test_graceful_shutdown_drains_an_in_flight_stream():
    slow = {"ttft_ms": {"min": 300, "max": 300}, "inter_token_ms": {"min": 60, "max": 60}}
    with running_mock(mock_config(latency="drain", latency_profiles={"drain": slow})) as (mock_url, _):
        with running_gateway(config([backend("mock", mock_url)], "mock")) as (base, app, server):
            received: list[bytes] = []
            started = threading.Event()

            def consume():
                body = {**HELLO, "max_tokens": 12, "stream": True}
                with httpx.stream("POST", base + CHAT_PATH, json=body, headers={"api-key": KEY}, timeout=10) as r:
                    for chunk in r.iter_raw():
                        received.append(chunk)
                        started.set()

            reader = threading.Thread(target=consume)
            reader.start()
            assert started.wait(5), "the stream never started"
            assert app.in_flight == 1
            server.should_exit = True  # SIGTERM's effect: stop accepting, drain, then close
            reader.join(10)
            assert not reader.is_alive(), "the drained stream did not end"
            assert _stops_accepting(base, within=5.0), "the gateway still accepts connections after shutdown"
    events = sse_events(b"".join(received))
    assert events[-1] == ("message", b"[DONE]") and all(name == "message" for name, _ in events)
    assert sum(b'"content":"' in data for _, data in events) >= 12
    assert app.in_flight == 0


def _stops_accepting(base: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/status-0123456789abcdef", timeout=0.5)
        except httpx.TransportError:
            return True
        time.sleep(0.05)
    return False


def _wait_healthy(base: str, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"aigw up exited early with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/status-0123456789abcdef", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"aigw up did not answer its health probe within {seconds:.0f} s")


def test_aigw_up_as_a_real_process():
    port = free_port_run(4)  # `aigw up` takes PORT..PORT+3
    env = {**os.environ, "AIGW_OPS_KEY": "ops-key-for-this-test"}
    for name in ("AIGW_MOCK_EASTUS", "AIGW_MOCK_SWEDENCENTRAL", "AIGW_MOCK_WESTUS"):
        env.pop(name, None)  # let `aigw up` place its own mocks beside the gateway
    process = subprocess.Popen([str(VENV_BIN / "aigw"), "up", "--port", str(port), "--latency", "off"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        client = openai.AzureOpenAI(azure_endpoint=base, api_key="ops-key-for-this-test", api_version="2024-10-21",
                                    max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
        assert raw.parse().usage.completion_tokens == 10 and raw.headers["apim-request-id"]
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=6, stream=True,
                                                     stream_options={"include_usage": True}))
        assert chunks[-1].usage.completion_tokens == 6
        vectors = client.embeddings.create(model="text-embedding-3-small", input="hello")
        assert len(vectors.data[0].embedding) == 1536
        mock_counts = [httpx.get(f"http://127.0.0.1:{port + i}/_mock/counters",
                                 headers={"authorization": "Bearer mock-admin"}).json()["deployments"]
                       for i in (1, 2, 3)]
        assert sum(m["gpt-4o"]["requests"] for m in mock_counts) == 1  # served by one of the three regions
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("aigw up did not stop within 15 s of SIGTERM")
        process.stderr.close()
    assert code == 0


def test_the_backend_gets_its_own_key_never_the_subscription_key():
    seen: list[dict] = []

    async def capture(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.append({"query": scope["query_string"].decode(), "headers": {k.decode(): v.decode() for k, v in scope["headers"]}})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    port = free_port()
    from aigw.protocol.serving import start_in_thread

    upstream = start_in_thread(capture, port)
    try:
        with running_gateway(config([backend("capture", f"http://127.0.0.1:{port}")], "capture")) as (base, _, _):
            assert post(base, HELLO, key=None, **{"Ocp-Apim-Subscription-Key": KEY}).status_code == 200
            assert post(base, HELLO, path=CHAT_PATH + f"&subscription-key={KEY}", key=None).status_code == 200
            assert post(base, HELLO).status_code == 200
    finally:
        upstream.should_exit = True
    assert len(seen) == 3
    for request in seen:
        assert request["headers"]["api-key"] == "upstream-key"
        assert "ocp-apim-subscription-key" not in request["headers"]
        assert KEY not in request["query"] and "api-version=2024-10-21" in request["query"]
        assert request["headers"]["x-forwarded-for"] == "127.0.0.1"
