"""llm-token-limit on streams, and 200 racing requests against one MemoryStore (unit level)."""

import asyncio
import random

import orjson
import pytest

from aigw.gateway.context import Usage
from aigw.gateway.errors import GatewayError
from aigw.gateway.token_estimate import StreamTally
from aigw.protocol.tokens import count_chat_prompt, count_text
from token_limit_support import answer, chat_body, context, policy, run, services, used


# -- streaming ------------------------------------------------------------------------------------


def test_stream_asks_for_usage_upstream_and_strips_it_only_if_the_client_did_not():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1000, "estimate-prompt-tokens": False})
        ctx = context(chat_body(stream=True, max_tokens=30))
        await pol.inbound(ctx)
        assert ctx.request.json()["stream_options"] == {"include_usage": True}
        assert orjson.loads(ctx.request.body)["stream_options"] == {"include_usage": True}
        assert ctx.strip_usage_chunk
        assert await used(svc, pol) > 30  # streams always estimate: prompt + allowance reserved
        asked = context(chat_body(stream=True, stream_options={"include_usage": True}))
        raw = asked.request.body
        await pol.inbound(asked)
        assert asked.request.body == raw and not asked.strip_usage_chunk

    run(scenario())


def test_stream_with_usage_is_charged_its_usage():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1000, "remaining-tokens-header-name": "x-left"})
        ctx = context(chat_body(stream=True, max_tokens=100))
        await pol.inbound(ctx)
        await answer(ctx, Usage(14, 42), stream=True)
        assert await used(svc, pol) == 56

    run(scenario())


def test_a_stream_without_usage_is_counted_from_its_deltas():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1000})
        second = policy(svc, **{"tokens-per-minute": 2000})
        body = chat_body(stream=True, max_tokens=100)
        ctx = context(body)
        await pol.inbound(ctx)
        await second.inbound(ctx)
        assert len(ctx.stream_observers) == 1  # one tally shared by both policies
        pieces = ["Gateways ", "route, ", "limit and ", "observe."]
        for piece in pieces:
            for observer in ctx.stream_observers:
                observer(ctx, {"choices": [{"index": 0, "delta": {"content": piece}}]})
        await answer(ctx, None, stream=True)  # broke off before the usage chunk
        expected = count_chat_prompt(body["messages"], "gpt-4o") + count_text("".join(pieces), "gpt-4o")
        assert await used(svc, pol) == expected == await used(svc, second)

    run(scenario())


def test_stream_tally_reads_completions_text_and_tool_call_arguments():
    tally = StreamTally()
    tally.observe(None, {"choices": [{"index": 0, "text": "Hello there"}, {"index": 1, "text": "General Kenobi"}]})
    tally.observe(None, {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}}]})
    tally.observe(None, {"choices": [], "usage": None})
    expected = count_text('Hello thereget_weather{"city": "Oslo"}', "gpt-4o") + count_text("General Kenobi", "gpt-4o")
    assert tally.completion_tokens("gpt-4o") == expected


# -- concurrency ----------------------------------------------------------------------------------


def test_200_concurrent_requests_never_exceed_the_limit():
    """Every admitted request's usage summed stays within the limit: reservations bound the cost."""

    async def scenario():
        svc = services()
        limit = 5_000
        pol = policy(svc, **{"tokens-per-minute": limit})
        rng = random.Random(7)
        admitted_usage = []
        peak = 0

        async def one(i: int) -> None:
            nonlocal peak
            body = chat_body(f"Request number {i}: " + "word " * rng.randint(1, 40), max_tokens=rng.randint(10, 120))
            ctx = context(body)
            try:
                await pol.inbound(ctx)
            except GatewayError as error:
                assert error.status == 429
                return
            peak = max(peak, await used(svc, pol))
            await asyncio.sleep(rng.uniform(0, 0.02))  # the backend takes a while
            usage = Usage(count_chat_prompt(body["messages"], "gpt-4o"), rng.randint(1, body["max_tokens"]))
            admitted_usage.append(usage.total_tokens)
            await answer(ctx, usage)

        await asyncio.gather(*(one(i) for i in range(200)))
        assert peak <= limit
        assert sum(admitted_usage) <= limit
        assert await used(svc, pol) == sum(admitted_usage)  # reconciled exactly
        assert 20 < len(admitted_usage) < 200

    run(scenario())
