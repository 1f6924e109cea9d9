"""The gateway's admin reset (``POST /_aigw/reset``): off unless configured, authenticated, and it really puts
throttled windows, open breakers and cached answers back to their start — on the embedded default (aigw.stack)."""

import httpx
import pytest

from aigw.gateway.backends import Breaker
from aigw.gateway.config import BreakerRule, GatewayConfig
from aigw.stack.plan import StackPlan
from aigw.stack.run import in_thread

TOKEN = "admin-token-for-the-reset-test"
CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
MOCK_ADMIN = {"authorization": "Bearer mock-admin"}


@pytest.fixture(scope="module")
def stack():
    with in_thread(StackPlan(latency="off", admin_token=TOKEN, log_level="error")) as endpoints:
        yield endpoints


def chat(stack, text: str, key: str | None = None, **extra) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}], "max_tokens": 5, **extra}
    return httpx.post(stack.gateway + CHAT, json=body, headers={"api-key": key or stack.keys[0]}, timeout=30)


def reset(stack, token: str | None = TOKEN, method: str = "POST", path: str = "/_aigw/reset") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, stack.gateway + path, headers=headers, timeout=30)


def test_the_reset_needs_its_token_and_post(stack):
    assert stack.reset_urls == [stack.gateway + "/_aigw/reset"] and stack.admin_token == TOKEN
    for token in (None, "wrong-token-of-some-length"):
        refused = reset(stack, token)
        assert refused.status_code == 401 and refused.json()["statusCode"] == 401
        assert "www-authenticate" in refused.headers
    assert reset(stack, method="GET").status_code == 405 and reset(stack, method="GET").headers["allow"] == "POST"
    assert reset(stack, path="/_aigw/other").status_code == 404
    done = reset(stack)
    assert done.status_code == 200 and done.json() == {"status": "reset"} and done.headers["apim-request-id"]


def test_a_spent_token_window_is_fresh_after_the_reset(stack):
    assert reset(stack).status_code == 200
    assert chat(stack, "Say hi.").status_code == 200  # the window now holds this request's usage
    whole_limit = {"max_tokens": 10_001, "n": 2}  # reserves more than the 20,000-token window: only an empty one takes it
    refused = chat(stack, "Count to three.", **whole_limit)
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert reset(stack).status_code == 200
    assert chat(stack, "Count to three.", **whole_limit).status_code == 200


def test_open_breakers_are_closed_by_the_reset(stack):
    assert reset(stack).status_code == 200
    for url in stack.mocks.values():
        httpx.post(url + "/_mock/outage/gpt-4o", json={"down": True}, headers=MOCK_ADMIN).raise_for_status()
    try:
        for i in range(60):  # until every breaker has seen enough failures to trip
            answer = chat(stack, f"Name a river {i}.", key=stack.fuzz_key)
            if "circuit breakers open" in answer.text:
                break
        assert answer.status_code == 503 and "circuit breakers open" in answer.text, answer.text
    finally:
        for url in stack.mocks.values():
            httpx.post(url + "/_mock/outage/gpt-4o", json={"down": False}, headers=MOCK_ADMIN).raise_for_status()
    assert chat(stack, "Name a lake.", key=stack.fuzz_key).status_code == 503  # healthy again, but the breakers are open
    assert reset(stack).status_code == 200
    assert chat(stack, "Name a lake.", key=stack.fuzz_key).status_code == 200


def test_cached_answers_are_forgotten_by_the_reset(stack):
    assert reset(stack).status_code == 200
    prompt = "What is the capital of Portugal? (reset test)"
    assert chat(stack, prompt).headers["x-aigw-cache"] == "miss"
    assert chat(stack, prompt).headers["x-aigw-cache"] == "hit"
    assert reset(stack).status_code == 200
    assert chat(stack, prompt).headers["x-aigw-cache"] == "miss"


def test_the_admin_api_is_off_unless_configured():
    with in_thread(StackPlan(latency="off", log_level="error")) as endpoints:
        assert endpoints.reset_urls == [] and endpoints.admin_token is None
        off = httpx.post(endpoints.gateway + "/_aigw/reset", headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert off.status_code == 404


def test_admin_config_is_validated():
    base = {"backends": [{"id": "b", "url": "http://127.0.0.1:1"}], "apis": [{"id": "a", "path": "/openai", "backend": "b"}]}
    assert GatewayConfig.model_validate({**base, "admin": {"token": ""}}).admin.enabled is False
    with pytest.raises(ValueError, match="at least 16 characters"):
        GatewayConfig.model_validate({**base, "admin": {"token": "short"}})
    with pytest.raises(ValueError, match="admin API"):
        GatewayConfig.model_validate({**base, "apis": [{"id": "a", "path": "/_aigw", "backend": "b"}]})


def test_a_day_long_retry_after_trips_a_breaker_for_a_minute_at_most():
    """Azure's 429 for a request that can never fit says retry-after: 86400 — about the request, not the backend."""
    rule = BreakerRule.model_validate({"failureCondition": {"count": 1, "interval": "PT10S"}, "tripDuration": "PT10S",
                                       "acceptRetryAfter": True})
    breaker = Breaker(rule)
    assert breaker.record(1000.0, True, 86_400.0)
    assert breaker.open_until == 1060.0
    other = Breaker(rule)
    assert other.record(1000.0, True, 7.0) and other.open_until == 1007.0  # an ordinary Retry-After is taken as is
