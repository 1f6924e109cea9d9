"""llm-semantic-cache-lookup/-store through a real gateway, with the real mock as chat and embeddings backend.

The mock's embeddings are meaningful (paraphrases cos ≥ 0.9, unrelated ≤ 0.3), so a score-threshold of
0.1 (a cosine distance) separates them. The mock's request counters prove when the backend was skipped.
"""

import json
import urllib.error
import urllib.request

import openai
import pytest

from conftest import running_mock

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig
from aigw.gateway.services import Services
from aigw.protocol.serving import free_port, start_in_thread
from aigw.protocol.spec import check
from aigw.protocol.sse import SSEDecoder

KEY_A, KEY_B = "tenant-a-key-0001", "tenant-b-key-0002"
QUERY = "?api-version=2024-10-21"
CHAT = "/deployments/gpt-4o/chat/completions"
LOOKUP = {"score-threshold": 0.1, "embeddings-backend-id": "embeddings", "embeddings-backend-auth": "system-assigned",
          "ignore-system-messages": True, "max-message-count": 3, "vary-by": ["@(context.Subscription.Id)"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def gateway_config(mock: str) -> GatewayConfig:
    cache = {"inbound": [{"llm-semantic-cache-lookup": LOOKUP}], "outbound": [{"llm-semantic-cache-store": {"duration": 60}}]}
    down = {"inbound": [{"azure-openai-semantic-cache-lookup": {**LOOKUP, "embeddings-backend-id": "embeddings-down"}}],
            "outbound": [{"azure-openai-semantic-cache-store": {"duration": 60}}]}
    return GatewayConfig.model_validate({
        "backends": [
            {"id": "aoai", "url": f"{mock}/openai"},
            # APIM's way: the backend URL is the embeddings deployment's endpoint itself
            {"id": "embeddings", "url": f"{mock}/openai/deployments/text-embedding-3-small/embeddings", "timeout": 5},
            {"id": "embeddings-down", "url": f"http://127.0.0.1:{free_port()}/openai", "timeout": 2},
        ],
        "apis": [
            {"id": "aoai", "path": "/openai", "backend": "aoai", "policies": cache},
            {"id": "down", "path": "/down", "backend": "aoai",
             "policies": {**down, "inbound": [{"azure-openai-semantic-cache-lookup": {
                 **LOOKUP, "embeddings-backend-id": "embeddings-down", "embeddings-deployment": "text-embedding-3-small"}}]}},
        ],
        "products": [{"id": "starter"}],
        "subscriptions": [{"id": "tenant-a", "key": KEY_A, "product": "starter"},
                          {"id": "tenant-b", "key": KEY_B, "product": "starter"}],
    })


@pytest.fixture(scope="module")
def mock_backend():
    with running_mock() as started:
        yield started


@pytest.fixture
def gateway(mock_backend):
    """A fresh gateway (empty cache) with a clock the test moves; yields (base url, clock, mock app)."""
    url, app = mock_backend
    config = gateway_config(url)
    services = Services.create(config)
    clock = services.clock = Clock()
    port = free_port()
    server = start_in_thread(GatewayApp(config, services), port)
    try:
        yield f"http://127.0.0.1:{port}", clock, app
    finally:
        server.should_exit = True


def backend_calls(app) -> int:
    return app.state.deployments["gpt-4o"].counters.requests


def post(base: str, body: dict, key: str = KEY_A, api: str = "/openai") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"{base}{api}{CHAT}{QUERY}", json.dumps(body).encode(),
                                     {"api-key": key, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def ask(base: str, text: str, key: str = KEY_A, system: str | None = None, **extra) -> tuple[int, dict, bytes]:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return post(base, {"messages": messages, "max_tokens": 20, **extra}, key)


def content(body: bytes) -> str:
    return json.loads(body)["choices"][0]["message"]["content"]


def stream_events(raw: bytes) -> list[str]:
    decoder = SSEDecoder()
    decoder.feed(raw)
    return [event.data for event in decoder.events]


def assert_valid_stream(raw: bytes, include_usage: bool) -> str:
    """A well-formed chat stream: role chunk, content, finish, usage chunk iff asked, [DONE]; returns the text."""
    datas = stream_events(raw)
    assert datas[-1] == "[DONE]" and "[DONE]" not in datas[:-1]
    chunks = [json.loads(d) for d in datas[:-1]]
    for chunk in chunks:
        assert check("chat-completion-chunk", chunk) == [], chunk
    with_choices = [c for c in chunks if c["choices"]]
    assert with_choices[0]["choices"][0]["delta"].get("role") == "assistant"
    assert with_choices[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    usage_chunks = [c for c in chunks if c.get("usage")]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and chunks[-1]["choices"] == []
        assert usage_chunks[0]["usage"]["completion_tokens"] > 0
    else:
        assert usage_chunks == [] and all("usage" not in c for c in chunks)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in with_choices)


def test_repeat_and_paraphrase_hit_unrelated_miss(gateway):
    base, _, app = gateway
    calls = backend_calls(app)
    status, headers, first = ask(base, "What is the capital of France?")
    assert status == 200 and headers["x-aigw-cache"] == "miss"
    status, headers, again = ask(base, "what is the   capital of France?")  # exact tier: normalised prompt
    assert status == 200 and headers["x-aigw-cache"] == "hit" and headers["x-aigw-cache-tier"] == "exact"
    assert headers["x-aigw-cache-distance"] == "0.0000"
    assert again == first
    status, headers, paraphrase = ask(base, "Could you please tell me what the capital of France is?")
    assert status == 200 and headers["x-aigw-cache"] == "hit" and headers["x-aigw-cache-tier"] == "semantic"
    assert content(paraphrase) == content(first)
    assert backend_calls(app) == calls + 1  # both hits skipped the backend
    _, _, cookies = ask(base, "Recipe for chocolate chip cookies without eggs")
    status, headers, body = ask(base, "Eggless chocolate chip cookie recipe without eggs")
    assert headers["x-aigw-cache"] == "hit" and 0.01 < float(headers["x-aigw-cache-distance"]) <= 0.1
    assert body == cookies and backend_calls(app) == calls + 2
    status, headers, other = ask(base, "How do I bake sourdough bread?")
    assert status == 200 and headers["x-aigw-cache"] == "miss" and "x-aigw-cache-tier" not in headers
    assert backend_calls(app) == calls + 3
    assert "apim-request-id" in headers
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        scrape = response.read().decode()
    counts = {line.split("result=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
              if line.startswith("aigw_cache_lookups_total{") and 'api="aoai"' in line}
    assert counts == {"hit": 3, "miss": 3}


def test_vary_by_never_serves_across_tenants(gateway):
    base, _, app = gateway
    ask(base, "Explain quantum entanglement", key=KEY_A)
    status, headers, _ = ask(base, "Explain quantum entanglement", key=KEY_B)
    assert status == 200 and headers["x-aigw-cache"] == "miss"
    status, headers, _ = ask(base, "Can you explain what quantum entanglement is?", key=KEY_B)
    assert headers["x-aigw-cache"] == "hit"  # tenant B's own entry now
    status, headers, _ = ask(base, "Can you explain what quantum entanglement is?", key=KEY_A)
    assert headers["x-aigw-cache"] == "hit"


def test_stream_hit_is_a_valid_stream_both_ways(gateway):
    base, _, app = gateway
    # answered as JSON first, replayed as a stream (with and without the usage chunk)
    _, _, first = ask(base, "Write a haiku about autumn leaves")
    calls = backend_calls(app)
    status, headers, raw = ask(base, "Write a haiku about autumn leaves", stream=True)
    assert status == 200 and headers["x-aigw-cache"] == "hit" and headers["content-type"].startswith("text/event-stream")
    assert assert_valid_stream(raw, include_usage=False) == content(first)
    _, _, raw = ask(base, "Please write me a haiku about the leaves in autumn", stream=True,
                    stream_options={"include_usage": True})
    assert assert_valid_stream(raw, include_usage=True) == content(first)
    assert backend_calls(app) == calls
    # answered as a stream first (no usage asked), stored assembled, replayed as JSON and as a stream
    status, headers, raw = ask(base, "How many calories are in a banana?", stream=True)
    assert headers["x-aigw-cache"] == "miss"
    streamed = assert_valid_stream(raw, include_usage=False)
    status, headers, body = ask(base, "calories in a banana")
    assert headers["x-aigw-cache"] == "hit" and content(body) == streamed
    answer = json.loads(body)
    assert check("chat-completion-response", answer) == []
    assert answer["usage"]["completion_tokens"] > 0 and answer["usage"]["prompt_tokens"] > 0
    _, _, raw = ask(base, "How many calories are in a banana?", stream=True, stream_options={"include_usage": True})
    assert assert_valid_stream(raw, include_usage=True) == streamed


def test_openai_sdk_streams_a_cache_hit(gateway):
    base, _, _ = gateway
    client = openai.AzureOpenAI(azure_endpoint=base, api_key=KEY_A, api_version="2024-10-21")
    messages = [{"role": "user", "content": "Tell me the capital city of France"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=20)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages, max_tokens=20, stream=True)
    assert raw.headers["x-aigw-cache"] == "hit"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    assert text == first.choices[0].message.content


def test_entries_expire_after_duration(gateway):
    base, clock, app = gateway
    ask(base, "How do I reset my password on Windows 11?")
    clock.now += 59
    assert ask(base, "How do I reset my password on Windows 11?")[1]["x-aigw-cache"] == "hit"
    clock.now += 2
    calls = backend_calls(app)
    assert ask(base, "How do I reset my password on Windows 11?")[1]["x-aigw-cache"] == "miss"
    assert ask(base, "How do I reset my password on Windows 11?")[1]["x-aigw-cache"] == "hit"  # stored again
    assert backend_calls(app) == calls + 1


def test_embeddings_backend_down_still_answers(gateway):
    base, _, app = gateway
    calls = backend_calls(app)
    question = {"messages": [{"role": "user", "content": "How do I delete my Facebook account?"}]}
    status, headers, first = post(base, question, api="/down")
    assert status == 200 and headers["x-aigw-cache"] == "miss" and content(first)
    # the exact tier needs no embeddings; the semantic tier sits it out, so a paraphrase misses
    status, headers, again = post(base, question, api="/down")
    assert status == 200 and headers["x-aigw-cache"] == "hit" and headers["x-aigw-cache-tier"] == "exact"
    paraphrase = {"messages": [{"role": "user", "content": "Steps to remove my Facebook account"}]}
    status, headers, body = post(base, paraphrase, api="/down")
    assert status == 200 and headers["x-aigw-cache"] == "miss" and content(body)
    assert backend_calls(app) == calls + 2


def test_ignore_system_messages_and_max_message_count(gateway):
    base, _, app = gateway
    ask(base, "Explain how photosynthesis works", system="You are a helpful botanist.")
    status, headers, _ = ask(base, "Explain how photosynthesis works", system="Answer like a pirate.")
    assert headers["x-aigw-cache"] == "hit"  # system messages are ignored for matching
    dialog = [{"role": "user", "content": "Tell me about volcanoes"}, {"role": "assistant", "content": "Lava and ash."},
              {"role": "user", "content": "Explain how photosynthesis works"}]
    body = {"messages": [{"role": "system", "content": "x"}] + dialog}
    assert post(base, body)[1]["x-aigw-cache"] == "miss"  # 3 dialog messages: cacheable; another prompt
    longer = {"messages": dialog + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}]}
    calls = backend_calls(app)
    for _ in range(2):
        status, headers, _ = post(base, longer)
        assert status == 200 and headers["x-aigw-cache"] == "bypass"
    assert backend_calls(app) == calls + 2  # never cached


def test_errors_are_not_cached_and_non_cacheable_requests_bypass(gateway):
    base, _, app = gateway
    bad = {"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": -5}
    for _ in range(2):
        status, headers, _ = post(base, bad)
        assert status == 400 and headers["x-aigw-cache"] == "bypass"  # invalid: the backend must judge it
    status, headers, _ = ask(base, "What is the capital of France?", n=2)
    assert status == 200 and headers["x-aigw-cache"] == "bypass"


def test_an_answer_cut_short_is_never_served_to_a_request_that_allows_more(gateway):
    base, _, app = gateway
    question = "List twelve famous rivers of the world with their lengths."
    status, _, cut = ask(base, question, max_tokens=3)
    assert status == 200 and json.loads(cut)["choices"][0]["finish_reason"] == "length"
    status, headers, again = ask(base, question, max_tokens=3)
    assert headers["x-aigw-cache"] == "hit" and again == cut  # the same cap: exactly what it would get
    before = backend_calls(app)
    for cap in (16384, 50, 2):  # 16,384: the most gpt-4o accepts (a larger cap is the model's 400, not a miss)
        status, headers, body = ask(base, question, max_tokens=cap)
        assert headers["x-aigw-cache"] == "miss", f"max_tokens={cap} was served the answer cut at 3 tokens"
    assert backend_calls(app) == before + 3


def test_a_dead_embeddings_backend_costs_nothing_per_request_and_is_counted(gateway):
    base, _, _ = gateway
    seen = []
    for index in range(8):
        status, headers, _ = post(base, {"messages": [{"role": "user", "content": f"Question {index} about rivers"}],
                                         "max_tokens": 5}, api="/down")
        assert status == 200 and headers["x-aigw-cache"] == "miss"
        seen.append(index)
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    counts = {result: sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                          if line.startswith("aigw_cache_lookups_total{") and 'api="down"' in line and f'result="{result}"' in line)
              for result in ("error", "skipped")}
    assert counts["error"] == 3 and counts["skipped"] == 5, counts  # its own breaker opened after three failures
