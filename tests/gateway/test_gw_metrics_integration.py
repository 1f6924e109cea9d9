"""Metrics over HTTP: the openai SDK through a real gateway in front of a real mock, then /metrics."""

import time
import urllib.request

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig
from aigw.protocol.serving import free_port
from aigw.protocol import tokens
from conftest import running_app

KEY = "tenant-key-0001"
API_VERSION = "2024-10-21"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three rivers in Europe."}]


def running_gateway(config: GatewayConfig):
    return running_app(GatewayApp(config))


def token_metric_config(mock_url: str) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "region": "swedencentral",
        "backends": [{"id": "aoai-mock", "url": f"{mock_url}/openai"}],
        "apis": [{"id": "azure-openai", "path": "/openai", "backend": "aoai-mock", "policies": {"inbound": [
            {"llm-emit-token-metric": {"namespace": "contoso", "dimensions": [
                {"name": "API ID"}, {"name": "Subscription ID"}, {"name": "Backend ID"}, {"name": "Location"},
                {"name": "Deployment", "value": "@(context.Deployment)"}]}}]}}],
        "products": [{"id": "starter"}],
        "subscriptions": [{"id": "tenant-a", "key": KEY, "product": "starter"}],
    })


def scrape(base: str) -> dict[str, dict[tuple, float]]:
    with urllib.request.urlopen(f"{base}/metrics") as response:
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def client(base: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=base, api_key=KEY, api_version=API_VERSION, max_retries=0)


DIMENSIONS = (("api_id", "azure-openai"), ("backend_id", "aoai-mock"), ("deployment", "gpt-4o"),
              ("location", "swedencentral"), ("namespace", "contoso"), ("subscription_id", "tenant-a"))


@pytest.fixture(scope="module")
def gateway(mock_server):
    with running_gateway(token_metric_config(mock_server)) as (base, _):
        yield base


def token_counts(base: str) -> tuple[float, float, float]:
    metrics = scrape(base)
    return tuple(metrics.get(f"aigw_llm_{kind}_tokens_total", {}).get(DIMENSIONS, 0.0)
                 for kind in ("prompt", "completion", "total"))


def test_tokens_match_the_usage_the_client_saw(gateway):
    before = token_counts(gateway)
    answer = client(gateway).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=30)
    after = token_counts(gateway)
    usage = answer.usage
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (
        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def test_streamed_usage_is_counted_when_the_client_asks_for_it(gateway):
    before = token_counts(gateway)
    stream = client(gateway).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=25, stream=True,
                                                     stream_options={"include_usage": True})
    usage = [chunk.usage for chunk in stream if chunk.usage][-1]
    after = token_counts(gateway)
    assert (after[0] - before[0], after[1] - before[1]) == (usage.prompt_tokens, usage.completion_tokens)


def test_streams_without_usage_are_estimated_from_what_the_client_received(gateway):
    before = token_counts(gateway)
    stream = client(gateway).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=25, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    after = token_counts(gateway)
    assert after[0] - before[0] == tokens.count_chat_prompt(MESSAGES, "gpt-4o")
    assert after[1] - before[1] == tokens.count_text(text, "gpt-4o")


def test_request_counts_and_latency_by_api_operation_status_backend(gateway):
    client(gateway).embeddings.create(model="text-embedding-3-small", input="metrics")
    with pytest.raises(openai.AuthenticationError):
        openai.AzureOpenAI(azure_endpoint=gateway, api_key="wrong-key-0000", api_version=API_VERSION,
                           max_retries=0).embeddings.create(model="text-embedding-3-small", input="x")
    metrics = scrape(gateway)
    ok = (("api", "azure-openai"), ("backend", "aoai-mock"), ("operation", "embeddings"), ("status", "200"))
    assert metrics["aigw_requests_total"][ok] >= 1
    assert metrics["aigw_request_duration_seconds_count"][ok] == metrics["aigw_requests_total"][ok]
    assert metrics["aigw_request_duration_seconds_sum"][ok] > 0
    rejected = (("api", "none"), ("backend", ""), ("operation", ""), ("status", "401"))
    assert metrics["aigw_requests_total"][rejected] >= 1


def test_breaker_gauge_follows_a_backend_that_trips_and_recovers(mock_server):
    dead = f"http://127.0.0.1:{free_port()}/openai"  # nothing listens: connection refused
    config = GatewayConfig.model_validate({
        "backends": [
            {"id": "dead", "url": dead, "circuitBreaker": {"rules": [{
                "failureCondition": {"count": 1, "interval": "PT10S", "errorReasons": ["connection"]},
                "tripDuration": "PT1S"}]}},
            {"id": "live", "url": f"{mock_server}/openai"},
            {"id": "pool", "pool": {"services": [{"id": "dead", "priority": 1}, {"id": "live", "priority": 2}]}},
        ],
        "apis": [{"id": "aoai", "path": "/openai", "backend": "pool",
                  "policies": {"backend": [{"retry": {"condition": "5xx", "count": 1}}]}}],
        "products": [{"id": "starter"}],
        "subscriptions": [{"id": "tenant-a", "key": KEY, "product": "starter"}],
    })
    with running_gateway(config) as (base, _):
        dead_label = (("backend", "dead"),)
        assert scrape(base)["aigw_backend_circuit_breaker_open"][dead_label] == 0
        client(base).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)  # fails over: no error
        metrics = scrape(base)
        assert metrics["aigw_backend_circuit_breaker_open"][dead_label] == 1
        assert metrics["aigw_backend_up"][dead_label] == 0
        assert metrics["aigw_backend_circuit_breaker_trips_total"][dead_label] == 1
        assert metrics["aigw_backend_failures_total"][dead_label] == 1
        assert metrics["aigw_upstream_retries_total"][(("api", "aoai"),)] == 1
        served = (("api", "aoai"), ("backend", "live"), ("operation", "chat"), ("status", "200"))
        assert metrics["aigw_requests_total"][served] == 1
        time.sleep(1.1)
        assert scrape(base)["aigw_backend_circuit_breaker_open"][dead_label] == 0
