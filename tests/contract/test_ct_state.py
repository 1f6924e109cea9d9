"""The suite's state handling in isolation: settling a throttled target, the inconclusive verdict in every
report, and fitting generated valid requests into a deployment's model limits."""

from __future__ import annotations

import pytest

from aigw.contract_tests import state
from aigw.contract_tests.capabilities import load_capabilities
from aigw.contract_tests.reporting import Outcome, render_html, scorecard
from aigw.contract_tests.schema_engine import fit_positive_body, fit_to_model_limits
from aigw.contract_tests.target import Exchange


def exchange(status: int, **headers: str) -> Exchange:
    return Exchange("POST", "http://target/openai/deployments/gpt-4o/chat/completions", {"api-key": "k"}, b"{}", status,
                    headers, b'{"error": {"code": "429"}}', 0.01)


class ScriptedTarget:
    """Answers probes from a script; records the keys it was asked with."""

    def __init__(self, *answers: Exchange) -> None:
        self.answers, self.keys = list(answers), []

    def post(self, operation, body, api_key=None, timeout=60):
        self.keys.append(api_key)
        return self.answers.pop(0)


def test_retry_after_prefers_milliseconds():
    assert state.retry_after_s(exchange(429, **{"retry-after": "2", "retry-after-ms": "1500"})) == 1.5
    assert state.retry_after_s(exchange(503, **{"Retry-After": "7"})) == 7
    assert state.retry_after_s(exchange(503)) is None


def test_settle_waits_out_retry_after_then_reports_the_target_available():
    waits = []
    target = ScriptedTarget(exchange(429, **{"retry-after-ms": "50"}), exchange(200))
    assert state.settle(target, lambda s, why: waits.append((s, why)), 5, key="fuzz") is None
    assert waits == [(0.05, "target answered 429")] and target.keys == ["fuzz", "fuzz"]


def test_settle_gives_up_within_its_bound_and_returns_the_evidence():
    still = exchange(503, **{"retry-after": "30"})
    target = ScriptedTarget(still)
    waits = []
    assert state.settle(target, lambda s, why: waits.append(s), 5) is still
    assert waits == []  # a 30 s Retry-After does not fit a 5 s bound: not waited at all


def test_inconclusive_is_a_verdict_of_its_own_in_the_scorecard_and_html():
    outcomes = [Outcome("t::a", "streaming", "passed"), Outcome("t::b", "streaming", state.INCONCLUSIVE,
                                                                message="inconclusive: target still throttled/unavailable",
                                                                requests=["curl ..."], responses=["503 b'...'"]),
                Outcome("t::c", "auth", "passed"), Outcome("t::d", "mcp", "not_applicable", message="not applicable: x")]
    card = scorecard(outcomes, {"target": "http://t"})
    assert card["verdict"] == "inconclusive" and card["totals"] == {"passed": 2, "failed": 0, "inconclusive": 1,
                                                                    "not_applicable": 1}
    assert card["groups"]["streaming"]["status"] == "inconclusive"
    assert card["groups"]["streaming"]["inconclusive_checks"][0]["requests"] == ["curl ..."]
    html = render_html(card)
    assert "Inconclusive" in html and "inconclusive: target still throttled" in html and "curl ..." in html
    worse = scorecard([*outcomes, Outcome("t::e", "auth", "failed", message="401 missing")], {})
    assert worse["verdict"] == "violations" and worse["groups"]["auth"]["status"] == "failed"


@pytest.mark.parametrize(("body", "expected"), [
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2**31 - 1}, {"max_tokens": 16384}),
    ({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 50_000, "n": 128}, {"max_completion_tokens": 128}),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12}, {"max_tokens": 12}),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 3}, {"n": 3}),
])
def test_valid_chat_requests_are_fitted_into_the_model_limits(body, expected):
    capabilities = load_capabilities("gateway", overrides={"context_window": 128_000, "max_completion_tokens": 16_384})
    fitted = fit_to_model_limits("chat", dict(body), capabilities, "gpt-4o")
    assert {key: fitted[key] for key in expected} == expected


def test_the_prompt_leaves_what_is_left_of_the_context_window():
    capabilities = load_capabilities("gateway", overrides={"context_window": 8192, "max_completion_tokens": None})
    body = {"messages": [{"role": "user", "content": "word " * 6000}], "max_tokens": 8000}
    fitted = fit_to_model_limits("chat", body, capabilities, "gpt-4")
    assert 1000 < fitted["max_tokens"] < 8192 - 6000
    legacy = fit_to_model_limits("completions", {"prompt": "hello", "max_tokens": 4000, "best_of": 20},
                                 load_capabilities("backend"), "gpt-35-turbo-instruct")
    assert legacy["max_tokens"] * 20 <= 4097
    unreadable = fit_to_model_limits("chat", {"messages": [{"role": "user", "content": 10**30}], "max_tokens": 10**9},
                                     capabilities, "gpt-4")
    assert unreadable["max_tokens"] < 8192
    assert fit_to_model_limits("embeddings", {"input": "x" * 10}, capabilities, "text-embedding-3-small") == {"input": "x" * 10}


def test_valid_bodies_carry_only_valid_json_schemas():
    """The contract says a tool's parameters are "an object"; the API wants a JSON Schema there (a 400 otherwise)."""
    body = {"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": "object", "else": []}}},
                      {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "properties": {}}}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}}
    fitted = fit_positive_body("chat", body, load_capabilities("backend"), "gpt-4o")
    assert fitted["tools"][0]["function"]["parameters"] == {"type": "object"}
    assert fitted["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert fitted["response_format"]["json_schema"]["schema"] == {"type": "object"}
