"""The gateway's metrics: Prometheus at ``/metrics`` and, when configured, OpenTelemetry export.

One ``Metrics`` object per gateway instance, with its own ``CollectorRegistry`` (never the process-global
one), so several gateways in one process — tests, ``aigw up`` — never mix their series. What is exposed:

- ``aigw_requests_total{api, operation, status, backend}`` and ``aigw_request_duration_seconds`` (histogram,
  same labels; a stream counts until its last byte); ``aigw_upstream_attempts_total{api}``,
  ``aigw_upstream_retries_total{api}``.
- ``aigw_llm_prompt_tokens_total``, ``aigw_llm_completion_tokens_total``, ``aigw_llm_total_tokens_total``
  with ``namespace`` plus the ``llm-emit-token-metric`` policy's dimensions as labels (``API ID`` →
  ``api_id``: lower case, anything outside ``[a-z0-9_]`` becomes ``_``). Each policy may name different
  dimensions, so one metric carries series with different label sets — valid exposition, and the reason
  these counters are a custom collector rather than ``prometheus_client.Counter``.
- ``aigw_cache_lookups_total{api, result}`` (semantic cache: hit, miss, bypass, error, skipped),
  ``aigw_content_safety_checks_total{api, result}``; read at scrape time: ``aigw_cache_entries``,
  ``aigw_cache_bytes`` / ``aigw_cache_max_bytes`` (the byte budget), ``aigw_cache_vectors_pending``,
  ``aigw_cache_evictions_total{reason=lru|ttl}``.
- Labels name configured things only (API id, operation from the matched operation table, status,
  backend id) — never a raw path, so a client cannot mint series.
- Read from ``Backends.health()`` at scrape time (nothing on the request path): ``aigw_backend_up``,
  ``aigw_backend_circuit_breaker_open`` (1 open, 0 closed), ``aigw_backend_circuit_breaker_trips_total``,
  ``aigw_backend_requests_total``, ``aigw_backend_failures_total``, all by ``backend``.

The request path stays cheap: label children are bound once per label tuple and kept in a dict, so a
request costs a dict lookup, a counter increment and a histogram observation (a few microseconds, see
tests/gateway/test_gw_metrics_unit.py); OpenTelemetry instruments are touched only when export is on.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from aigw.gateway.backends import Backends
    from aigw.gateway.config import GatewayConfig
    from aigw.gateway.context import Context

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TOKEN_KINDS = ("prompt", "completion", "total")
Dimensions = tuple[tuple[str, str], ...]  # (dimension name as configured, value)


@functools.lru_cache(maxsize=256)
def label_name(dimension: str) -> str:
    """A Prometheus label name for a dimension name: ``"API ID"`` → ``"api_id"``."""
    name = re.sub(r"[^a-z0-9_]", "_", dimension.strip().lower())
    if not name or name[0].isdigit() or name.startswith("__"):
        name = "d_" + name.lstrip("_")
    return name


class Metrics:
    def __init__(self, config: GatewayConfig, backends: Backends | None = None, readers: Iterable[Any] = ()) -> None:
        """``readers``: extra OpenTelemetry metric readers (tests pass an in-memory one)."""
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ("api", "operation", "status", "backend")
        self._requests = Counter("aigw_requests", "Requests answered, by API, operation, status and backend.",
                                 labels, registry=self.registry)
        self._latency = Histogram("aigw_request_duration_seconds", "Time from request to the last response byte.",
                                  labels, buckets=LATENCY_BUCKETS, registry=self.registry)
        self._attempts = Counter("aigw_upstream_attempts", "Upstream attempts (first tries and retries).", ("api",),
                                 registry=self.registry)
        self._retries = Counter("aigw_upstream_retries", "Upstream retries (attempts after the first).", ("api",),
                                registry=self.registry)
        self._cache = Counter("aigw_cache_lookups", "Semantic/exact cache lookups by result (hit, miss, ...).",
                              ("api", "result"), registry=self.registry)
        self._safety = Counter("aigw_content_safety_checks", "llm-content-safety outcomes (allowed, blocked, error, "
                               "failed-open).", ("api", "result"), registry=self.registry)
        self._request_children: dict[tuple, tuple] = {}
        self._api_children: dict[str, tuple] = {}
        self._labelled: dict[tuple, Any] = {}
        self.tokens_by_series: dict[tuple[str, Dimensions], list[int]] = {}
        self.registry.register(_TokenCollector(self))
        if backends is not None:
            self.registry.register(_BackendCollector(backends))
        self.caches: Any = lambda: ()  # the semantic caches in use (set once the policies exist)
        self.registry.register(_CacheCollector(self))
        from aigw.gateway.otel import OpenTelemetry

        self.otel = OpenTelemetry.create(config, backends, list(readers))

    # --- what the gateway calls -------------------------------------------------------------------

    def request(self, ctx: Context, seconds: float) -> None:
        """One answered request (called once the response or stream is fully delivered)."""
        status = ctx.response.status if ctx.response is not None else 500
        self.observe_request(ctx.api.id, ctx.operation or "", status, ctx.served_by or "", seconds, ctx.attempts)

    def observe_request(self, api: str, operation: str, status: int, backend: str, seconds: float,
                        attempts: int = 0) -> None:
        key = (api, operation, status, backend)
        children = self._request_children.get(key)
        if children is None:
            labels = (api, operation, str(status), backend)
            children = self._request_children[key] = (self._requests.labels(*labels), self._latency.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)
        if attempts:
            per_api = self._api_children.get(api)
            if per_api is None:
                per_api = self._api_children[api] = (self._attempts.labels(api), self._retries.labels(api))
            per_api[0].inc(attempts)
            if attempts > 1:
                per_api[1].inc(attempts - 1)
        if self.otel is not None:
            self.otel.request(api, operation, status, backend, seconds, attempts)

    def tokens(self, namespace: str, dimensions: Dimensions, prompt: int, completion: int) -> None:
        """Prompt/completion/total tokens of one response (``llm-emit-token-metric``)."""
        key = (namespace, dimensions)
        counts = self.tokens_by_series.get(key)
        if counts is None:
            counts = self.tokens_by_series[key] = [0, 0, 0]
        counts[0] += prompt
        counts[1] += completion
        counts[2] += prompt + completion
        if self.otel is not None:
            self.otel.tokens(namespace, dimensions, prompt, completion)

    def cache(self, result: str, api: str) -> None:
        """A cache lookup's result (``hit``, ``miss``, ``error``, ...)."""
        self._inc(self._cache, api, result)
        if self.otel is not None:
            self.otel.count("cache", {"api": api, "result": result})

    def content_safety(self, result: str, api: str) -> None:
        self._inc(self._safety, api, result)
        if self.otel is not None:
            self.otel.count("content_safety", {"api": api, "result": result})

    def _inc(self, counter: Counter, *labels: str) -> None:
        key = (id(counter), *labels)
        child = self._labelled.get(key)
        if child is None:
            child = self._labelled[key] = counter.labels(*labels)
        child.inc()

    # --- serving and shutdown ---------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type (served at ``/metrics``)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Flush and stop OpenTelemetry export (a final export happens here)."""
        if self.otel is not None:
            self.otel.close()
            self.otel = None


