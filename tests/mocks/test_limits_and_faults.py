"""Azure-style rate limits on the virtual clock, injected faults and the admin API."""

import json
import socket
import time

import pytest
import requests

from aigw.protocol.sse import decode_all
from conftest import ADMIN, mock_config, running_mock

CHAT = "/openai/deployments/{}/chat/completions?api-version=2024-10-21"


def small_limits(tpm=1000, rpm=None, **faults):
    deployment = {"name": "small", "model": "gpt-4o", "tpm": tpm}
    if rpm:
        deployment["rpm"] = rpm
    if faults:
        deployment["faults"] = faults
    return mock_config(deployments=[deployment])


def ask(url, max_tokens=100, deployment="small", **extra):
    body = {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": max_tokens, **extra}
    return requests.post(url + CHAT.format(deployment), json=body)


def test_token_limit_charges_the_estimate_and_429_is_honest():
    with running_mock(small_limits(tpm=1000, rpm=600)) as (url, app):
        statuses = [ask(url, max_tokens=300).status_code for _ in range(4)]
        # estimate = ceil(11 chars / 4) + 300 = 303 → three fit in 1000, the fourth does not
        assert statuses == [200, 200, 200, 429]
        refused = ask(url, max_tokens=300)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "429" and "exceeded token rate limit" in error["message"]
        retry_after, retry_after_ms = int(refused.headers["retry-after"]), int(refused.headers["retry-after-ms"])
        assert 1 <= retry_after <= 60 and abs(retry_after_ms / 1000 - retry_after) < 1
        assert f"retry after {retry_after} second" in error["message"]
        advanced = requests.post(url + "/_mock/clock/advance", json={"seconds": retry_after_ms / 1000}, headers=ADMIN)
        assert advanced.status_code == 200
        assert ask(url, max_tokens=300).status_code == 200  # a retry after Retry-After succeeds


def test_remaining_headers_count_down():
    with running_mock(small_limits(tpm=10_000)) as (url, _):
        first, second = ask(url, max_tokens=50), ask(url, max_tokens=50)
        tokens = [int(r.headers["x-ratelimit-remaining-tokens"]) for r in (first, second)]
        requests_left = [int(r.headers["x-ratelimit-remaining-requests"]) for r in (first, second)]
        assert tokens[0] - tokens[1] == 53 and requests_left[0] - requests_left[1] == 1


def test_requests_per_minute_enforced_in_10s_windows():
    with running_mock(small_limits(tpm=100_000, rpm=60)) as (url, _):
        statuses = [ask(url, max_tokens=1).status_code for _ in range(11)]
        assert statuses == [200] * 10 + [429]  # 60 RPM = 10 per 10 s window
        refused = ask(url, max_tokens=1)
        assert "call rate limit" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) <= 10
        requests.post(url + "/_mock/clock/advance", json={"seconds": 10}, headers=ADMIN)
        assert ask(url, max_tokens=1).status_code == 200


def test_counters_and_reset():
    with running_mock(small_limits(tpm=500, rpm=600)) as (url, _):
        ask(url, max_tokens=5)
        ask(url, max_tokens=400)
        ask(url, max_tokens=400)
        counters = requests.get(url + "/_mock/counters", headers=ADMIN).json()["deployments"]["small"]
        assert counters["requests"] == 3 and counters["succeeded"] == 2 and counters["rate_limited"] == 1
        assert counters["total_tokens"] == counters["prompt_tokens"] + counters["completion_tokens"] > 0
        assert requests.post(url + "/_mock/reset", headers=ADMIN).status_code == 200
        assert requests.get(url + "/_mock/counters", headers=ADMIN).json()["deployments"]["small"]["requests"] == 0


def test_admin_needs_its_token_and_validates_input(fresh_mock):
    url, _ = fresh_mock
    assert requests.get(url + "/_mock/counters").status_code == 401
    assert requests.get(url + "/_mock/health").status_code == 200
    bad = requests.put(url + "/_mock/faults/gpt-4o", json={"error_rates": {"418": 0.5}}, headers=ADMIN)
    assert bad.status_code == 400 and "418" in bad.json()["error"]["message"]
    assert requests.put(url + "/_mock/faults/nope", json={}, headers=ADMIN).status_code == 404
    assert requests.post(url + "/_mock/clock/advance", json={"seconds": -1}, headers=ADMIN).status_code == 400
    assert requests.post(url + "/_mock/clock/advance", data=b"{", headers=ADMIN).status_code == 400


