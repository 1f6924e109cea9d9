"""Every deliberately broken target, and how to run one.

Each ``Defect`` breaks ONE contract rule of the real mock or the real gateway and names the group in which
``aigw check`` must report it and the check (a substring of the failing test's id) that should catch it.
Gateway defects keep the capabilities the example config *declares*: the target claims what it no longer
delivers. ``start(defect)`` runs the broken stack in background threads on free ports and yields the
``aigw check`` flags that point at it; ``python -m broken`` (from tests/contract) checks one defect.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import orjson
import yaml

from aigw.mocks.selftest import _free_port, start_in_thread
from broken.model_api import (ChunkIdsChange, ContentTypeIgnored, JsonModeFenced, OnlyOneChoice, SecondDeltaDropped,
                              SpuriousThrottling, ToolArgumentsNotJson, CompletionOverMaxTokens, CreatedInMilliseconds, DoneWithoutDataField,
                              ErrorBodyNotOpenAIShape, JsonServedAsTextPlain, MethodNotAllowedWithoutAllow, NoRequestId,
                              NoRoleInFirstDelta, RemainingTokensGrow, RetryAfterMissing, RetryAfterTooShort,
                              ServerErrorOnBadJson, StreamedToolArgumentsNotJson, StreamWithoutDone, UnknownFieldsIgnored,
                              UsageChunkDropped, UsageChunkUnasked, UsageTotalOffByOne)
from broken.services import (EMBEDDED_KEYS, AgentCardPointsAtBackend, ExactMatchCache, AllDownWithoutRetryAfter, CacheWithoutVaryBy,
                             ContentSafetyNotEnforced, JsonRpcErrorIdNotEchoed, McpSessionNotRequired,
                             ForwardsQueryKey, MetricsDoublePromptTokens, MissingKeyAccepted, NoRetryPolicy,
                             NormalisesAfterRouting, TokenLimitNotEnforced)
from broken.wire import BrokenApp, Defect

FUZZ_KEY = "ops-key-000000003"
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


def _mock_app(region: str | None = None):
    """The default mock, latency off (as ``aigw up`` runs it for a region)."""
    from aigw.mocks.app import MockApp
    from aigw.mocks.config import MockConfig, default_config

    data = {**default_config().model_dump(), "latency": "off", **({"region": region} if region else {})}
    return MockApp(MockConfig.model_validate(data))


def gateway_config_for(mock_urls: list[str], change: Callable[[dict], None] | None = None):
    """The example gateway config with its three mock regions at ``mock_urls``, optionally changed."""
    from aigw.gateway.config import GatewayConfig, example_config_path
    from aigw.gateway.server import REGIONS
    from aigw.protocol.yamlconfig import expand_env, parse_model

    text = Path(example_config_path()).read_text("utf-8")
    for region, url in zip(REGIONS, mock_urls):
        text = re.sub(r"\$\{AIGW_MOCK_%s:-[^}]*\}" % region.upper(), url, text)
    data = yaml.safe_load(text)
    if change is not None:
        change(data)
    return parse_model(GatewayConfig, expand_env(yaml.safe_dump(data, sort_keys=False), "broken gateway"), "broken gateway")


def _serve(app, servers: list) -> str:
    port = _free_port()
    servers.append(start_in_thread(app, port))
    return f"http://127.0.0.1:{port}"


def gateway_flags(mock_urls: list[str]) -> list[str]:
    """What the embedded default declares (``aigw check`` without --target), for the same stack."""
    from aigw.contract_tests.runner import embedded_capabilities

    declared = embedded_capabilities(gateway_config_for(mock_urls))
    flags = ["--profile", "gateway", "--fuzz-key", FUZZ_KEY]
    for key in EMBEDDED_KEYS:
        flags += ["--api-key", key]
    for url in mock_urls:
        flags += ["--mock-admin", url]
    for name, value in declared.items():
        flags += ["--capability", f"{name}={'null' if value is None else orjson.dumps(value).decode()}"]
    metrics_key = gateway_config_for(mock_urls).security.metrics_key
    return flags + (["--metrics-key", metrics_key] if metrics_key else [])


@contextlib.contextmanager
def start(defect: Defect | None, base: str | None = None) -> Iterator[Running]:
    """The broken stack (``defect=None``: the unbroken one) on free ports, stopped on exit."""
    from aigw.gateway.app import GatewayApp
    from aigw.gateway.server import REGIONS

    base = base or defect.base
    servers: list = []
    wrap = (lambda app: BrokenApp(app, defect)) if defect else (lambda app: app)
    try:
        if base == "mock":
            url = _serve(wrap(_mock_app()), servers)
            yield Running(url, ["--profile", "backend", "--mock-admin", url])
        else:
            mock_urls = [_serve(_mock_app(region), servers) for region in REGIONS]
            config = gateway_config_for(mock_urls, defect.gateway_config if defect else None)
            url = _serve(wrap(GatewayApp(config)), servers)
            yield Running(url, gateway_flags(mock_urls))
    finally:
        for server in reversed(servers):
            server.should_exit = True
        time.sleep(0.05 if servers else 0)


def run_check(name: str, *options: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m broken NAME OPTIONS`` in a subprocess: ``aigw check`` against the (broken) stack NAME."""
    here = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "broken", name, *options], capture_output=True, text=True,
                          timeout=timeout, env=env)
