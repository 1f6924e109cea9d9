"""Unit tests of the llm-token-limit policy: configuration, estimates, admission, reconciliation, headers.

Driven directly with a MemoryStore and a clock we move (helpers in token_limit_support.py).
"""

import datetime as dt

import orjson
import pytest

from aigw.gateway.context import Usage
from aigw.gateway.errors import GatewayError
from aigw.gateway.policies import registry
from aigw.gateway.policies.llm_token_limit import timespan
from aigw.gateway.token_estimate import completion_allowance, model_of, prompt_tokens
from aigw.protocol.tokens import count_chat_prompt, count_text, encoding_name_for_model
from token_limit_support import (MINUTE_START, Clock, answer, chat_body, context, headers, policy, run, services,
                                 used)


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("attributes, message", [
    ({"estimate-prompt-tokens": True}, "set tokens-per-minute, or token-quota with token-quota-period"),
    ({"estimate-prompt-tokens": True, "token-quota": 10}, "token-quota needs token-quota-period"),
    ({"estimate-prompt-tokens": True, "tokens-per-minute": 10, "token-quota-period": "Daily"}, "token-quota is missing"),
    ({"estimate-prompt-tokens": True, "token-quota": 10, "token-quota-period": "Fortnightly"}, "must be one of Hourly"),
    ({"tokens-per-minute": 10}, "estimate-prompt-tokens\n  Field required"),
    ({"estimate-prompt-tokens": True, "tokens-per-minute": 0}, "greater than 0"),
    ({"estimate-prompt-tokens": True, "tokens-per-minute": 10, "remaining-tokens-header-name": "bad name"},
     "not a valid HTTP header name"),
    ({"estimate-prompt-tokens": True, "tokens-per-minute": 10, "tokens-limit": 3}, "Extra inputs are not permitted"),
])
def test_config_errors_say_what_is_wrong(attributes, message):
    with pytest.raises(ValueError) as caught:
        registry["llm-token-limit"].Config.model_validate({"counter-key": "x", **attributes})
    assert message in str(caught.value)


