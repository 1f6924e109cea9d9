"""SLA gates: thresholds from a YAML file, judged against a run's figures; any miss makes ``aigw load`` exit 1.

    # sla.yaml — every key optional; null switches a built-in gate off
    p95_ms: 800                 # all requests (TTFT/ITL measurements excluded); or per Locust name:
    #   p95_ms: {chat: 800, "chat stream": 300}
    ttft_p95_ms: 400            # time to first token, p95 (streaming, mixed)
    error_rate: 0.01            # failed requests / requests, at most
    min_rps: 50                 # requests per second, at least
    limit_exact: true           # rate-limit: no key got more than limit + one reservation in any window
    retry_after: true           # rate-limit: every 429 carried a usable Retry-After
    recovery: 1.0               # rate-limit: share of throttled keys that got a 2xx after honouring Retry-After
    min_hit_ratio: 0.5          # caching: hits / answered requests, at least (built in: 75% of the
                                #   workload's repeat + paraphrase share)
    hits_faster: true           # caching: median hit latency below median miss latency
    max_recovery_s: 10          # failover: longest time clients saw errors after a disruption
    streams_complete: 1.0       # streaming: share of streams that ended with data: [DONE]

Each scenario brings its own gates (``BUILT_IN``); the file's values override them. A gate the file asks
for that the run could not measure fails ("not measured"); a built-in one is reported as n/a.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aigw.protocol.yamlconfig import ConfigError, load_model


class Sla(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p95_ms: float | dict[str, float] | None = Field(None, description="ms; a number or {request name: ms}")
    ttft_p95_ms: float | None = Field(None, gt=0)
    error_rate: float | None = Field(None, ge=0, le=1)
    min_rps: float | None = Field(None, ge=0)
    limit_exact: bool | None = None
    retry_after: bool | None = None
    recovery: float | None = Field(None, ge=0, le=1)
    min_hit_ratio: float | None = Field(None, ge=0, le=1)
    hits_faster: bool | None = None
    max_recovery_s: float | None = Field(None, ge=0)
    streams_complete: float | None = Field(None, ge=0, le=1)


BUILT_IN: dict[str, dict[str, Any]] = {
    "rate-limit": {"limit_exact": True, "retry_after": True, "recovery": 1.0},
    "caching": {"hits_faster": True, "min_hit_ratio": "expected"},
    "failover": {"error_rate": 0.05, "max_recovery_s": 15.0},
    "streaming": {"streams_complete": 1.0},
    "mixed": {"error_rate": 0.01},
}


class SlaError(ValueError):
    """An SLA file that cannot be used; the message names file, line and field."""


def load_sla(path: str | Path | None) -> Sla:
    if path is None:
        return Sla()
    try:
        return load_model(Sla, path)
    except ConfigError as error:
        raise SlaError(str(error)) from None
    except (OSError, ValidationError) as error:
        raise SlaError(f"{path}: {error}") from None


@dataclass
class Gate:
    name: str
    measured: Any
    threshold: str
    verdict: str  # pass | fail | n/a
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.name, "measured": self.measured, "threshold": self.threshold, "verdict": self.verdict,
                "detail": self.detail}


def evaluate(scenario: str, sla: Sla, overall: dict, per_name: list[dict], metrics: dict) -> list[Gate]:
    """Every gate in force for this scenario, judged."""
    asked = sla.model_dump(exclude_unset=True)
    gates = {**BUILT_IN.get(scenario, {}), **asked}
    judged = []
    for name, threshold in gates.items():
        if threshold is None or threshold is False:
            continue
        judge = _JUDGES[name]
        for gate in judge(threshold, overall, per_name, metrics):
            if gate.verdict == "n/a" and name in asked:
                gate.verdict, gate.detail = "fail", gate.detail or "not measured in this run"
            judged.append(gate)
    return judged


def passed(gates: list[Gate]) -> bool:
    return all(g.verdict != "fail" for g in gates)


def _at_most(name: str, value: float | None, limit: float, unit: str = "", detail: str = "") -> Gate:
    if value is None:
        return Gate(name, None, f"≤ {limit}{unit}", "n/a", detail or "not measured in this run")
    return Gate(name, round(value, 4), f"≤ {limit}{unit}", "pass" if value <= limit else "fail", detail)


def _at_least(name: str, value: float | None, limit: float, unit: str = "", detail: str = "") -> Gate:
    if value is None:
        return Gate(name, None, f"≥ {limit}{unit}", "n/a", detail or "not measured in this run")
    return Gate(name, round(value, 4), f"≥ {limit}{unit}", "pass" if value >= limit else "fail", detail)


def _p95(threshold, overall, per_name, metrics):
    if not isinstance(threshold, dict):
        return [_at_most("p95_ms", overall.get("p95_ms"), threshold, " ms")]
    rows = {row["name"]: row for row in per_name if row["type"] not in ("TTFT", "ITL")}
    return [_at_most(f"p95_ms[{name}]", (rows.get(name) or {}).get("p95_ms"), limit, " ms") for name, limit in threshold.items()]


def _limit_exact(threshold, overall, per_name, metrics):
    keys = metrics.get("keys") or {}
    worst = max(keys.items(), key=lambda kv: kv[1]["excess"] if kv[1]["excess"] is not None else float("-inf"), default=None)
    if metrics.get("limit_exact") is None or worst is None:
        return [Gate("limit_exact", None, "no key over limit + 1 reservation", "n/a",
                     "no declared --token-limit or no admitted requests")]
    key, figures = worst
    detail = (f"worst key {key}: {figures['worst_window_tokens']} tokens in one {metrics['window_s']:g}s window; "
              f"allowed {figures['allowed']} ({metrics['token_limit']} + reservation {figures['reservation']})")
    return [Gate("limit_exact", figures["worst_window_tokens"], f"≤ {figures['allowed']} tokens/window",
                 "pass" if metrics["limit_exact"] else "fail", detail)]


def _retry_after(threshold, overall, per_name, metrics):
    missing = sum(k["throttled_without_retry_after"] for k in (metrics.get("keys") or {}).values())
    return [Gate("retry_after", missing, "0 429s without Retry-After", "pass" if missing == 0 else "fail",
                 f"{metrics.get('throttled', 0)} throttled responses")]


def _recovery(threshold, overall, per_name, metrics):
    return [_at_least("recovery", metrics.get("recovery"), threshold, "",
                      "" if metrics.get("recovery") is not None else "no Retry-After wait ended inside the run")]


def _min_hit_ratio(threshold, overall, per_name, metrics):
    if threshold == "expected":
        expected = metrics.get("expected_hit_ratio") or 0.0
        return [_at_least("min_hit_ratio", metrics.get("hit_ratio"), round(0.75 * expected, 3), "",
                          f"75% of the workload's repeat + paraphrase share ({expected:g})")]
    return [_at_least("min_hit_ratio", metrics.get("hit_ratio"), threshold)]


def _hits_faster(threshold, overall, per_name, metrics):
    faster = metrics.get("hits_faster")
    if faster is None:
        detail = "no cache header seen" if not metrics.get("header_seen") else "needs both hits and misses"
        return [Gate("hits_faster", None, "hit p50 < miss p50", "n/a", detail)]
    measured = f"{metrics['hit_p50_ms']:.1f} vs {metrics['miss_p50_ms']:.1f} ms"
    return [Gate("hits_faster", measured, "hit p50 < miss p50", "pass" if faster else "fail")]


_JUDGES = {
    "p95_ms": _p95,
    "ttft_p95_ms": lambda t, o, p, m: [_at_most("ttft_p95_ms", o.get("ttft_p95_ms", m.get("ttft_p95_ms")), t, " ms")],
    "error_rate": lambda t, o, p, m: [_at_most("error_rate", o.get("error_rate") if o.get("requests") else None, t)],
    "min_rps": lambda t, o, p, m: [_at_least("min_rps", o.get("rps"), t, " req/s")],
    "limit_exact": _limit_exact,
    "retry_after": _retry_after,
    "recovery": _recovery,
    "min_hit_ratio": _min_hit_ratio,
    "hits_faster": _hits_faster,
    "max_recovery_s": lambda t, o, p, m: [_at_most("max_recovery_s", m.get("max_recovery_s"), t, " s")],
    "streams_complete": lambda t, o, p, m: [_at_least("streams_complete", m.get("complete_ratio"), t)],
}
