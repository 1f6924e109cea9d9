"""gateway.metrics / gateway.otel and the llm-emit-token-metric config, without servers (OTLP aside)."""

import http.server
import threading
import time

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from aigw.gateway.backends import Backends
from aigw.gateway.config import GatewayConfig
from aigw.gateway.metrics import Metrics, label_name
from aigw.gateway.policies.emit_token_metric import EmitTokenMetric, StreamedText, estimate_usage
from aigw.protocol import tokens


def config(**extra) -> GatewayConfig:
    data = {
        "gateway-id": "gw-test",
        "region": "westeurope",
        "backends": [
            {"id": "one", "url": "http://127.0.0.1:9/openai", "circuitBreaker": {"rules": [{
                "failureCondition": {"count": 2, "interval": "PT10S", "errorReasons": ["connection"]},
                "tripDuration": "PT30S"}]}},
            {"id": "two", "url": "http://127.0.0.1:9/openai"},
        ],
        "apis": [{"id": "aoai", "path": "/openai", "backend": "one"}],
    }
    data.update(extra)
    return GatewayConfig.model_validate(data)


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)


def samples(metrics: Metrics, name: str) -> dict[tuple, float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_label_names_follow_prometheus_rules():
    assert label_name("API ID") == "api_id"
    assert label_name("Subscription ID") == "subscription_id"
    assert label_name("x-ms-region") == "x_ms_region"
    assert label_name("1st") == "d_1st"
    assert label_name("__reserved") == "d_reserved"


def test_requests_latency_and_attempts_by_label():
    metrics = Metrics(config())
    metrics.observe_request("aoai", "chat", 200, "one", 0.004, attempts=1)
    metrics.observe_request("aoai", "chat", 200, "one", 0.2, attempts=3)
    metrics.observe_request("aoai", "chat", 429, "two", 0.001, attempts=1)
    labels = (("api", "aoai"), ("backend", "one"), ("operation", "chat"), ("status", "200"))
    assert samples(metrics, "aigw_requests_total")[labels] == 2
    assert samples(metrics, "aigw_request_duration_seconds_count")[labels] == 2
    assert samples(metrics, "aigw_request_duration_seconds_sum")[labels] == pytest.approx(0.204)
    buckets = samples(metrics, "aigw_request_duration_seconds_bucket")
    assert buckets[tuple(sorted(labels + (("le", "0.005"),)))] == 1
    assert buckets[tuple(sorted(labels + (("le", "0.25"),)))] == 2
    assert samples(metrics, "aigw_upstream_attempts_total")[(("api", "aoai"),)] == 5
    assert samples(metrics, "aigw_upstream_retries_total")[(("api", "aoai"),)] == 2


def test_token_series_may_have_different_dimensions():
    metrics = Metrics(config())
    metrics.tokens("aigw", (("API ID", "aoai"), ("Subscription ID", "t1")), 10, 5)
    metrics.tokens("aigw", (("API ID", "aoai"), ("Subscription ID", "t1")), 1, 2)
    metrics.tokens("other", (("Deployment", "gpt-4o"),), 7, 0)
    prompt = samples(metrics, "aigw_llm_prompt_tokens_total")
    assert prompt == {(("api_id", "aoai"), ("namespace", "aigw"), ("subscription_id", "t1")): 11,
                      (("deployment", "gpt-4o"), ("namespace", "other")): 7}
    assert samples(metrics, "aigw_llm_completion_tokens_total")[(("api_id", "aoai"), ("namespace", "aigw"),
                                                                 ("subscription_id", "t1"))] == 7
    assert samples(metrics, "aigw_llm_total_tokens_total")[(("deployment", "gpt-4o"), ("namespace", "other"))] == 7


def test_cache_and_content_safety_counters():
    metrics = Metrics(config())
    for result in ("hit", "hit", "miss"):
        metrics.cache(result, "aoai")
    metrics.content_safety("blocked", "aoai")
    assert samples(metrics, "aigw_cache_lookups_total") == {(("api", "aoai"), ("result", "hit")): 2,
                                                            (("api", "aoai"), ("result", "miss")): 1}
    assert samples(metrics, "aigw_content_safety_checks_total") == {(("api", "aoai"), ("result", "blocked")): 1}


def test_breaker_state_is_read_at_scrape_time():
    now = [1000.0]
    cfg = config()
    backends = Backends(cfg, clock=lambda: now[0])
    metrics = Metrics(cfg, backends)
    assert samples(metrics, "aigw_backend_circuit_breaker_open")[(("backend", "one"),)] == 0
    one = backends.singles["one"]
    backends.record(one, None, "connection", None)
    backends.record(one, None, "connection", None)
    assert samples(metrics, "aigw_backend_circuit_breaker_open")[(("backend", "one"),)] == 1
    assert samples(metrics, "aigw_backend_up")[(("backend", "one"),)] == 0
    assert samples(metrics, "aigw_backend_circuit_breaker_trips_total")[(("backend", "one"),)] == 1
    assert samples(metrics, "aigw_backend_failures_total")[(("backend", "one"),)] == 2
    assert samples(metrics, "aigw_backend_up")[(("backend", "two"),)] == 1
    now[0] += 31
    assert samples(metrics, "aigw_backend_circuit_breaker_open")[(("backend", "one"),)] == 0


def test_each_gateway_has_its_own_registry():
    first, second = Metrics(config()), Metrics(config())
    first.observe_request("aoai", "chat", 200, "one", 0.01)
    assert samples(first, "aigw_requests_total")
    assert not samples(second, "aigw_requests_total")


def test_recording_a_request_is_cheap():
    metrics = Metrics(config())
    for status in (200, 429, 500):
        metrics.observe_request("aoai", "chat", status, "one", 0.01, 1)
    rounds = 50_000
    started = time.perf_counter()
    for _ in range(rounds):
        metrics.observe_request("aoai", "chat", 200, "one", 0.01, 1)
    per_call = (time.perf_counter() - started) / rounds
    print(f"\nMetrics.observe_request: {per_call * 1e6:.2f} µs per request")
    assert per_call < 100e-6  # a sanity guard against an accidental slow path, not a benchmark


def test_no_opentelemetry_unless_configured():
    assert Metrics(config()).otel is None
    assert Metrics(config(telemetry={"console": True, "export-interval": 3600})).otel is not None


def test_otel_sdk_disabled_wins(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert Metrics(config(telemetry={"console": True})).otel is None


def test_opentelemetry_instruments_carry_the_same_measurements():
    reader = InMemoryMetricReader()
    cfg = config()
    backends = Backends(cfg)
    metrics = Metrics(cfg, backends, readers=[reader])
    metrics.observe_request("aoai", "chat", 200, "one", 0.02, attempts=2)
    metrics.tokens("aigw", (("API ID", "aoai"),), 12, 3)
    metrics.cache("hit", "aoai")
    points = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        assert resource_metrics.resource.attributes["service.instance.id"] == "gw-test"
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    points[(metric.name, tuple(sorted(point.attributes.items())))] = point
    assert points[("aigw.llm.prompt_tokens", (("API ID", "aoai"), ("namespace", "aigw")))].value == 12
    assert points[("aigw.llm.total_tokens", (("API ID", "aoai"), ("namespace", "aigw")))].value == 15
    request_labels = (("api", "aoai"), ("backend", "one"), ("operation", "chat"), ("status", 200))
    assert points[("aigw.requests", request_labels)].value == 1
    assert points[("aigw.request.duration", request_labels)].sum == pytest.approx(0.02)
    assert points[("aigw.upstream.retries", (("api", "aoai"),))].value == 1
    assert points[("aigw.cache.lookups", (("api", "aoai"), ("result", "hit")))].value == 1
    assert points[("aigw.backend.circuit_breaker.open", (("backend", "one"),))].value == 0
    metrics.close()


def test_otlp_export_reaches_a_collector():
    received = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append((self.path, self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        metrics = Metrics(config(telemetry={"otlp-endpoint": endpoint, "export-interval": 3600}))
        metrics.tokens("aigw", (("API ID", "aoai"),), 5, 6)
        metrics.close()  # shutdown exports what was collected
    finally:
        server.shutdown()
    assert received and received[0][0] == "/v1/metrics"
    request = ExportMetricsServiceRequest.FromString(received[0][1])
    names = {m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"aigw.llm.prompt_tokens", "aigw.llm.completion_tokens", "aigw.llm.total_tokens"} <= names


# --- llm-emit-token-metric configuration -------------------------------------------------------------


def token_metric(**attributes):
    return EmitTokenMetric.Config.model_validate(attributes)


def test_default_dimensions_need_no_value_custom_ones_do():
    parsed = token_metric(dimensions=[{"name": "API ID"}, {"name": "Deployment", "value": "@(context.Deployment)"}])
    assert parsed.namespace == "API Management"
    with pytest.raises(ValueError, match="needs a value; only the default dimensions may omit it"):
        token_metric(dimensions=[{"name": "Tenant"}])


def test_more_than_five_dimensions_is_a_config_error():
    six = [{"name": n} for n in ("API ID", "Operation ID", "Product ID", "User ID", "Subscription ID", "Location")]
    with pytest.raises(ValueError, match="at most 5 dimensions"):
        token_metric(dimensions=six)


@pytest.mark.parametrize("attributes, message", [
    ({"namespace": "@(context.Api.Id)", "dimensions": [{"name": "API ID"}]}, "policy expressions are not allowed"),
    ({"dimensions": [{"name": "@(context.Api.Id)", "value": "x"}]}, "use a fixed name"),
    ({"dimensions": [{"name": "API ID"}, {"name": "api-id", "value": "x"}]}, "both become the metric label"),
    ({"dimensions": [{"name": "Namespace", "value": "x"}]}, "both become the metric label"),
    ({"dimensions": [{"name": "X", "value": "@(context.Nope)"}]}, "unsupported expression term"),
    ({"dimensions": []}, "at least 1"),
])
def test_bad_token_metric_configs_say_why(attributes, message):
    with pytest.raises(ValueError, match=message):
        token_metric(**attributes)


def test_gateway_config_error_names_the_policy():
    with pytest.raises(ValueError, match="at most 5 dimensions"):
        config(policies={"inbound": [{"llm-emit-token-metric": {"dimensions": [{"name": f"d{i}", "value": "v"}
                                                                               for i in range(6)]}}]})


def test_streamed_text_estimate_tokenizes_prompt_and_generated_text():
    from aigw.gateway.context import Context, Request, Response

    body = b'{"messages":[{"role":"user","content":"Tell me a story"}],"stream":true}'
    ctx = Context("rid", Request("POST", "/p", "/p", b"", [], body, "127.0.0.1"), api=None, operation="chat",
                  deployment="gpt-4o")
    ctx.response = Response(200, [])
    streamed = StreamedText()
    for piece in ("Once", " upon", " a time", "."):
        streamed.observe(ctx, {"choices": [{"index": 0, "delta": {"content": piece}}]})
    streamed.observe(ctx, {"choices": [{"index": 1, "delta": {"content": "Another"}}]})
    usage = estimate_usage(ctx, streamed)
    assert usage.prompt_tokens == tokens.count_chat_prompt([{"role": "user", "content": "Tell me a story"}], "gpt-4o")
    assert usage.completion_tokens == tokens.count_text("Once upon a time.", "gpt-4o") + tokens.count_text("Another", "gpt-4o")
