"""OpenTelemetry export of the gateway's metrics (the same measurements Prometheus sees).

When is it on? OTLP over http/protobuf when ``telemetry.otlp-endpoint`` is configured or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` variables are set; the console
exporter only with ``telemetry.console: true`` — the issue says "console otherwise", but a JSON dump
every minute on stdout by default would bury the gateway's own output, so it is opt-in. With neither
(and no reader passed by a test) there is no MeterProvider at all and the request path never touches
OpenTelemetry. ``OTEL_SDK_DISABLED=true`` turns export off whatever the config says.

The provider is per gateway instance and never installed as the global one. Instruments:
``aigw.requests`` (counter), ``aigw.request.duration`` (histogram, seconds), ``aigw.upstream.attempts``,
``aigw.upstream.retries``, ``aigw.llm.prompt_tokens`` / ``completion_tokens`` / ``total_tokens``
(attributes: ``namespace`` and the policy's dimensions under their configured names, e.g. ``API ID``,
as Application Insights shows them), ``aigw.cache.lookups``, ``aigw.content_safety.checks``, and the
observable gauges ``aigw.backend.up`` / ``aigw.backend.circuit_breaker.open`` read from the backends.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aigw.gateway.backends import Backends
    from aigw.gateway.config import GatewayConfig

log = logging.getLogger("aigw.gateway")
DURATION_BOUNDARIES = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def otlp_metrics_url(endpoint: str) -> str:
    """The OTLP/HTTP metrics URL for a base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT is interpreted."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/metrics") else endpoint + "/v1/metrics"


def _readers(config: GatewayConfig) -> list[Any]:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    telemetry = config.telemetry
    interval = telemetry.export_interval * 1000
    readers = []
    env_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if telemetry.otlp_endpoint or env_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        # Configured endpoint wins; otherwise the exporter reads the standard variables itself.
        endpoint = otlp_metrics_url(telemetry.otlp_endpoint) if telemetry.otlp_endpoint else None
        exporter = OTLPMetricExporter(endpoint=endpoint, headers=telemetry.otlp_headers or None)
        readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=interval))
    if telemetry.console:
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=interval))
    return readers


class OpenTelemetry:
    """Instruments on a private MeterProvider; ``create`` returns None when nothing would export."""

    @classmethod
    def create(cls, config: GatewayConfig, backends: Backends | None, extra_readers: list[Any]) -> OpenTelemetry | None:
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        readers = _readers(config) + extra_readers
        return cls(config, backends, readers) if readers else None

    def __init__(self, config: GatewayConfig, backends: Backends | None, readers: list[Any]) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource

        resource = Resource.create({"service.name": config.telemetry.service_name,
                                    "service.instance.id": config.gateway_id, "cloud.region": config.region})
        self.provider = MeterProvider(metric_readers=readers, resource=resource)
        meter = self.provider.get_meter("aigw.gateway")
        self._requests = meter.create_counter("aigw.requests", "{request}", "Requests answered")
        self._duration = meter.create_histogram("aigw.request.duration", "s", "Time to the last response byte",
                                                explicit_bucket_boundaries_advisory=DURATION_BOUNDARIES)
        self._attempts = meter.create_counter("aigw.upstream.attempts", "{attempt}", "Upstream attempts")
        self._retries = meter.create_counter("aigw.upstream.retries", "{attempt}", "Upstream retries")
        self._tokens = [meter.create_counter(f"aigw.llm.{kind}_tokens", "{token}", f"{kind.capitalize()} tokens")
                        for kind in ("prompt", "completion", "total")]
        self._counters = {
            "cache": meter.create_counter("aigw.cache.lookups", "{lookup}", "Cache lookups by result"),
            "content_safety": meter.create_counter("aigw.content_safety.checks", "{check}", "Content safety outcomes"),
        }
        if backends is not None:
            meter.create_observable_gauge("aigw.backend.up", [_observe(backends, lambda h: 0 if h["open"] else 1)],
                                          "1", "1 when the backend's circuit breaker is closed")
            meter.create_observable_gauge("aigw.backend.circuit_breaker.open",
                                          [_observe(backends, lambda h: 1 if h["open"] else 0)], "1",
                                          "Circuit breaker state: 1 open, 0 closed")
        self._attributes: dict[tuple, dict[str, Any]] = {}

    def request(self, api: str, operation: str, status: int, backend: str, seconds: float, attempts: int) -> None:
        key = (api, operation, status, backend)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = self._attributes[key] = {"api": api, "operation": operation, "status": status,
                                                  "backend": backend}
        self._requests.add(1, attributes)
        self._duration.record(seconds, attributes)
        if attempts:
            per_api = {"api": api}
            self._attempts.add(attempts, per_api)
            if attempts > 1:
                self._retries.add(attempts - 1, per_api)

    def tokens(self, namespace: str, dimensions: tuple[tuple[str, str], ...], prompt: int, completion: int) -> None:
        attributes = {"namespace": namespace, **dict(dimensions)}
        for counter, value in zip(self._tokens, (prompt, completion, prompt + completion)):
            counter.add(value, attributes)

    def count(self, name: str, attributes: dict[str, str]) -> None:
        self._counters[name].add(1, attributes)

    def close(self) -> None:
        try:
            self.provider.shutdown(timeout_millis=5_000)
        except Exception:  # export failures are logged by the SDK; shutting down must not fail the gateway
            log.warning("OpenTelemetry shutdown failed", exc_info=True)


def _observe(backends: Backends, value_of):
    from opentelemetry.metrics import Observation

    def callback(_options):
        return [Observation(value_of(health), {"backend": backend_id}) for backend_id, health in backends.health().items()]

    return callback
