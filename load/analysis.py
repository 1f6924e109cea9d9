"""Read what a run left behind — Locust's JSON statistics and the scenario's observations — into figures.

No Locust import: this runs in the ``aigw load`` process (and in tests) after Locust has exited.

Locust's statistics give the request counts, failures and latency histograms per request name; the
request types ``TTFT`` and ``ITL`` (fired by the streaming locustfiles) are measurements, not requests,
so they are kept out of throughput, error rate and the overall p95 and reported on their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNTHETIC_TYPES = ("TTFT", "ITL")


class AnalysisError(ValueError):
    """A run's output is missing or unreadable; the message names the file."""


def percentile_of_histogram(histogram: dict[float, int], percent: float) -> float | None:
    """Locust's own rule (``calculate_response_time_percentile``) over its rounded-ms histogram."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = total * percent
    processed = 0
    for value in sorted(histogram, reverse=True):
        processed += histogram[value]
        if total - processed <= wanted:
            return float(value)
    return float(min(histogram))


def percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile of raw values (observations); None for no values."""
    clean = sorted(v for v in values if v is not None)
    if not clean:
        return None
    rank = max(0, min(len(clean) - 1, math.ceil(percent * len(clean)) - 1))
    return clean[rank]


@dataclass
class Entry:
    """One Locust statistics entry (request type + name)."""

    method: str
    name: str
    requests: int
    failures: int
    histogram: dict[float, int]
    start: float
    last: float
    total_ms: float

    @property
    def synthetic(self) -> bool:
        return self.method in SYNTHETIC_TYPES

    def as_row(self) -> dict[str, Any]:
        return {"type": self.method, "name": self.name, "requests": self.requests, "failures": self.failures,
                "avg_ms": round(self.total_ms / self.requests, 2) if self.requests else None,
                "p50_ms": percentile_of_histogram(self.histogram, 0.5),
                "p95_ms": percentile_of_histogram(self.histogram, 0.95),
                "p99_ms": percentile_of_histogram(self.histogram, 0.99)}


@dataclass
class RunData:
    entries: list[Entry]
    observations: dict[str, Any] = field(default_factory=dict)

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """Observation rows of ``kind`` as dicts keyed by the declared columns."""
        columns = self.observations.get("columns", {}).get(kind, [])
        return [dict(zip(columns, row)) for row in self.observations.get("rows", {}).get(kind, [])]

    @property
    def scenario(self) -> str:
        return self.observations.get("scenario", "custom")

    @property
    def options(self) -> dict[str, Any]:
        return self.observations.get("options", {})


def load_run(stats_json: Path, observations: Path | None) -> RunData:
    try:
        raw = json.loads(Path(stats_json).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise AnalysisError(f"{stats_json}: Locust's statistics are missing or unreadable ({error})") from None
    entries = [Entry(e["method"] or "", e["name"], int(e["num_requests"]), int(e["num_failures"]),
                     {float(k): int(v) for k, v in dict(e["response_times"]).items()},
                     float(e["start_time"]), float(e["last_request_timestamp"] or e["start_time"]),
                     float(e["total_response_time"]))
               for e in raw]
    document: dict[str, Any] = {}
    if observations is not None:
        try:
            document = json.loads(Path(observations).read_text("utf-8"))
        except (OSError, ValueError) as error:
            raise AnalysisError(f"{observations}: the scenario's observations are missing or unreadable ({error})") from None
    return RunData(entries, document)


def overall(run: RunData) -> dict[str, Any]:
    """Requests, failures, error rate, throughput and latency over every real request of the run."""
    real = [e for e in run.entries if not e.synthetic]
    requests = sum(e.requests for e in real)
    failures = sum(e.failures for e in real)
    histogram: dict[float, int] = {}
    for entry in real:
        for value, count in entry.histogram.items():
            histogram[value] = histogram.get(value, 0) + count
    started = min((e.start for e in real), default=0.0)
    meta = run.observations.get("meta", {})
    ended = meta.get("stopped") or max((e.last for e in real), default=started)
    started = meta.get("started") or started
    seconds = max(ended - started, 1e-9) if requests else 0.0
    result = {"requests": requests, "failures": failures,
              "error_rate": failures / requests if requests else 0.0,
              "duration_s": round(seconds, 3), "rps": requests / seconds if seconds else 0.0,
              "p50_ms": percentile_of_histogram(histogram, 0.5), "p95_ms": percentile_of_histogram(histogram, 0.95),
              "p99_ms": percentile_of_histogram(histogram, 0.99)}
    for kind in SYNTHETIC_TYPES:
        merged: dict[float, int] = {}
        for entry in (e for e in run.entries if e.method == kind):
            for value, count in entry.histogram.items():
                merged[value] = merged.get(value, 0) + count
        if merged:
            result[f"{kind.lower()}_p50_ms"] = percentile_of_histogram(merged, 0.5)
            result[f"{kind.lower()}_p95_ms"] = percentile_of_histogram(merged, 0.95)
    return result


def per_name(run: RunData) -> list[dict[str, Any]]:
    return [e.as_row() for e in sorted(run.entries, key=lambda e: (e.synthetic, e.method, e.name))]


def timeline(run: RunData) -> list[dict[str, Any]]:
    """Every observed request as ``{t, ms, status, label}``, whatever the scenario, for the charts."""
    scenario = run.scenario
    if scenario == "rate-limit":
        return [{"t": r["t0"], "ms": (r["t1"] - r["t0"]) * 1000, "status": r["status"], "label": r["key"]}
                for r in run.rows("request")]
    if scenario == "caching":
        return [{"t": r["t0"], "ms": r["ms"], "status": r["status"], "label": r["cache"]} for r in run.rows("request")]
    if scenario == "failover":
        return [{"t": r["t0"], "ms": r["ms"], "status": r["status"], "label": r["backend"] or "unknown"}
                for r in run.rows("request")]
    if scenario == "streaming":
        return [{"t": r["t0"], "ms": r["ttft_ms"], "status": r["status"], "label": "stream"} for r in run.rows("stream")]
    return [{"t": r["t0"], "ms": r["ms"], "status": r["status"], "label": r.get("operation", "request")}
            for r in run.rows("request")]
