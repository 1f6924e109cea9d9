"""llm-token-limit, rate-limit-by-key and quota-by-key through a real gateway in front of a real mock.

The gateway's clock is anchored one second into a UTC minute so a per-minute window cannot roll in
the middle of a test (time still advances in real seconds for Retry-After).
"""

import asyncio
import contextlib
import time
from typing import Any, Iterator

import aiohttp
import orjson
import pytest

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig, example_config_path, load_config
from aigw.gateway.services import Services
from aigw.protocol.sse import SSEDecoder
from conftest import mock_config, running_app, running_mock

KEYS = {"tenant-a": "tenant-a-key-0001", "tenant-b": "tenant-b-key-0002"}
CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


def anchored_clock():
    """Real time, shifted so the gateway's first minute window started one second ago."""
    started = time.time()
    base = started - started % 60 + 60 + 1
    return lambda: base + (time.time() - started)


def gateway_config(mock_url: str, inbound: list[dict]) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "backends": [{"id": "mock", "url": f"{mock_url}/openai"}],
        "apis": [{"id": "aoai", "path": "/openai", "backend": "mock", "policies": {"inbound": inbound}}],
        "products": [{"id": "p"}],
        "subscriptions": [{"id": t, "key": k, "product": "p"} for t, k in KEYS.items()],
    })


@contextlib.contextmanager
def running_gateway(config: GatewayConfig) -> Iterator[tuple[str, GatewayApp]]:
    services = Services.create(config)
    services.clock = anchored_clock()
    with running_app(GatewayApp(config, services)) as started:
        yield started


@contextlib.contextmanager
def stack(inbound: list[dict], **mock_overrides: Any) -> Iterator[tuple[str, GatewayApp]]:
    with running_mock(mock_config(**mock_overrides)) as (mock_url, _):
        with running_gateway(gateway_config(mock_url, inbound)) as started:
            yield started


def token_limit(**attributes) -> dict:
    return {"llm-token-limit": {"counter-key": "@(context.Subscription.Id)", "estimate-prompt-tokens": True,
                                "remaining-tokens-header-name": "x-remaining-tokens",
                                "tokens-consumed-header-name": "x-tokens-consumed", **attributes}}


def chat(text: str = "Say something about gateways.", **extra) -> dict:
    return {"messages": [{"role": "user", "content": text}], **extra}


async def post(session: aiohttp.ClientSession, url: str, body: dict, tenant: str = "tenant-a", path: str = CHAT):
    async with session.post(url + path, data=orjson.dumps(body),
                            headers={"api-key": KEYS[tenant], "content-type": "application/json"}) as response:
        return response.status, response.headers, await response.read()


def call(url: str, body: dict, tenant: str = "tenant-a", path: str = CHAT):
    async def one():
        async with aiohttp.ClientSession() as session:
            return await post(session, url, body, tenant, path)

    return asyncio.run(one())


def events(raw: bytes) -> list[Any]:
    decoder = SSEDecoder()
    found = [e for e in decoder.feed(raw)]
    return [orjson.loads(e.data) if e.data != "[DONE]" else "[DONE]" for e in found]


# -- tokens per minute ----------------------------------------------------------------------------


def test_tokens_per_minute_429_with_headers_and_consumed_equal_to_usage():
    with stack([token_limit(**{"tokens-per-minute": 400})]) as (url, _):
        status, headers, body = call(url, chat(max_tokens=60))
        assert status == 200
        usage = orjson.loads(body)["usage"]
        assert headers["x-tokens-consumed"] == str(usage["total_tokens"])
        assert headers["x-remaining-tokens"] == str(400 - usage["total_tokens"])
        statuses = [call(url, chat(max_tokens=60))[0] for _ in range(8)]
        assert 200 in statuses and statuses[-1] == 429
        status, headers, body = call(url, chat(max_tokens=60))
        assert status == 429
        wait = int(headers["Retry-After"])
        assert 1 <= wait <= 60
        assert orjson.loads(body) == {"statusCode": 429, "message": f"Token limit is exceeded. Try again in {wait} seconds."}
        assert int(headers["x-remaining-tokens"]) < 60 + 20
        assert call(url, chat(max_tokens=60), tenant="tenant-b")[0] == 200  # another key, another counter


def test_token_quota_403():
    quota = token_limit(**{"token-quota": 150, "token-quota-period": "Hourly",
                           "remaining-quota-tokens-header-name": "x-quota-left"})
    with stack([quota]) as (url, _):
        status, headers, body = call(url, chat(max_tokens=50))
        assert status == 200
        left = int(headers["x-quota-left"])
        assert left == 150 - orjson.loads(body)["usage"]["total_tokens"]
        while status == 200:
            status, headers, body = call(url, chat(max_tokens=50))
        assert status == 403
        assert orjson.loads(body)["message"].startswith("Token quota is exceeded. Quota will be replenished in ")
        assert 1 <= int(headers["Retry-After"]) <= 3600


def test_estimate_false_lets_one_overshoot_through_then_blocks():
    with stack([token_limit(**{"tokens-per-minute": 100, "estimate-prompt-tokens": False})]) as (url, app):
        first = call(url, chat("gateway " * 150, max_tokens=5))
        assert first[0] == 200 and orjson.loads(first[2])["usage"]["total_tokens"] > 150  # admitted, overshoots
        assert call(url, chat(max_tokens=5))[0] == 429


# -- streaming ------------------------------------------------------------------------------------