def test_error_rate_faults_are_seeded_and_reproducible():
    def run():
        with running_mock(small_limits(tpm=10**6, error_rates={500: 0.3, 503: 0.2})) as (url, _):
            return [ask(url, max_tokens=1).status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert {200, 500, 503} <= set(first)
    for status in (500, 503):
        assert 0.05 < first.count(status) / 40 < 0.6


def test_outage_switch_and_error_bodies(fresh_mock):
    url, _ = fresh_mock
    assert requests.post(url + "/_mock/outage/gpt-4o", json={"down": True}, headers=ADMIN).status_code == 200
    down = ask(url, deployment="gpt-4o")
    assert down.status_code == 503 and down.json()["error"]["message"]
    assert ask(url, deployment="gpt-4o-mini").status_code == 200
    requests.post(url + "/_mock/outage/gpt-4o", json={"down": False}, headers=ADMIN)
    assert ask(url, deployment="gpt-4o", max_tokens=3).status_code == 200
    counters = requests.get(url + "/_mock/counters", headers=ADMIN).json()["deployments"]["gpt-4o"]
    assert counters["errors"] == {"503": 1} and counters["faults"] == {"503": 1}


def test_injected_429_carries_retry_headers(fresh_mock):
    url, _ = fresh_mock
    requests.put(url + "/_mock/faults/gpt-4o", json={"error_rates": {"429": 1.0}}, headers=ADMIN)
    refused = ask(url, deployment="gpt-4o")
    assert refused.status_code == 429 and refused.headers["retry-after"] and refused.headers["retry-after-ms"]


def test_added_latency_and_hang(fresh_mock):
    url, _ = fresh_mock
    requests.patch(url + "/_mock/faults/gpt-4o", json={"added_latency_ms": 300}, headers=ADMIN)
    start = time.monotonic()
    assert ask(url, deployment="gpt-4o", max_tokens=2).status_code == 200
    assert time.monotonic() - start >= 0.3
    requests.put(url + "/_mock/faults/gpt-4o", json={"hang": True}, headers=ADMIN)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(url + CHAT.format("gpt-4o"), json={"messages": [{"role": "user", "content": "x"}]}, timeout=0.5)


def raw_post(url: str, path: str, body: dict) -> bytes:
    """Send over a raw socket and return every byte received until the server closes or resets."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                     "connection: close\r\n\r\n".encode() + payload)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def test_reset_before_first_byte_sends_nothing(fresh_mock):
    url, _ = fresh_mock
    requests.put(url + "/_mock/faults/gpt-4o", json={"reset_before_first_byte": 1.0}, headers=ADMIN)
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True}
    assert raw_post(url, CHAT.format("gpt-4o"), body) == b""
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url + CHAT.format("gpt-4o"), json=body)


def test_reset_mid_stream_truncates_after_some_events(fresh_mock):
    url, _ = fresh_mock
    requests.put(url + "/_mock/faults/gpt-4o", json={"reset_mid_stream": 1.0}, headers=ADMIN)
    received = raw_post(url, CHAT.format("gpt-4o"), {"messages": [{"role": "user", "content": "x"}], "stream": True, "max_tokens": 30})
    assert received.startswith(b"HTTP/1.1 200")
    assert b"data: {" in received and b"[DONE]" not in received


def test_malformed_body_fault(fresh_mock):
    url, _ = fresh_mock
    requests.put(url + "/_mock/faults/gpt-4o", json={"malformed_body": 1.0}, headers=ADMIN)
    response = ask(url, deployment="gpt-4o", max_tokens=3)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_streams_are_paced_per_token_not_slept_up_front():
    profile = {"ttft_ms": {"min": 200, "max": 200}, "inter_token_ms": {"min": 30, "max": 30}}
    config = mock_config(latency="paced", latency_profiles={"paced": profile})
    with running_mock(config) as (url, _):
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10, "stream": True}
        start = time.monotonic()
        arrivals = []
        with requests.post(url + "/v1/chat/completions", json=body, stream=True) as response:
            for line in response.iter_lines():
                if line.startswith(b"data: {") and b'"content":"' in line and b'"content":""' not in line:
                    arrivals.append(time.monotonic() - start)
        assert len(arrivals) == 10
        assert 0.18 <= arrivals[0] < 0.4  # first token after the time to first token
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert sum(gaps) / len(gaps) >= 0.02  # then one token every inter-token interval
        assert arrivals[-1] - arrivals[0] >= 0.2


def test_stream_events_are_each_one_token():
    with running_mock() as (url, _):
        body = {"model": "gpt-4", "messages": [{"role": "user", "content": "x"}], "max_tokens": 25, "stream": True}
        events = decode_all(requests.post(url + "/v1/chat/completions", json=body).content)
        pieces = [json.loads(e.data)["choices"][0]["delta"].get("content") for e in events[:-1]]
        pieces = [p for p in pieces if p]
        assert len(pieces) == 25
