"""Backends, pools, circuit breakers and retries, proven over HTTP against several real mocks.

Every backend is its own mock server; faults and outages are set through the mock's admin API and
``/_mock/counters`` says which backend really served what. Clients are the official ``openai`` SDK
(its own retries off, so every error the gateway lets through would show) or plain httpx.
"""

import time

import httpx
import openai
import orjson
import pytest

from conftest import running_mock
from gw_proxy_support import (CHAT_PATH, HELLO, backend, breaker, closed_port_url, config, outage, post,
                              requests_served, reset, running_gateway, sdk, set_faults, sse_events)

@pytest.fixture(scope="module")
def mocks():
    with running_mock() as (a, _), running_mock() as (b, _), running_mock() as (c, _):
        yield a, b, c


@pytest.fixture
def clean(mocks):
    reset(*mocks)
    yield mocks
    reset(*mocks)


def chat(client: openai.AzureOpenAI, text: str = "Which regions does the gateway use?", **extra):
    extra.setdefault("max_tokens", 8)
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **extra)


def test_outage_behind_a_pool_is_invisible_to_clients(clean):
    a, b, c = clean
    cfg = config([backend(n, u, circuit_breaker=breaker(count=1)) for n, u in zip("abc", clean)], "pool",
                 pool=[{"id": "a"}, {"id": "b"}, {"id": "c"}], retry={"condition": "429 or 5xx", "count": 2})
    outage(a)
    with running_gateway(cfg) as (base, app, _):
        client = sdk(base)
        answers = [chat(client, f"Question number {i}") for i in range(30)]  # any error would raise
        health = app.services.backends.health()
    assert all(answer.choices[0].message.content for answer in answers)
    assert requests_served(a) == 1  # the first failure tripped its breaker; nothing was sent there after
    assert requests_served(b) + requests_served(c) == 30
    assert health["a"]["open"] and health["a"]["trips"] == 1
    assert not health["b"]["open"] and not health["c"]["open"]


def test_lower_priority_serves_only_while_the_higher_group_is_open(clean):
    a, b, _ = clean
    cfg = config([backend("primary", a, circuit_breaker=breaker(count=1, trip="PT1S")),
                  backend("standby", b, circuit_breaker=breaker(count=1))], "pool",
                 pool=[{"id": "primary", "priority": 1}, {"id": "standby", "priority": 2}],
                 retry={"condition": "5xx", "count": 1})
    with running_gateway(cfg) as (base, _, _):
        client = sdk(base)
        for i in range(10):
            chat(client, f"before {i}")
        assert (requests_served(a), requests_served(b)) == (10, 0)
        outage(a)
        for i in range(10):
            chat(client, f"during {i}")  # the first one fails over on retry, the rest skip the open primary
        assert (requests_served(a), requests_served(b)) == (11, 10)
        outage(a, down=False)
        time.sleep(1.1)  # tripDuration PT1S: the primary is closed again and takes all traffic back
        for i in range(5):
            chat(client, f"after {i}")
    assert (requests_served(a), requests_served(b)) == (16, 10)


def test_weighted_round_robin_spreads_by_weight(clean):
    a, b, c = clean
    cfg = config([backend("a", a), backend("b", b), backend("c", c)], "pool",
                 pool=[{"id": "a", "weight": 3}, {"id": "b", "weight": 1}, {"id": "c", "weight": 1}])
    with running_gateway(cfg) as (base, _, _):
        client = sdk(base)
        for i in range(50):
            chat(client, f"spread {i}")
    assert (requests_served(a), requests_served(b), requests_served(c)) == (30, 10, 10)