def test_stream_is_counted_and_the_injected_usage_chunk_is_stripped():
    with stack([token_limit(**{"tokens-per-minute": 100_000})]) as (url, _):
        status, headers, raw = call(url, chat(stream=True, max_tokens=40))
        assert status == 200
        chunks = events(raw)
        assert chunks[-1] == "[DONE]"
        assert not any(isinstance(c, dict) and c.get("usage") for c in chunks)  # the client did not ask
        before = int(headers["x-remaining-tokens"])  # admission: prompt + 40 reserved
        status, headers, body = call(url, chat(max_tokens=1))
        settled = 100_000 - int(headers["x-remaining-tokens"]) - orjson.loads(body)["usage"]["total_tokens"]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]
                       if isinstance(c, dict) and c.get("choices"))
        from aigw.protocol.tokens import count_chat_prompt, count_text

        assert settled == count_chat_prompt(chat()["messages"], "gpt-4o") + count_text(text, "gpt-4o")
        assert settled <= 100_000 - before

        status, _, raw = call(url, chat(stream=True, max_tokens=10, stream_options={"include_usage": True}))
        usage = [c["usage"] for c in events(raw) if isinstance(c, dict) and c.get("usage")]
        assert len(usage) == 1 and usage[0]["completion_tokens"] <= 10


def test_a_stream_that_breaks_is_counted_from_its_deltas():
    deployments = mock_config().model_dump()["deployments"]
    broken = {**next(d for d in deployments if d["name"] == "gpt-4o"), "name": "gpt-4o-broken"}
    broken["faults"] = {**broken["faults"], "reset_mid_stream": 1.0}
    with stack([token_limit(**{"tokens-per-minute": 100_000})], deployments=deployments + [broken]) as (url, app):
        path = CHAT.replace("gpt-4o", "gpt-4o-broken")
        status, headers, raw = call(url, chat(stream=True, max_tokens=200), path=path)
        assert status == 200 and b"stream_interrupted" in raw
        status, headers, body = call(url, chat(max_tokens=1))
        settled = 100_000 - int(headers["x-remaining-tokens"]) - orjson.loads(body)["usage"]["total_tokens"]
        from aigw.protocol.tokens import count_chat_prompt

        assert count_chat_prompt(chat()["messages"], "gpt-4o") < settled < 200  # prompt + what was streamed


# -- concurrency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_200_concurrent_requests_never_exceed_the_limit(stream):
    """Admitted usage (what the backend reports) summed over 200 racing requests stays within the limit."""
    limit = 6_000

    async def scenario(url: str) -> tuple[list[int], int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async def one(i: int):
                body = chat(f"Request {i}: tell me about rate limits " + "please " * (i % 13),
                            max_tokens=40 + i % 50, stream=stream,
                            **({"stream_options": {"include_usage": True}} if stream else {}))
                status, _, raw = await post(session, url, body)
                if status != 200:
                    assert status == 429
                    return None
                if stream:
                    return next(c["usage"] for c in events(raw) if isinstance(c, dict) and c.get("usage"))["total_tokens"]
                return orjson.loads(raw)["usage"]["total_tokens"]

            results = await asyncio.gather(*(one(i) for i in range(200)))
        return [r for r in results if r is not None], results.count(None)

    with stack([token_limit(**{"tokens-per-minute": limit})], latency="fast") as (url, app):
        admitted, refused = asyncio.run(scenario(url))
        time.sleep(0.2)  # on_complete settlement of the last streams
        assert sum(admitted) <= limit
        assert refused > 0 and len(admitted) > 20
        policy = app.chains.apis["aoai"].inbound[0]
        start = app.services.clock() // 60 * 60
        charged = asyncio.run(app.services.store.peek(f"{policy.scope}:tpm:tenant-a", start))
        assert charged == sum(admitted)  # every reservation reconciled to the reported usage


# -- call limits ----------------------------------------------------------------------------------


def test_rate_limit_by_key_and_quota_by_key():
    rate = {"rate-limit-by-key": {"calls": 3, "renewal-period": 60, "counter-key": "@(context.Subscription.Id)",
                                  "remaining-calls-header-name": "x-calls-left"}}
    with stack([rate]) as (url, _):
        lefts = [call(url, chat(max_tokens=1))[1]["x-calls-left"] for _ in range(3)]
        assert lefts == ["2", "1", "0"]
        status, headers, body = call(url, chat(max_tokens=1))
        assert status == 429 and headers["x-calls-left"] == "0"
        wait = headers["Retry-After"]
        assert orjson.loads(body) == {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait} seconds."}
        assert call(url, chat(max_tokens=1), tenant="tenant-b")[0] == 200
    quota = {"quota-by-key": {"calls": 2, "renewal-period": 3600, "counter-key": "@(context.Subscription.Id)"}}
    with stack([quota]) as (url, _):
        assert [call(url, chat(max_tokens=1))[0] for _ in range(3)] == [200, 200, 403]
        message = orjson.loads(call(url, chat(max_tokens=1))[2])["message"]
        assert message.startswith("Out of call volume quota. Quota will be replenished in ")


# -- the shipped example --------------------------------------------------------------------------


def test_example_config_limits_tokens_per_subscription(monkeypatch):
    with running_mock() as (mock_url, _):
        for region in ("EASTUS", "SWEDENCENTRAL", "WESTUS"):
            monkeypatch.setenv(f"AIGW_MOCK_{region}", mock_url)
        config = load_config(example_config_path())
        with running_gateway(config) as (url, _):
            status, headers, body = call(url, chat(max_tokens=20))
            assert status == 200
            total = orjson.loads(body)["usage"]["total_tokens"]
            assert headers["x-apim-tokens-consumed"] == str(total)
            assert headers["x-apim-remaining-tokens"] == str(20_000 - total)
            assert headers["x-apim-remaining-quota-tokens"] == str(1_000_000 - total)
