"""Each scenario's own figures, from its observations: what the SLA gates and the built-in verdicts judge.

rate-limit  admitted tokens per key and window against the declared limit (+ one reservation), 429s
            without Retry-After, what happened after each honoured Retry-After
caching     hit ratio (overall and per request kind), latency of hits against misses
failover    error rate per phase of the fault schedule, time to recover after each disruption, each
            backend's share per phase
streaming   TTFT, inter-token latency, tokens/s per stream, streams that ended cleanly
mixed       count, errors and p95 per operation
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from aigw.load.analysis import RunData, percentile
from aigw.load.schedule import DISRUPTIONS

PHASE_STEP_S = 0.1  # resolution of the best-case window alignment search


def scenario_metrics(run: RunData) -> dict[str, Any]:
    handler = {"rate-limit": rate_limit, "caching": caching, "failover": failover, "streaming": streaming,
               "mixed": mixed}.get(run.scenario)
    return handler(run) if handler else {}


# -- rate-limit ---------------------------------------------------------------------------------------


def window_totals(t0: np.ndarray, t1: np.ndarray, tokens: np.ndarray, window: float, phase: float) -> tuple[np.ndarray, int]:
    """Tokens per window for windows starting at ``phase + k·window``, counting only requests that began
    and ended inside one window (certainly admitted into it); returns (totals, requests left out)."""
    first = np.floor((t0 - phase) / window)
    last = np.floor((t1 - phase) / window)
    inside = first == last
    if not inside.any():
        return np.zeros(1), int((~inside).sum())
    index = (first[inside] - first[inside].min()).astype(np.int64)
    return np.bincount(index, weights=tokens[inside]), int((~inside).sum())


def worst_window(rows: list[dict], window: float, offset: float, alignment: str) -> dict[str, Any]:
    """The fullest window of one key. ``utc``: windows start on multiples of ``window`` on the gateway's
    clock (ours + ``offset``). ``any``: the alignment that makes the fullest window emptiest — a verdict
    that never wrongs a correct fixed-window or sliding gateway, whatever its phase."""
    admitted = [r for r in rows if r["status"] == 200 and r["tokens"] and not r.get("cached")]
    if not admitted:
        return {"tokens": 0, "left_out": 0, "phase": None}
    t0 = np.array([r["t0"] for r in admitted]) + offset
    t1 = np.array([r["t1"] for r in admitted]) + offset
    tokens = np.array([float(r["tokens"]) for r in admitted])
    phases = [0.0] if alignment == "utc" else np.arange(0.0, window, PHASE_STEP_S)
    best = None
    for phase in phases:
        totals, left_out = window_totals(t0, t1, tokens, window, float(phase))
        fullest = float(totals.max())
        if best is None or fullest < best["tokens"]:
            best = {"tokens": int(fullest), "left_out": left_out, "phase": round(float(phase), 2)}
    return best


def rate_limit(run: RunData) -> dict[str, Any]:
    options = run.options
    limit = int(options.get("token_limit") or 0)
    window = float(options.get("window") or 60.0)
    offset = float(options.get("window_offset") or 0.0)
    alignment = options.get("window_alignment") or "utc"
    requests, waits = run.rows("request"), run.rows("wait")
    by_key: dict[str, list[dict]] = defaultdict(list)
    for row in requests:
        by_key[row["key"]].append(row)
    keys = {}
    for key, rows in sorted(by_key.items()):
        statuses = Counter(r["status"] for r in rows)
        reservation = max((r["reservation"] for r in rows if r["status"] == 200), default=0)
        worst = worst_window(rows, window, offset, alignment)
        span = max(r["t1"] for r in rows) - min(r["t0"] for r in rows)
        key_waits = [w for w in waits if w["key"] == key]
        recovered = sum(1 for w in key_waits if w["status_after"] == 200)
        keys[_mask(key)] = {
            "requests": len(rows), "admitted": statuses.get(200, 0), "throttled": statuses.get(429, 0),
            "other_errors": sum(c for s, c in statuses.items() if s not in (200, 429)),
            "throttled_without_retry_after": sum(1 for r in rows if r["status"] == 429 and r["retry_after"] is None),
            "tokens": sum(r["tokens"] for r in rows if r["status"] == 200),
            "tokens_per_s": round(sum(r["tokens"] for r in rows if r["status"] == 200) / span, 1) if span > 0 else 0.0,
            "worst_window_tokens": worst["tokens"], "left_out_at_boundaries": worst["left_out"],
            "phase": worst["phase"], "reservation": reservation,
            "allowed": limit + reservation if limit else None,
            "excess": worst["tokens"] - (limit + reservation) if limit else None,
            "waits_completed": len(key_waits), "recovered": recovered,
            "rethrottled": sum(1 for w in key_waits if w["status_after"] == 429),
        }
    throttled = [k for k in keys.values() if k["waits_completed"]]
    return {
        "token_limit": limit or None, "window_s": window, "alignment": alignment, "keys": keys,
        "limit_exact": all(k["excess"] <= 0 for k in keys.values()) if limit and keys else None,
        "worst_excess": max((k["excess"] for k in keys.values()), default=None) if limit else None,
        "retry_after_ok": sum(k["throttled_without_retry_after"] for k in keys.values()) == 0,
        "throttled": sum(k["throttled"] for k in keys.values()),
        "recovery": (sum(1 for k in throttled if k["recovered"]) / len(throttled)) if throttled else None,
    }


def _mask(key: str) -> str:
    """Reports name keys without giving them away."""
    return key if len(key) <= 8 else f"{key[:4]}…{key[-4:]}"


# -- caching ------------------------------------------------------------------------------------------


def caching(run: RunData) -> dict[str, Any]:
    rows = [r for r in run.rows("request") if r["status"] == 200]
    kinds = {}
    for kind in ("fresh", "repeat", "paraphrase"):
        of_kind = [r for r in rows if r["kind"] == kind]
        hits = sum(1 for r in of_kind if r["cache"] == "hit")
        kinds[kind] = {"requests": len(of_kind), "hits": hits, "hit_ratio": hits / len(of_kind) if of_kind else None}
    hits = [r["ms"] for r in rows if r["cache"] == "hit"]
    misses = [r["ms"] for r in rows if r["cache"] == "miss"]
    options = run.options
    return {
        "hit_ratio": len(hits) / len(rows) if rows else None,
        "expected_hit_ratio": float(options.get("repeat_ratio", 0)) + float(options.get("paraphrase_ratio", 0)),
        "header_seen": any(r["cache"] != "none" for r in rows), "verdicts": dict(Counter(r["cache"] for r in rows)),
        "kinds": kinds,
        "hit_p50_ms": percentile(hits, 0.5), "hit_p95_ms": percentile(hits, 0.95),
        "miss_p50_ms": percentile(misses, 0.5), "miss_p95_ms": percentile(misses, 0.95),
        "hits_faster": (percentile(hits, 0.5) < percentile(misses, 0.5)) if hits and misses else None,
    }


# -- failover -----------------------------------------------------------------------------------------


def failover(run: RunData) -> dict[str, Any]:
    requests = sorted(run.rows("request"), key=lambda r: r["t0"])
    actions = sorted(run.rows("action"), key=lambda a: a["t"])
    if not requests:
        return {"phases": [], "recoveries": [], "max_recovery_s": None}
    start, end = requests[0]["t0"], requests[-1]["t0"] + requests[-1]["ms"] / 1000
    in_run = [a for a in actions if a["t"] < end]
    marks = [start] + [a["t"] for a in in_run] + [end]
    phases = []
    for number, (a, b) in enumerate(zip(marks, marks[1:])):
        rows = [r for r in requests if a <= r["t0"] < b]
        label = "baseline" if number == 0 else f"{in_run[number - 1]['action']} {in_run[number - 1]['backend']}"
        errors = sum(1 for r in rows if r["status"] != 200)
        shares = Counter(r["backend"] or "unknown" for r in rows if r["status"] == 200)
        phases.append({"phase": label, "from_s": round(a - start, 2), "to_s": round(b - start, 2),
                       "requests": len(rows), "errors": errors, "error_rate": errors / len(rows) if rows else 0.0,
                       "p95_ms": percentile([r["ms"] for r in rows], 0.95),
                       "backends": {k: round(v / sum(shares.values()), 3) for k, v in sorted(shares.items())}})
    recoveries = _recoveries(requests, in_run, end)
    return {"phases": phases, "recoveries": recoveries,
            "max_recovery_s": max((r["recovery_s"] for r in recoveries), default=0.0),
            "actions_failed": [a for a in actions if not str(a["result"]).startswith("2")]}


def _recoveries(requests: list[dict], actions: list[dict], end: float) -> list[dict]:
    """Per disruption: how long clients saw errors (start of the disruption → end of the last failed
    request before the next action), and after its restore how long until that backend answered again."""
    result = []
    for index, action in enumerate(actions):
        if action["action"] not in DISRUPTIONS:
            continue
        until = actions[index + 1]["t"] if index + 1 < len(actions) else end
        failed = [r for r in requests if action["t"] <= r["t0"] < until and r["status"] != 200]
        recovery = max(r["t0"] + r["ms"] / 1000 for r in failed) - action["t"] if failed else 0.0
        restore = next((a for a in actions[index + 1:] if a["backend"] == action["backend"] and a["action"] == "restore"), None)
        back = None
        if restore is not None:
            served = next((r for r in requests if r["t0"] >= restore["t"] and r["backend"] == action["backend"]), None)
            back = round(served["t0"] - restore["t"], 2) if served else None
        result.append({"disruption": f"{action['action']} {action['backend']}", "errors": len(failed),
                       "recovery_s": round(recovery, 2), "back_in_rotation_s": back})
    return result


# -- streaming / mixed --------------------------------------------------------------------------------


def streaming(run: RunData) -> dict[str, Any]:
    rows = run.rows("stream")
    ok = [r for r in rows if r["status"] == 200]
    complete = sum(1 for r in ok if r["complete"])
    return {"streams": len(rows), "complete": complete, "complete_ratio": complete / len(ok) if ok else None,
            "ttft_p50_ms": percentile([r["ttft_ms"] for r in ok], 0.5),
            "ttft_p95_ms": percentile([r["ttft_ms"] for r in ok], 0.95),
            "itl_p50_ms": percentile([r["itl_ms"] for r in ok], 0.5),
            "itl_p95_ms": percentile([r["itl_ms"] for r in ok], 0.95),
            "tokens_per_s_p50": percentile([r["tokens_per_s"] for r in ok], 0.5),
            "tokens_per_s_p05": percentile([r["tokens_per_s"] for r in ok], 0.05)}


def mixed(run: RunData) -> dict[str, Any]:
    by_operation: dict[str, list[dict]] = defaultdict(list)
    for row in run.rows("request"):
        by_operation[row["operation"]].append(row)
    total = sum(len(rows) for rows in by_operation.values())
    return {"operations": {name: {"requests": len(rows), "share": round(len(rows) / total, 3),
                                  "errors": sum(1 for r in rows if r["status"] != 200),
                                  "p95_ms": percentile([r["ms"] for r in rows], 0.95)}
                           for name, rows in sorted(by_operation.items())}}