def test_count_breaker_trips_then_503_with_retry_after_then_recovers(clean):
    a = clean[0]
    cfg = config([backend("only", a, circuit_breaker=breaker(count=2, trip="PT1S"))], "only")
    set_faults(a, error_rates={500: 1.0})
    with running_gateway(cfg) as (base, app, _):
        assert [post(base, HELLO).status_code for _ in range(2)] == [500, 500]  # the backend's own answers
        refused = post(base, HELLO)
        assert refused.status_code == 503
        assert refused.json()["statusCode"] == 503 and "circuit breakers open" in refused.json()["message"]
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["apim-request-id"]
        assert requests_served(a) == 2  # the open breaker kept the third request off the backend
        set_faults(a)
        time.sleep(1.1)
        assert post(base, HELLO).status_code == 200
        assert app.services.backends.health()["only"]["trips"] == 1


def test_percentage_breaker_trips_when_failures_reach_the_share(clean):
    a = clean[0]
    cfg = config([backend("only", a, circuit_breaker=breaker(percentage=50, trip="PT1S", minimum=6))], "only")
    with running_gateway(cfg) as (base, app, _):
        for _ in range(3):
            assert post(base, HELLO).status_code == 200
        set_faults(a, error_rates={503: 1.0})
        statuses = []
        for _ in range(3):  # failures 1/4, 2/5, then 3/6 = 50 %: the third trips it
            statuses.append(post(base, HELLO).status_code)
            statuses.append(app.services.backends.health()["only"]["open"])
        assert statuses == [503, False, 503, False, 503, True]
        assert post(base, HELLO).status_code == 503 and requests_served(a) == 6
        set_faults(a)
        time.sleep(1.1)
        assert post(base, HELLO).status_code == 200


def test_accept_retry_after_uses_the_backends_retry_after_not_trip_duration(clean):
    a, b, _ = clean
    cfg = config([backend("honours", a, circuit_breaker=breaker(count=1, trip="PT30S", accept_retry_after=True)),
                  backend("ignores", b, circuit_breaker=breaker(count=1, trip="PT30S"))], "honours")
    second = {**cfg.model_dump(by_alias=True), "apis": [{"id": "aoai", "path": "/openai", "backend": "honours"},
                                                        {"id": "other", "path": "/other", "backend": "ignores"}]}
    cfg = type(cfg).model_validate(second)
    set_faults(a, error_rates={429: 1.0})  # the mock's 429 carries Retry-After: 1
    set_faults(b, error_rates={429: 1.0})
    other_path = CHAT_PATH.replace("/openai", "/other", 1)
    with running_gateway(cfg) as (base, app, _):
        assert post(base, HELLO).status_code == 429
        assert post(base, HELLO, path=other_path).status_code == 429
        both_open = app.services.backends.health()
        set_faults(a)
        set_faults(b)
        time.sleep(1.1)
        assert post(base, HELLO).status_code == 200  # open for Retry-After (1 s), not tripDuration (30 s)
        still_open = post(base, HELLO, path=other_path)
    assert both_open["honours"]["open"] and both_open["ignores"]["open"]
    # tripped on a 429: busy, not broken — the gateway says 429 (not 503) with the breaker's own wait
    assert still_open.status_code == 429 and int(still_open.headers["retry-after"]) > 25


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retry_resends_the_buffered_body_to_the_next_backend(clean, status):
    a, b, _ = clean
    cfg = config([backend("a", a), backend("b", b)], "pool", pool=[{"id": "a"}, {"id": "b"}],
                 retry={"condition": "429 or 5xx", "count": 1})
    set_faults(a, error_rates={status: 1.0})
    body = {"messages": [{"role": "user", "content": f"A body worth re-sending after a {status}."}], "max_tokens": 16}
    with running_gateway(cfg) as (base, _, _):
        through = post(base, body)
    direct = httpx.post(f"{b}{CHAT_PATH}", json=body, headers={"api-key": "x"}).json()
    assert through.status_code == 200
    answer = through.json()
    # Same prompt tokens and the same seeded answer as sending the body straight to b: it arrived intact.
    assert answer["usage"] == direct["usage"]
    assert answer["choices"][0]["message"]["content"] == direct["choices"][0]["message"]["content"]
    assert requests_served(a) == 1 and requests_served(b) == 2


