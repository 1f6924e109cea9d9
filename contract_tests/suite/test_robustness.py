"""robustness: bad input gets a clear 4xx with an error body — never a 5xx, a hang or a dropped connection.

Malformed JSON, JSON that is not an object, random bytes (Hypothesis, seeded by ``--seed``), an empty
body, invalid UTF-8, absurd nesting, a body over any sane limit (413), wrong content types (415, or 400),
unknown paths (404) and methods (405 with ``Allow``, or 404), a missing or unknown ``api-version`` on
Azure paths. Sent with the unthrottled key (``--fuzz-key``) when one is given, so throttling cannot
hide the answer.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from aigw.contract_tests.checks import check_error_body
from aigw.contract_tests.target import Exchange, Target

pytestmark = pytest.mark.aigw(group="robustness")
HUGE_BYTES = 12 * 1024 * 1024  # above any model API's documented request limit (Azure OpenAI: a few MiB)
CHAT = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}


def _operations(target: Target) -> list[str]:
    operations = ["chat"]
    if target.capabilities.embeddings:
        operations.append("embeddings")
    if target.capabilities.completions and target.completions_deployment:
        operations.append("completions")
    return operations


def _send(target: Target, operation: str, body: bytes | None, content_type: str | None = "application/json") -> Exchange:
    url = target.operation_url(operation)
    headers = {"Content-Type": content_type} if content_type else {}
    return target.request("POST", url, body=body, headers=headers, api_key=target.fuzz_key or target.main_key)


def assert_clear_4xx(exchange: Exchange, allowed: tuple[int, ...] | None = None) -> None:
    what = exchange.summary()
    assert exchange.status < 500, f"{what}: a server error for bad input (expected a 4xx)\n{exchange.body[:300]!r}"
    assert 400 <= exchange.status < 500, f"{what}: bad input was not rejected"
    if allowed:
        assert exchange.status in allowed, f"{what}: expected {' or '.join(map(str, allowed))}"
    problems = check_error_body(exchange.status, exchange.header("content-type"), exchange.body)
    assert not problems, f"{what}: " + "; ".join(problems)


@pytest.mark.parametrize("body", [b"{", b'{"messages": [', b"{'messages': []}", b'{"a":1,}', b"nul", b"\x00\x01"],
                         ids=["open-brace", "truncated", "single-quotes", "trailing-comma", "bare-word", "binary"])
def test_malformed_json_is_400(aigw_target: Target, body: bytes) -> None:
    for operation in _operations(aigw_target):
        assert_clear_4xx(_send(aigw_target, operation, body), (400,))


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_400(aigw_target: Target, body: bytes) -> None:
    for operation in _operations(aigw_target):
        assert_clear_4xx(_send(aigw_target, operation, body), (400,))


def test_empty_and_undecodable_bodies_are_400(aigw_target: Target) -> None:
    for operation in _operations(aigw_target):
        assert_clear_4xx(_send(aigw_target, operation, b""), (400,))
        assert_clear_4xx(_send(aigw_target, operation, b'{"input": "\xff\xfe"}'), (400,))


def test_absurd_nesting_is_4xx(aigw_target: Target) -> None:
    body = b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_clear_4xx(_send(aigw_target, "chat", body))


def test_random_bytes_are_rejected_cleanly(aigw_target: Target) -> None:
    """Property: whatever bytes arrive as a JSON body, the answer is a clear 4xx (bodies that happen to be
    valid requests are filtered out by requiring them not to parse as a JSON object)."""

    @settings(max_examples=aigw_target.max_examples, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @seed(aigw_target.seed)
    @given(st.one_of(st.binary(max_size=256), st.text(max_size=128).map(str.encode)))
    def property_(body: bytes) -> None:
        try:
            if isinstance(orjson.loads(body), dict):
                return
        except orjson.JSONDecodeError:
            pass
        assert_clear_4xx(_send(aigw_target, "chat", body), (400,))

    property_()


def test_huge_body_is_413(aigw_target: Target) -> None:
    filler = "x" * HUGE_BYTES
    body = orjson.dumps({"messages": [{"role": "user", "content": filler}], "max_tokens": 5})
    assert_clear_4xx(_send(aigw_target, "chat", body), (413,))


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(aigw_target: Target, content_type: str) -> None:
    assert_clear_4xx(_send(aigw_target, "chat", orjson.dumps(CHAT), content_type), (415, 400))


def test_unknown_paths_are_404(aigw_target: Target) -> None:
    base = "/openai/deployments" if aigw_target.paths == "azure" else "/v1"
    for path in ("/definitely-not-an-api", f"{base}/chat/completionz", "/openai/deployments/x/chat/completions/extra"):
        suffix = f"?api-version={aigw_target.api_version}" if path.startswith("/openai") else ""
        exchange = aigw_target.request("POST", path + suffix, body=orjson.dumps(CHAT), headers={"Content-Type": "application/json"},
                                       api_key=aigw_target.fuzz_key or aigw_target.main_key)
        assert_clear_4xx(exchange, (404,))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_unsupported_methods_are_405_or_404(aigw_target: Target, method: str) -> None:
    url = aigw_target.operation_url("chat")
    exchange = aigw_target.request(method, url, api_key=aigw_target.fuzz_key or aigw_target.main_key)
    assert_clear_4xx(exchange, (405, 404))
    if exchange.status == 405:
        assert exchange.header("allow"), f"{exchange.summary()}: a 405 must say what is allowed (Allow header)"


@pytest.mark.aigw(group="robustness", needs=("azure_paths",))
@pytest.mark.parametrize("query", ["", "?api-version=1999-01-01", "?api-version=not-a-version"], ids=["missing", "unknown", "garbage"])
def test_bad_api_version_is_4xx(aigw_target: Target, query: str) -> None:
    path = f"/openai/deployments/{aigw_target.deployment}/chat/completions{query}"
    exchange = aigw_target.request("POST", path, body=orjson.dumps(CHAT), headers={"Content-Type": "application/json"},
                                   api_key=aigw_target.fuzz_key or aigw_target.main_key)
    assert_clear_4xx(exchange, (400, 404))