def test_config_error_in_yaml_names_file_line_and_field(tmp_path):
    from aigw.gateway.config import load_config
    from aigw.protocol.yamlconfig import ConfigError

    path = tmp_path / "gateway.yaml"
    path.write_text("""\
backends:
  - {id: b, url: "http://127.0.0.1:9"}
apis:
  - id: a
    path: /openai
    backend: b
    policies:
      inbound:
        - llm-token-limit:
            counter-key: "@(context.Subscription.Id)"
            token-quota: 5000
            estimate-prompt-tokens: true
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f"{path}:" in text and "apis[0].policies.inbound[0]" in text and "token-quota-period" in text


def test_bad_counter_key_expression_is_a_config_error():
    with pytest.raises(ValueError, match="unsupported expression term 'context.Nope'"):
        registry["llm-token-limit"].Config.model_validate(
            {"counter-key": "@(context.Nope)", "tokens-per-minute": 10, "estimate-prompt-tokens": True})


def test_period_is_case_insensitive_and_alias_is_registered():
    config = registry["azure-openai-token-limit"].Config.model_validate(
        {"counter-key": "k", "token-quota": 5, "token-quota-period": "monthly", "estimate-prompt-tokens": "false"})
    assert config.token_quota_period == "Monthly" and config.estimate_prompt_tokens is False


# -- estimates ------------------------------------------------------------------------------------


def test_prompt_estimate_is_the_real_tokenizer_count_for_the_right_model():
    body = chat_body("नमस्ते आप कैसे हैं", model="gpt-4")
    assert model_of(body, "my-deployment") == "gpt-4"
    assert model_of(chat_body(), "gpt-4") == "gpt-4"
    assert encoding_name_for_model(model_of(chat_body(), "my-custom-deployment")) == "o200k_base"
    assert prompt_tokens("chat", body, "gpt-4") == count_chat_prompt(body["messages"], "gpt-4")
    assert prompt_tokens("chat", body, "gpt-4") != prompt_tokens("chat", body, "gpt-4o")  # cl100k vs o200k


def test_unreadable_bodies_are_estimated_from_their_bytes_never_raise():
    raw = b'{"messages": "not a list"}'
    assert prompt_tokens("chat", {"messages": "not a list"}, "gpt-4o", raw) == -(-len(raw) // 4)
    assert prompt_tokens("completions", {"prompt": [1.5]}, "gpt-4o", b"x" * 10) == 3


def test_completion_allowance():
    assert completion_allowance("chat", {"max_tokens": 50, "n": 3}, 256) == 150
    assert completion_allowance("chat", {"max_completion_tokens": 40, "max_tokens": 99}, 256) == 40
    assert completion_allowance("chat", {"n": 2}, 256) == 512
    assert completion_allowance("completions", {"best_of": 3}, 256) == 48  # documented default 16 × best_of
    assert completion_allowance("embeddings", {"input": "x"}, 256) == 0


# -- admission, reconciliation, headers -----------------------------------------------------------


def test_reserves_prompt_plus_max_tokens_then_charges_the_actual_usage():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1000, "remaining-tokens-header-name": "x-remaining",
                             "tokens-consumed-header-name": "x-consumed", "remaining-tokens-variable-name": "left",
                             "tokens-consumed-variable-name": "consumed"})
        body = chat_body(max_tokens=100, n=2)
        ctx = context(body)
        await pol.inbound(ctx)
        prompt = count_chat_prompt(body["messages"], "gpt-4o")
        assert await used(svc, pol) == prompt + 200
        assert headers(ctx)["x-remaining"] == str(1000 - prompt - 200)
        assert ctx.variables == {"left": 1000 - prompt - 200, "consumed": prompt}  # APIM: the estimate until the answer
        await answer(ctx, Usage(prompt, 37))
        assert await used(svc, pol) == prompt + 37
        assert headers(ctx)["x-remaining"] == str(1000 - prompt - 37)
        assert headers(ctx)["x-consumed"] == str(prompt + 37)
        assert ctx.variables == {"left": 1000 - prompt - 37, "consumed": prompt + 37}
        assert [k for k, _ in ctx.extra_headers + ctx.response.headers].count(b"x-remaining") == 1

    run(scenario())


def test_over_tokens_per_minute_is_429_with_retry_after_until_the_window_rolls():
    async def scenario():
        clock = Clock(MINUTE_START + 15)
        svc = services(clock)
        pol = policy(svc, **{"tokens-per-minute": 300, "remaining-tokens-header-name": "x-remaining",
                             "retry-after-variable-name": "wait"})
        first = context(chat_body(max_tokens=200))
        await pol.inbound(first)
        second = context(chat_body(max_tokens=200))
        with pytest.raises(GatewayError) as caught:
            await pol.inbound(second)
        error = caught.value
        assert error.status == 429 and error.headers == {"Retry-After": "45"}
        assert orjson.loads(error.response().body) == {"statusCode": 429,
                                                        "message": "Token limit is exceeded. Try again in 45 seconds."}
        assert second.variables["wait"] == 45
        assert 0 < int(headers(second)["x-remaining"]) < 200
        clock.now += 45  # the next minute: a fresh window
        third = context(chat_body(max_tokens=200))
        await pol.inbound(third)
        assert await used(svc, pol) > 200

    run(scenario())


def test_refusals_are_not_charged_and_a_custom_retry_header_replaces_retry_after():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 100, "retry-after-header-name": "x-retry-in"})
        await pol.inbound(context(chat_body(max_tokens=80)))
        before = await used(svc, pol)
        for _ in range(5):
            with pytest.raises(GatewayError) as caught:
                await pol.inbound(context(chat_body(max_tokens=80)))
            assert set(caught.value.headers) == {"x-retry-in"}
        assert await used(svc, pol) == before

    run(scenario())


def test_quota_is_403_until_the_calendar_period_resets_in_utc():
    async def scenario():
        clock = Clock(dt.datetime(2025, 3, 4, 23, 59, 30, tzinfo=dt.timezone.utc).timestamp())
        svc = services(clock)
        pol = policy(svc, **{"token-quota": 500, "token-quota-period": "Daily",
                             "remaining-quota-tokens-header-name": "x-quota-left",
                             "remaining-quota-tokens-variable-name": "quota_left"})
        ctx = context(chat_body(max_tokens=400))
        await pol.inbound(ctx)
        await answer(ctx, Usage(20, 400))
        assert headers(ctx)["x-quota-left"] == "80" and ctx.variables["quota_left"] == 80
        with pytest.raises(GatewayError) as caught:
            await pol.inbound(context(chat_body(max_tokens=400)))
        assert caught.value.status == 403 and caught.value.headers == {"Retry-After": "30"}
        assert caught.value.message == "Token quota is exceeded. Quota will be replenished in 00:00:30."
        clock.now += 31  # past midnight UTC
        await pol.inbound(context(chat_body(max_tokens=400)))

    run(scenario())


def test_spent_quota_wins_over_the_minute_and_a_refused_minute_gives_the_quota_back():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 100, "token-quota": 1000, "token-quota-period": "Hourly"})
        await pol.inbound(context(chat_body(max_tokens=80)))
        quota_before = await used(svc, pol, "quota")
        with pytest.raises(GatewayError) as caught:
            await pol.inbound(context(chat_body(max_tokens=80)))
        assert caught.value.status == 429
        assert await used(svc, pol, "quota") == quota_before  # refunded
        svc.clock.now += 60
        refusal, answered = None, 0
        for _ in range(100):  # use up the quota a minute at a time
            try:
                ctx = context(chat_body(max_tokens=80))
                await pol.inbound(ctx)
                await answer(ctx, Usage(15, 80))
                answered += 1
            except GatewayError as error:
                refusal = error
                if error.status == 403:
                    break
                svc.clock.now += 60
        assert refusal.status == 403 and "replenished in" in refusal.message
        spent = await used(svc, pol, "quota")
        reservation = quota_before  # the first request was never answered: its reservation stands
        assert spent == reservation + 95 * answered and spent + reservation > 1000  # the next does not fit
        svc.clock.now += 60  # the minute has room again, the quota still does not
        with pytest.raises(GatewayError) as caught:
            await pol.inbound(context(chat_body(max_tokens=80)))
        assert caught.value.status == 403

    run(scenario())


def test_estimate_false_admits_while_there_is_room_then_blocks_after_an_overshoot():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 100, "estimate-prompt-tokens": False,
                             "tokens-consumed-variable-name": "consumed"})
        ctx = context(chat_body(max_tokens=5000))  # no estimate: max_tokens does not matter
        await pol.inbound(ctx)
        assert ctx.variables["consumed"] == 0  # APIM: zero until the answer without an estimate
        await answer(ctx, Usage(30, 60))
        assert await used(svc, pol) == 90 and ctx.variables["consumed"] == 90
        ctx = context(chat_body(max_tokens=5000))
        await pol.inbound(ctx)  # 10 tokens of room: admitted, and overshoots
        await answer(ctx, Usage(30, 200))
        assert await used(svc, pol) == 320
        with pytest.raises(GatewayError) as caught:
            await pol.inbound(context(chat_body()))
        assert caught.value.status == 429
        svc.clock.now += 60
        await pol.inbound(context(chat_body()))

    run(scenario())


def test_counter_keys_are_independent_and_instances_keep_their_own_counters():
    async def scenario():
        svc = services()
        wide = policy(svc, **{"tokens-per-minute": 10_000})
        narrow = policy(svc, **{"tokens-per-minute": 150})
        for tenant in ("tenant-a", "tenant-b"):
            ctx = context(chat_body(max_tokens=100), tenant=tenant)
            await wide.inbound(ctx)
            await narrow.inbound(ctx)
        with pytest.raises(GatewayError):
            await narrow.inbound(context(chat_body(max_tokens=100), tenant="tenant-a"))
        assert await used(svc, wide, tenant="tenant-a") == await used(svc, narrow, tenant="tenant-b")
        assert wide.scope != narrow.scope

    run(scenario())


def test_backend_errors_and_cache_hits_are_not_charged():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1000})
        for status, source in ((429, "backend"), (500, "backend"), (200, "cache")):
            ctx = context(chat_body(max_tokens=100))
            await pol.inbound(ctx)
            await answer(ctx, Usage(10, 5) if source == "cache" else None, status=status, source=source)
        assert await used(svc, pol) == 0
        ctx = context(chat_body(max_tokens=100))
        await pol.inbound(ctx)
        ctx.response = GatewayError(502, "Backend unavailable").response()  # failed after admission
        for hook in ctx.on_complete:
            await hook(ctx)
        assert await used(svc, pol) == 0

    run(scenario())


def test_other_operations_are_not_limited():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1})
        for ctx in (context(None, "models", method="GET"), context({"jsonrpc": "2.0"}, "mcp")):
            await pol.inbound(ctx)
            assert not ctx.on_complete

    run(scenario())


def test_embeddings_reserve_their_input_only():
    async def scenario():
        svc = services()
        pol = policy(svc, **{"tokens-per-minute": 1000})
        body = {"input": ["first text to embed", "second one"]}
        ctx = context(body, "embeddings", deployment="text-embedding-3-small")
        await pol.inbound(ctx)
        expected = sum(count_text(t, "text-embedding-3-small") for t in body["input"])
        assert await used(svc, pol) == expected

    run(scenario())


def test_timespan_format():
    assert timespan(30) == "00:00:30" and timespan(3661.2) == "01:01:02" and timespan(90000) == "1.01:00:00"