def test_connect_errors_fail_over(clean):
    a = clean[0]
    cfg = config([backend("dead", closed_port_url(), circuit_breaker=breaker(count=3)), backend("live", a)], "pool",
                 pool=[{"id": "dead"}, {"id": "live"}], retry={"count": 1})
    with running_gateway(cfg) as (base, app, _):
        client = sdk(base)
        for i in range(6):
            chat(client, f"connect {i}")
        health = app.services.backends.health()
    assert health["dead"]["failures"] == 3 and health["dead"]["open"]  # tried on 3 of the first 5, then skipped
    assert requests_served(a) == 6


def test_timeouts_fail_over_or_end_in_504(clean):
    a, b, _ = clean
    cfg = config([backend("slow", a, timeout=0.3), backend("fast", b, timeout=0.3)], "pool",
                 pool=[{"id": "slow"}, {"id": "fast"}], retry={"count": 1})
    set_faults(a, added_latency_ms=2000)
    with running_gateway(cfg) as (base, _, _):
        started = time.monotonic()
        assert post(base, HELLO).status_code == 200
        assert time.monotonic() - started < 1.5
    set_faults(b, hang=True)
    with running_gateway(cfg) as (base, _, _):
        started = time.monotonic()
        timed_out = post(base, HELLO)
        elapsed = time.monotonic() - started
    assert timed_out.status_code == 504
    assert timed_out.json()["statusCode"] == 504 and "within 0.3 s" in timed_out.json()["message"]
    assert elapsed < 1.5  # two attempts of 0.3 s, not the mock's hour-long hang


def test_stream_that_fails_before_its_first_byte_fails_over(clean):
    a, b, _ = clean
    cfg = config([backend("a", a), backend("b", b)], "pool", pool=[{"id": "a"}, {"id": "b"}], retry={"count": 1})
    set_faults(a, reset_before_first_byte=1.0)
    with running_gateway(cfg) as (base, _, _):
        client = sdk(base)
        for i in range(4):
            chunks = list(chat(client, f"stream {i}", stream=True, stream_options={"include_usage": True}))
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert requests_served(a) == 2 and requests_served(b) == 4  # round-robin sent a the first and third


def test_stream_that_fails_after_bytes_ends_with_an_error_event(clean):
    a = clean[0]
    cfg = config([backend("a", a)], "a", retry={"count": 2})
    set_faults(a, reset_mid_stream=1.0)
    body = {**HELLO, "max_tokens": 40, "stream": True}
    with running_gateway(cfg) as (base, _, _):
        raw = post(base, body)
        with pytest.raises(openai.APIError, match="incomplete"):
            list(chat(sdk(base), stream=True, max_tokens=40))
    assert raw.status_code == 200 and raw.headers["apim-request-id"]
    events = sse_events(raw.content)
    assert any(name == "message" and b'"content":"' in data for name, data in events[:-1])  # content got through
    name, data = events[-1]
    assert name == "error" and orjson.loads(data)["error"]["code"] == "stream_interrupted"
    assert b"[DONE]" not in raw.content
    assert requests_served(a) == 2  # no retry once bytes reached the client


def test_forward_request_timeout_caps_the_backend_timeout(clean):
    a = clean[0]
    cfg = config([backend("a", a, timeout=30)], "a")
    cfg = type(cfg).model_validate({**cfg.model_dump(by_alias=True), "apis": [
        {"id": "aoai", "path": "/openai", "backend": "a", "policies": {"backend": [{"forward-request": {"timeout": 0.3}}]}}]})
    set_faults(a, hang=True)
    with running_gateway(cfg) as (base, _, _):
        started = time.monotonic()
        response = post(base, HELLO)
    assert response.status_code == 504 and time.monotonic() - started < 2
