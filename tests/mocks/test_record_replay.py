"""Record against a real mock as upstream, stop it, replay: byte-equal bodies, misses, redaction, timing.

Every server here is real (uvicorn on a free port): the upstream mock, the recorder, the replayer.
"""

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from typing import Iterator

import aiohttp
import orjson
import pytest
import requests

from conftest import ADMIN, mock_config, running_mock
from aigw.mocks.cassette import CassetteOptions, load
from aigw.protocol.serving import free_port, start_in_thread
from aigw.mocks.server import build_app
from aigw.protocol.sse import decode_all

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
V1_CHAT = "/v1/chat/completions"
HELLO = {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 12}
STREAM = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Stream a story"}], "max_tokens": 16,
          "stream": True, "stream_options": {"include_usage": True}}
EMBED = {"model": "text-embedding-3-small", "input": ["alpha", "beta"]}


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    port = free_port()
    server = start_in_thread(app, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True


@contextlib.contextmanager
def recorder(cassette: Path, upstream: str, **options) -> Iterator[str]:
    app = build_app(mock_config(), CassetteOptions(record=str(cassette), upstream=upstream, **options))
    with serving(app) as url:
        yield url


@contextlib.contextmanager
def replayer(cassette: Path, **options) -> Iterator[str]:
    app = build_app(mock_config(), CassetteOptions(replay=str(cassette), **options))
    with serving(app) as url:
        yield url


def wait_until_closed(url: str) -> None:
    """Block until nothing listens at ``url`` any more: the upstream is really gone."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, int(port))) != 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{url} still accepts connections")


def exchanges_of(cassette: Path) -> list:
    return load(cassette).exchanges


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    """One recording session: the live answers seen through the recorder, and the cassette."""
    cassette = tmp_path_factory.mktemp("tape") / "session.jsonl"
    with running_mock() as (upstream, _):
        with recorder(cassette, upstream, ignore_fields=("seed",)) as url:
            live = {
                "chat": requests.post(url + AZURE_CHAT, json=HELLO, headers={"api-key": "k"}),
                "stream": requests.post(url + V1_CHAT, json=STREAM),
                "embed": requests.post(url + "/v1/embeddings", json=EMBED),
                "models": requests.get(url + "/v1/models"),
                "invalid": requests.post(url + AZURE_CHAT, json={"messages": [], "temperature": 3}),
                "unknown": requests.post(url + "/openai/deployments/nope/chat/completions?api-version=2024-10-21", json=HELLO),
            }
            direct = requests.post(upstream + AZURE_CHAT, json=HELLO)
    wait_until_closed(upstream)
    return {"cassette": cassette, "live": live, "direct": direct}


def test_recorder_passes_the_upstream_answer_through_unchanged(recorded):
    live = recorded["live"]
    assert live["chat"].status_code == 200
    assert live["chat"].headers["content-type"] == "application/json"
    assert live["chat"].headers["x-ms-region"] == "eastus"
    assert "x-ratelimit-remaining-tokens" in live["chat"].headers
    # the mock is deterministic by request: the same body as asked directly, apart from the id and time
    through, direct = live["chat"].json(), recorded["direct"].json()
    assert through["choices"] == direct["choices"] and through["usage"] == direct["usage"]
    assert live["stream"].headers["content-type"].startswith("text/event-stream")
    assert decode_all(live["stream"].content)[-1].data == "[DONE]"
    assert live["invalid"].status_code == 400 and live["invalid"].json()["error"]["param"] == "messages"
    assert live["unknown"].status_code == 404


def test_cassette_holds_every_exchange_in_order_with_a_versioned_header(recorded):
    lines = recorded["cassette"].read_text().splitlines()
    header = orjson.loads(lines[0])
    assert header["type"] == "session" and header["format"] == "aigw-cassette" and header["version"] == 1
    cassette = load(recorded["cassette"])
    assert [e.request.path for e in cassette.exchanges] == [
        "/openai/deployments/gpt-4o/chat/completions", V1_CHAT, "/v1/embeddings", "/v1/models",
        "/openai/deployments/gpt-4o/chat/completions", "/openai/deployments/nope/chat/completions"]
    assert [e.response.status for e in cassette.exchanges] == [200, 200, 200, 200, 400, 404]
    chat, stream = cassette.exchanges[0], cassette.exchanges[1]
    assert "json_" in chat.response.model_fields_set  # stored readable (parsed JSON), not as an escaped string
    assert stream.response.chunks and all(b.ms >= a.ms for a, b in zip(stream.response.chunks, stream.response.chunks[1:]))


@pytest.mark.parametrize("name, method, path, body", [
    ("chat", "POST", AZURE_CHAT, HELLO),
    ("stream", "POST", V1_CHAT, STREAM),
    ("embed", "POST", "/v1/embeddings", EMBED),
    ("models", "GET", "/v1/models", None),
    ("invalid", "POST", AZURE_CHAT, {"messages": [], "temperature": 3}),
    ("unknown", "POST", "/openai/deployments/nope/chat/completions?api-version=2024-10-21", HELLO),
])
def test_replay_with_the_upstream_stopped_is_byte_equal(recorded, name, method, path, body):
    live = recorded["live"][name]
    with replayer(recorded["cassette"], speed=None) as url:
        again = requests.request(method, url + path, json=body)
    assert again.status_code == live.status_code
    assert again.content == live.content
    assert again.headers["content-type"] == live.headers["content-type"]
    assert again.headers.get("apim-request-id") == live.headers.get("apim-request-id")
    assert again.headers["x-aigw-replay"].isdigit()


def test_matching_ignores_key_order_query_order_and_ignored_fields(recorded):
    reordered = {"max_tokens": 12, "messages": [{"content": "Hello there", "role": "user"}], "seed": 12345}
    path = "/openai/deployments/gpt-4o/chat/completions?foo=1&api-version=2024-10-21"
    with replayer(recorded["cassette"], speed=None, ignore_fields=("seed",)) as url:
        miss = requests.post(url + path, json=reordered)  # foo=1 was not recorded
        hit = requests.post(url + AZURE_CHAT, data=orjson.dumps(reordered),
                            headers={"content-type": "application/json"})
    assert miss.status_code == 404
    assert hit.status_code == 200 and hit.content == recorded["live"]["chat"].content


def test_miss_is_a_404_naming_the_key_and_the_nearest_recorded_one(recorded):
    asked = {**HELLO, "messages": [{"role": "user", "content": "Hello where"}]}
    with replayer(recorded["cassette"], speed=None) as url:
        response = requests.post(url + AZURE_CHAT, json=asked)
    assert response.status_code == 404
    assert response.headers["x-aigw-replay"] == "miss"
    error = response.json()["error"]
    assert error["code"] == "cassette_miss" and error["type"] == "invalid_request_error"
    message = error["message"]
    assert 'Request key: POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 {"max_tokens":12,' in message
    assert '"content":"Hello where"' in message
    assert 'Nearest recorded key (similarity 0.9' in message and "differs in: messages)" in message
    assert '"content":"Hello there"' in message


def test_miss_falls_through_to_generation_with_on_miss_generate(recorded):
    asked = {**HELLO, "messages": [{"role": "user", "content": "Something never recorded"}]}
    with replayer(recorded["cassette"], speed=None, on_miss="generate") as url:
        generated = requests.post(url + AZURE_CHAT, json=asked)
        replayed = requests.post(url + AZURE_CHAT, json=HELLO)
        admin = requests.get(url + "/_mock/counters", headers=ADMIN)
    assert generated.status_code == 200 and generated.headers["x-aigw-replay"] == "generated"
    assert generated.json()["object"] == "chat.completion" and generated.json()["usage"]["completion_tokens"] > 0
    assert replayed.content == recorded["live"]["chat"].content
    assert admin.status_code == 200  # the mock's own admin API stays reachable in replay mode


def test_secrets_never_reach_the_cassette(tmp_path):
    secrets = {"azure": "AZKEY-1f9e8d7c", "bearer": "sk-live-0a1b2c3d", "apim": "APIM-5566aabb",
               "query": "QKEY-77665544", "user": "alice@example.com", "nested": "trace-99887766", "custom": "HDR-1234abcd"}
    cassette = tmp_path / "secret.jsonl"
    body = {**HELLO, "user": secrets["user"], "metadata": {"trace": secrets["nested"]}}
    with running_mock() as (upstream, _):
        with recorder(cassette, upstream, redact_fields=("user", "metadata.trace"), redact_headers=("X-Custom-Token",)) as url:
            response = requests.post(url + AZURE_CHAT + "&subscription-key=" + secrets["query"], json=body, headers={
                "api-key": secrets["azure"], "Authorization": "Bearer " + secrets["bearer"],
                "Ocp-Apim-Subscription-Key": secrets["apim"], "X-Custom-Token": secrets["custom"]})
            assert response.status_code == 200
    text = cassette.read_text()
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} secret was written to the cassette"
    request = load(cassette).exchanges[0].request
    for header in ("api-key", "authorization", "ocp-apim-subscription-key", "x-custom-token"):
        assert request.headers[header] == "<redacted>"
    assert request.json_["user"] == "<redacted>" and request.json_["metadata"]["trace"] == "<redacted>"
    assert "subscription-key" not in request.query
    # a redacted field cannot take part in matching: any value of it replays the recording
    with replayer(cassette, speed=None) as url:
        again = requests.post(url + AZURE_CHAT, json={**body, "user": "bob", "metadata": {"trace": "other"}})
    assert again.status_code == 200 and again.content == response.content


def test_the_same_request_recorded_twice_replays_in_order_then_repeats_the_last(tmp_path):
    cassette = tmp_path / "twice.jsonl"
    with running_mock() as (upstream, _):
        with recorder(cassette, upstream) as url:
            first = requests.post(url + AZURE_CHAT, json=HELLO).headers
            second = requests.post(url + AZURE_CHAT, json=HELLO).headers
    remaining = "x-ratelimit-remaining-requests"
    assert first["apim-request-id"] != second["apim-request-id"] and first[remaining] != second[remaining]
    with replayer(cassette, speed=None) as url:
        served = [requests.post(url + AZURE_CHAT, json=HELLO).headers for _ in range(3)]
    assert [h["apim-request-id"] for h in served] == [first["apim-request-id"], second["apim-request-id"], second["apim-request-id"]]
    assert [h[remaining] for h in served] == [first[remaining], second[remaining], second[remaining]]


def test_unreachable_upstream_is_a_502_with_an_openai_error_body(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: connection refused
        with recorder(tmp_path / "dead.jsonl", dead) as url:
            response = requests.post(url + AZURE_CHAT, json=HELLO, headers={"api-key": "k"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_unreachable" and error["type"] == "server_error"
    assert dead in error["message"] and "could not be reached" in error["message"]
    assert load(tmp_path / "dead.jsonl").exchanges == []  # nothing recorded for it


def test_a_stream_broken_by_the_upstream_ends_with_an_error_event_and_is_not_recorded(tmp_path):
    cassette = tmp_path / "broken.jsonl"
    with running_mock() as (upstream, _):
        assert requests.put(upstream + "/_mock/faults/gpt-4o", json={"reset_mid_stream": 1}, headers=ADMIN).ok
        with recorder(cassette, upstream) as url:
            response = requests.post(url + V1_CHAT, json=STREAM)
            whole = requests.post(url + "/v1/embeddings", json=EMBED)
    events = decode_all(response.content)
    assert response.status_code == 200 and events[-1].event == "error"
    assert "broke off the stream" in orjson.loads(events[-1].data)["error"]["message"]
    assert whole.status_code == 200
    assert [e.request.path for e in exchanges_of(cassette)] == ["/v1/embeddings"]


PACED = {"paced": {"ttft_ms": {"min": 150, "max": 150}, "inter_token_ms": {"min": 25, "max": 25},
                   "embeddings_ms": {"min": 1, "max": 1}}}


async def _timed_chunks(url: str, body: dict) -> tuple[bytes, list[float]]:
    started = time.monotonic()
    arrivals, parts = [], []
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as response:
            async for chunk in response.content.iter_any():
                arrivals.append(time.monotonic() - started)
                parts.append(chunk)
    return b"".join(parts), arrivals


def test_streams_replay_with_their_recorded_timing_scaled_or_at_once(tmp_path):
    cassette = tmp_path / "paced.jsonl"
    upstream_config = mock_config(latency="paced", latency_profiles=PACED)
    with running_mock(upstream_config) as (upstream, _):
        with recorder(cassette, upstream) as url:
            live, live_arrivals = asyncio.run(_timed_chunks(url + V1_CHAT, STREAM))
    response = exchanges_of(cassette)[0].response
    recorded_s = response.chunks[-1].ms / 1000
    assert len(response.chunks) >= 10 and response.chunks[0].ms >= 140  # paced: one chunk per token, after the ttft
    assert recorded_s >= 0.15 + 14 * 0.025 * 0.9

    with replayer(cassette) as url:
        body, arrivals = asyncio.run(_timed_chunks(url + V1_CHAT, STREAM))
    assert body == live
    assert arrivals[-1] >= recorded_s * 0.95 and len(arrivals) >= len(response.chunks) // 2
    assert arrivals[0] >= response.chunks[0].ms / 1000 * 0.95  # the time to first byte is kept too

    with replayer(cassette, speed=4.0) as url:
        body, arrivals = asyncio.run(_timed_chunks(url + V1_CHAT, STREAM))
    assert body == live and recorded_s / 4 * 0.95 <= arrivals[-1] < recorded_s * 0.75

    with replayer(cassette, speed=None) as url:
        body, arrivals = asyncio.run(_timed_chunks(url + V1_CHAT, STREAM))
    assert body == live and arrivals[-1] < recorded_s / 2


def test_the_azure_sdk_records_through_an_upstream_with_a_path_prefix_and_replays(tmp_path):
    """AzureOpenAI → recorder (APIM-style path /deployments/...) → upstream base URL ending in /openai."""
    from openai import AzureOpenAI

    cassette = tmp_path / "sdk.jsonl"
    messages = [{"role": "user", "content": "Name three colours"}]

    def ask(url: str) -> tuple[str, str]:
        client = AzureOpenAI(base_url=url + "/deployments/gpt-4o", api_key="sdk-secret-key-42",
                             api_version="2024-10-21", max_retries=0)
        whole = client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=8, user="carol")
        chunks = client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=8, stream=True)
        return whole.choices[0].message.content, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    with running_mock() as (upstream, _):
        with recorder(cassette, upstream + "/openai", redact_fields=("user",)) as url:
            live = ask(url)
    wait_until_closed(upstream)
    assert live[0] and live[1]
    assert [e.request.path for e in exchanges_of(cassette)] == ["/deployments/gpt-4o/chat/completions"] * 2
    assert "sdk-secret-key-42" not in cassette.read_text() and "carol" not in cassette.read_text()
    with replayer(cassette, speed=None) as url:
        assert ask(url) == live


async def _many(url: str, count: int) -> list[bytes]:
    async with aiohttp.ClientSession() as session:
        async def one(number: int) -> bytes:
            body = {**STREAM, "messages": [{"role": "user", "content": f"question {number}"}]} if number % 2 else \
                {**HELLO, "messages": [{"role": "user", "content": f"question {number}"}]}
            path = V1_CHAT if number % 2 else AZURE_CHAT
            async with session.post(url + path, json=body) as response:
                return await response.read()
        return await asyncio.gather(*(one(n) for n in range(count)))


def test_concurrent_exchanges_are_each_recorded_whole_and_replay_to_the_same_bytes(tmp_path):
    cassette = tmp_path / "many.jsonl"
    with running_mock() as (upstream, _):
        with recorder(cassette, upstream) as url:
            live = asyncio.run(_many(url, 24))
    exchanges = exchanges_of(cassette)
    assert sorted(e.id for e in exchanges) == list(range(1, 25))
    assert sum(e.response.chunks is not None for e in exchanges) == 12
    with replayer(cassette, speed=None) as url:
        assert asyncio.run(_many(url, 24)) == live
