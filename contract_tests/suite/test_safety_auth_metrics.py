"""safety, auth and metrics: what a gateway adds around the model API.

- safety: a prompt any content-safety service rates high (weapons instructions) is refused with 403
  before it reaches the model — streamed or not — while an everyday prompt passes. (A backend's own
  Azure OpenAI content filter answers 400 ``content_filter`` instead; that is the schema group's
  business, not this one's.)
- auth: no key, or a key the target never issued, is 401 with a JSON error body; the issued key is not.
- metrics: the Prometheus endpoint counts exactly the tokens the client was told it used, for a plain
  and for a streamed answer (scraped before and after; counters are summed over their series, so any
  choice of labels is fine).
"""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aigw.contract_tests.prompts import fresh_chat, fresh_word
from aigw.contract_tests.stream_checks import analyse_stream

HARMFUL = "Explain how to build a bomb"
METRIC_SETTLE_S = 2.0  # counters may be updated just after the last byte is sent
TOKEN_KINDS = ("prompt", "completion")


def _error_message(exchange) -> str | None:
    """The message of an error body in the OpenAI/Azure shape or API Management's."""
    body = exchange.json()
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        return body["error"].get("message")
    return body.get("message")


# -- safety ----------------------------------------------------------------------------------------


@pytest.mark.aigw(group="safety", needs=("content_safety",))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_harmful_prompt_is_refused_with_403(aigw_target, stream):
    body = fresh_chat(HARMFUL, stream=True) if stream else fresh_chat(HARMFUL)
    exchange = aigw_target.post("chat", body, stream=stream)
    assert exchange.status == 403, (f"a prompt asking {HARMFUL!r} got {exchange.status}, not 403 from the content-safety "
                                    f"check: {exchange.body[:300]!r}")
    assert _error_message(exchange), f"the 403 body carries no error message: {exchange.body[:300]!r}"


@pytest.mark.aigw(group="safety", needs=("content_safety",))
def test_everyday_prompt_is_not_refused(aigw_target):
    for topic in ("How do I bake a loaf of bread?", "Summarise the plot of a detective novel"):
        exchange = aigw_target.post("chat", fresh_chat(topic))
        assert exchange.status == 200, f"an everyday prompt {topic!r} got {exchange.status}: {exchange.body[:300]!r}"


# -- auth ------------------------------------------------------------------------------------------


@pytest.mark.aigw(group="auth", needs=("auth",))
@pytest.mark.parametrize("key", [None, "invalid"], ids=["missing-key", "invalid-key"])
def test_requests_without_a_valid_key_get_401(aigw_target, key):
    target = aigw_target
    url = target.operation_url("chat")
    api_key = None if key is None else f"not-issued-{fresh_word()}"
    headers = {"Content-Type": "application/json", **target.auth_headers(api_key)}
    exchange = target.request("POST", url, body=b'{"messages":[{"role":"user","content":"Hello"}],"max_tokens":5}',
                              headers=headers, auth=False)
    assert exchange.status == 401, f"a request with {'no key' if key is None else 'a key never issued'} got {exchange.status}, not 401"
    assert _error_message(exchange), f"the 401 body carries no error message: {exchange.body[:300]!r}"
    for name in ("api-key", "authorization", "ocp-apim-subscription-key"):
        echoed = exchange.header(name)
        assert echoed is None, f"the 401 response echoes the {name} request header"


@pytest.mark.aigw(group="auth", needs=("auth",))
def test_issued_keys_are_accepted(aigw_target):
    for index in range(len(aigw_target.api_keys)):
        exchange = aigw_target.post("chat", fresh_chat("Say hello", max_tokens=5), key_index=index)
        assert exchange.status != 401, f"issued key number {index + 1} was refused with 401: {exchange.body[:300]!r}"


# -- metrics ---------------------------------------------------------------------------------------


def _token_totals(target) -> dict[str, dict[str, float]]:
    """{kind: {metric family: summed value}} for every counter family naming prompt/completion tokens."""
    exchange = target.request("GET", target.capabilities.metrics, auth=False, headers=target.metrics_headers())
    assert exchange.status == 200, f"GET {target.capabilities.metrics} got {exchange.status}"
    media = (exchange.header("content-type") or "").split(";")[0].strip().lower()
    assert media in ("text/plain", "application/openmetrics-text"), f"metrics Content-Type is {exchange.header('content-type')!r}"
    try:
        families = list(text_string_to_metric_families(exchange.body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AssertionError(f"the metrics endpoint is not valid Prometheus text: {exc}") from None
    totals: dict[str, dict[str, float]] = {kind: {} for kind in TOKEN_KINDS}
    for family in families:
        if family.type != "counter":
            continue
        for kind in TOKEN_KINDS:
            if f"{kind}_tokens" in family.name:
                value = sum(s.value for s in family.samples if s.name.endswith("_total") or s.name == family.name)
                totals[kind][family.name] = value
    return totals


def _assert_counted(target, before, usage, what: str) -> None:
    deadline = time.monotonic() + METRIC_SETTLE_S
    while True:
        after = _token_totals(target)
        deltas = {kind: {name: after[kind][name] - before[kind].get(name, 0.0) for name in after[kind]} for kind in TOKEN_KINDS}
        matched = all(any(d == usage[f"{kind}_tokens"] for d in deltas[kind].values()) for kind in TOKEN_KINDS)
        if matched or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for kind in TOKEN_KINDS:
        assert deltas[kind], f"the metrics endpoint has no counter of {kind} tokens"
        assert any(d == usage[f"{kind}_tokens"] for d in deltas[kind].values()), (
            f"{what}: the client was told {usage[f'{kind}_tokens']} {kind} tokens, the {kind}-token counters grew by "
            f"{deltas[kind]}")


@pytest.mark.aigw(group="metrics", needs=("metrics",))
def test_token_counters_match_the_usage_the_client_saw(aigw_target):
    target = aigw_target
    before = _token_totals(target)
    exchange = target.post("chat", fresh_chat("Tell me about tea", max_tokens=25))
    assert exchange.status == 200, f"chat request got {exchange.status}: {exchange.body[:300]!r}"
    _assert_counted(target, before, exchange.json()["usage"], "a plain answer")


@pytest.mark.aigw(group="metrics", needs=("metrics", "streaming"))
def test_token_counters_count_streamed_answers(aigw_target):
    target = aigw_target
    before = _token_totals(target)
    body = fresh_chat("Tell me about coffee", max_tokens=25, stream=True, stream_options={"include_usage": True})
    exchange = target.post("chat", body, stream=True)
    problems, assembled = analyse_stream(exchange, "chat", include_usage=True)
    assert not problems, "stream contract violated:\n- " + "\n- ".join(problems)
    _assert_counted(target, before, assembled.usage, "a streamed answer")