class _TokenCollector:
    """Token counters with per-series label sets (see the module docstring)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        families = {kind: Metric(f"aigw_llm_{kind}_tokens", f"{kind.capitalize()} tokens (llm-emit-token-metric).",
                                 "counter") for kind in TOKEN_KINDS}
        for (namespace, dimensions), counts in list(self.metrics.tokens_by_series.items()):
            labels = {"namespace": namespace}
            labels.update((label_name(name), value) for name, value in dimensions)
            for kind, value in zip(TOKEN_KINDS, counts):
                families[kind].add_sample(f"aigw_llm_{kind}_tokens_total", labels, value)
        return list(families.values())


class _CacheCollector:
    """Semantic cache sizes against their byte budget, and what the budget evicted, read when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        caches = list(self.metrics.caches())
        if not caches:
            return []
        entries = GaugeMetricFamily("aigw_cache_entries", "Answers held by the semantic cache.")
        used = GaugeMetricFamily("aigw_cache_bytes", "Bytes the semantic cache holds (answers and vectors).")
        budget = GaugeMetricFamily("aigw_cache_max_bytes", "The semantic cache's byte budget.")
        pending = GaugeMetricFamily("aigw_cache_vectors_pending", "Vectors waiting to enter the graph index.")
        evictions = Metric("aigw_cache_evictions", "Entries evicted: by the byte budget (lru) or expired (ttl).", "counter")
        stats = [cache.stats() for cache in caches]
        entries.add_metric([], sum(s["entries"] for s in stats))
        used.add_metric([], sum(s["bytes"] for s in stats))
        budget.add_metric([], sum(s["max_bytes"] for s in stats))
        pending.add_metric([], sum(s["pending"] for s in stats))
        evictions.add_sample("aigw_cache_evictions_total", {"reason": "lru"}, sum(s["evictions"] for s in stats))
        evictions.add_sample("aigw_cache_evictions_total", {"reason": "ttl"}, sum(s["expirations"] for s in stats))
        return [entries, used, budget, pending, evictions]


class _BackendCollector:
    """Backend health and circuit-breaker state, read when scraped."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    def collect(self):
        up = GaugeMetricFamily("aigw_backend_up", "1 when the backend can take traffic (its breaker is closed).",
                               labels=["backend"])
        breaker = GaugeMetricFamily("aigw_backend_circuit_breaker_open", "Circuit breaker state: 1 open, 0 closed.",
                                    labels=["backend"])
        trips = Metric("aigw_backend_circuit_breaker_trips", "Times the backend's circuit breaker tripped.", "counter")
        requests = Metric("aigw_backend_requests", "Upstream attempts sent to the backend.", "counter")
        failures = Metric("aigw_backend_failures", "Upstream attempts that failed (by the breaker's rule, or "
                          "5xx/transport errors without one).", "counter")
        for backend_id, health in self.backends.health().items():
            labels = {"backend": backend_id}
            up.add_metric([backend_id], 0.0 if health["open"] else 1.0)
            breaker.add_metric([backend_id], 1.0 if health["open"] else 0.0)
            trips.add_sample("aigw_backend_circuit_breaker_trips_total", labels, health["trips"])
            requests.add_sample("aigw_backend_requests_total", labels, health["requests"])
            failures.add_sample("aigw_backend_failures_total", labels, health["failures"])
        return [up, breaker, trips, requests, failures]
