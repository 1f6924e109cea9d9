"""Every deliberately broken target, and how to run one.

Each ``Defect`` breaks ONE contract rule of the real mock or the real gateway and names the group in which
``aigw check`` must report it and the check (a substring of the failing test's id) that should catch it.
Gateway defects keep the capabilities the example config *declares*: the target claims what it no longer
delivers. ``start(defect)`` runs the broken stack (``aigw.stack`` in a background thread, on free ports)
and yields the ``aigw check`` flags that point at it; ``python -m broken`` (from tests/contract) checks one
defect.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson

from aigw.protocol.serving import start_in_thread
from broken.model_api import (ChunkIdsChange, ContentTypeIgnored, JsonModeFenced, OnlyOneChoice, SecondDeltaDropped,
                              SpuriousThrottling, ToolArgumentsNotJson, CompletionOverMaxTokens, CreatedInMilliseconds, DoneWithoutDataField,
                              ErrorBodyNotOpenAIShape, JsonServedAsTextPlain, MethodNotAllowedWithoutAllow, NoRequestId,
                              NoRoleInFirstDelta, RemainingTokensGrow, RetryAfterMissing, RetryAfterTooShort,
                              ServerErrorOnBadJson, StreamedToolArgumentsNotJson, StreamWithoutDone, UnknownFieldsIgnored,
                              UsageChunkDropped, UsageChunkUnasked, UsageTotalOffByOne)
from broken.services import (AgentCardPointsAtBackend, ExactMatchCache, AllDownWithoutRetryAfter, CacheWithoutVaryBy,
                             ContentSafetyNotEnforced, JsonRpcErrorIdNotEchoed, McpSessionNotRequired,
                             ForwardsQueryKey, MetricsDoublePromptTokens, MissingKeyAccepted, NoRetryPolicy,
                             NormalisesAfterRouting, TokenLimitNotEnforced)
from broken.wire import BrokenApp, Defect

ADMIN_TOKEN = "broken-target-admin-token"
# A defect of the mock is checked on the Azure chat operation only: one operation keeps each run short.
ONE_OPERATION = ("--capability", "v1_paths=false", "--capability", "seed_paths=false",
                 "--capability", "completions=false", "--capability", "embeddings=false")

DEFECTS: tuple[Defect, ...] = (
    UsageTotalOffByOne("usage-total-off-by-one", "schema", "usage_arithmetic]", "!= prompt_tokens"),
    CompletionOverMaxTokens("completion-over-max-tokens", "schema", "max_tokens_respected]", "> max_tokens"),
    CreatedInMilliseconds("created-in-milliseconds", "schema", "created_near_now]", "from now"),
    JsonServedAsTextPlain("json-served-as-text-plain", "schema", "content_type_conformance]", "text/plain"),
    NoRequestId("no-apim-request-id", "schema", "request_id_header]", "apim-request-id"),
    UnknownFieldsIgnored("unknown-fields-accepted", "schema", "negative_data_rejection]", "unexpected properties"),
    ToolArgumentsNotJson("tool-arguments-not-json", "schema", "tool_call_arguments]", "not valid JSON"),
    JsonModeFenced("json-mode-fenced", "schema", "json_mode_content]", "not JSON"),
    OnlyOneChoice("n-ignored", "schema", "n_choices]", "choices for n="),
    StreamWithoutDone("stream-without-done", "streaming", "test_chat_stream_contract", "no final `data: [DONE]`"),
    DoneWithoutDataField("done-without-data-field", "streaming", "test_chat_stream_contract", "no final `data: [DONE]`"),
    ChunkIdsChange("chunk-ids-change", "streaming", "test_chat_stream_contract", "different ids"),
    NoRoleInFirstDelta("no-role-in-first-delta", "streaming", "test_chat_stream_contract", "role 'assistant'"),
    UsageChunkDropped("usage-chunk-dropped", "streaming", "test_tool_call_stream_assembles_valid_arguments", "exactly one usage chunk"),
    UsageChunkUnasked("usage-chunk-unasked", "streaming", "test_stream_without_usage_request_carries_no_usage", "did not ask for usage"),
    SecondDeltaDropped("second-delta-dropped", "streaming", "test_chat_stream_contract", "concatenated deltas differ"),
    StreamedToolArgumentsNotJson("streamed-tool-arguments-not-json", "streaming", "test_tool_call_stream_assembles_valid_arguments",
                                 "do not concatenate to JSON"),
    RetryAfterMissing("429-without-retry-after", "rate_limits", "test_token_limit_state_machine_on_virtual_clock", "must carry Retry-After"),
    RetryAfterTooShort("retry-after-too-short", "rate_limits", "test_token_limit_state_machine_on_virtual_clock", "not honest"),
    RemainingTokensGrow("remaining-tokens-grow", "rate_limits", "test_token_limit_state_machine_on_virtual_clock", "remaining"),
    SpuriousThrottling("spurious-429", "rate_limits", "test_token_limit_state_machine_on_virtual_clock",
                       "429 before the declared limit"),
    ServerErrorOnBadJson("500-on-malformed-json", "robustness", "test_malformed_json_is_400", "server error"),
    ErrorBodyNotOpenAIShape("error-body-not-openai-shape", "robustness", "test_malformed_json_is_400", "error.json"),
    MethodNotAllowedWithoutAllow("405-without-allow", "robustness", "test_unsupported_methods_are_405_or_404", "Allow"),
    ContentTypeIgnored("content-type-ignored", "robustness", "test_wrong_content_type_is_415", "bad input was not rejected"),
    McpSessionNotRequired("mcp-session-not-required", "mcp", "test_mcp_session_rules", "without Mcp-Session-Id"),
    JsonRpcErrorIdNotEchoed("jsonrpc-error-id-not-echoed", "mcp", "test_mcp_jsonrpc_errors_echo_the_id", "no JSON-RPC response with id"),
    AgentCardPointsAtBackend("agent-card-points-at-backend", "a2a", "test_agent_card_shape_and_urls", "does not point at the target"),
    CacheWithoutVaryBy("cache-shared-across-tenants", "caching", "test_tenants_never_share_cached_answers", "tenant B got tenant A",
                       base="gateway"),
    ExactMatchCache("cache-exact-match-only", "caching", "test_repeat_and_paraphrase_hit", "paraphrase", base="gateway"),
    NoRetryPolicy("no-failover", "failover", "test_outage_of_some_backends_is_invisible", "backends down", base="gateway"),
    AllDownWithoutRetryAfter("all-down-without-retry-after", "failover", "test_all_backends_down_then_recovery", "without Retry-After",
                             base="gateway"),
    MissingKeyAccepted("missing-key-accepted", "auth", "test_requests_without_a_valid_key_get_401[missing-key]", "not 401",
                       base="gateway"),
    ContentSafetyNotEnforced("content-safety-not-enforced", "safety", "test_harmful_prompt_is_refused_with_403", "not 403",
                             base="gateway"),
    TokenLimitNotEnforced("token-limit-not-enforced", "rate_limits", "test_token_limit_per_key_in_real_time", "not enforced",
                          base="gateway"),
    MetricsDoublePromptTokens("metrics-double-prompt-tokens", "metrics", "test_token_counters_match_the_usage_the_client_saw",
                              "prompt-token counters grew", base="gateway"),
    NormalisesAfterRouting("normalises-after-routing", "security", "test_path_variants_never_reach_unconfigured_upstream_paths",
                           "reached the backend as", base="gateway"),
    ForwardsQueryKey("forwards-query-key", "security", "test_keys_in_the_query_never_travel_upstream", "travelled upstream",
                     base="gateway"),
)


# -- running a broken stack -----------------------------------------------------------------------------


@dataclass
class Running:
    url: str
    flags: list[str]


def _mock_app():
    """The default mock, latency off, alone (a defect of the mock is checked with the backend profile)."""
    from aigw.mocks.app import MockApp
    from aigw.stack.configs import mock_config

    return MockApp(mock_config("eastus", None, "off"))


def gateway_flags(endpoints) -> list[str]:
    """What the embedded default declares (``aigw check`` without --target), for the same stack."""
    flags = ["--profile", "gateway", "--fuzz-key", endpoints.fuzz_key]
    for key in endpoints.keys:
        flags += ["--api-key", key]
    for url in endpoints.mocks.values():
        flags += ["--mock-admin", url]
    for url in endpoints.reset_urls:
        flags += ["--reset-url", url]
    if endpoints.reset_urls:
        flags += ["--reset-token", endpoints.admin_token]
    for name, value in endpoints.declared_capabilities().items():
        flags += ["--capability", f"{name}={'null' if value is None else orjson.dumps(value).decode()}"]
    return flags + (["--metrics-key", endpoints.metrics_key] if endpoints.metrics_key else [])


@contextlib.contextmanager
def start(defect: Defect | None, base: str | None = None) -> Iterator[Running]:
    """The broken stack (``defect=None``: the unbroken one) on free ports, stopped on exit."""
    from aigw.stack.plan import StackPlan
    from aigw.stack.run import Customize, in_thread

    base = base or defect.base
    wrap = (lambda app: BrokenApp(app, defect)) if defect else None
    if base == "mock":
        server = start_in_thread(wrap(_mock_app()) if wrap else _mock_app())
        try:
            yield Running(server.url, ["--profile", "backend", "--mock-admin", server.url])
        finally:
            server.stop()
        return
    plan = StackPlan(latency="off", admin_token=ADMIN_TOKEN, log_level="error")
    with in_thread(plan, Customize(defect.gateway_config if defect else None, wrap)) as endpoints:
        yield Running(endpoints.gateway, gateway_flags(endpoints))


def run_check(name: str, *options: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m broken NAME OPTIONS`` in a subprocess: ``aigw check`` against the (broken) stack NAME."""
    here = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "broken", name, *options], capture_output=True, text=True,
                          timeout=timeout, env=env)
