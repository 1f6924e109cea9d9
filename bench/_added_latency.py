"""Added latency at a rate the direct path can take: what a system adds on top of calling the mock directly.

bench/gateway.py sends the same request through the system and straight to the mock, interleaved in one
open-loop run (bench/_openloop.py), and reports system minus direct. That difference only means something
while the *direct* path is not saturated: on two cores the mock and the load generator share one, and past
what that core sustains both paths queue, their latencies grow by tens or hundreds of milliseconds and the
difference is noise (it even came out negative). So the rate is chosen, not assumed:

1. idle: both paths at a trickle (``IDLE_RATE``) give the direct path's idle p50;
2. search: from the requested rate down (× ``STEP`` each time, short runs), the first rate where the direct
   path's p50 stays within ``SATURATED_FACTOR`` × its idle p50 (+ ``SATURATED_SLACK_MS``), nothing failed and
   the generator roughly kept its schedule (p99 lateness ≤ ``LATE_MS``) is the rate settled on;
3. measure: the full run at that rate. A difference below zero is noise at this resolution: it is reported
   as 0 with the measured value beside it, never as a negative latency.
"""

from __future__ import annotations

from _openloop import run_open_loop

IDLE_RATE = 25.0  # req/s per path: far below anything that queues
SATURATED_FACTOR = 1.5
SATURATED_SLACK_MS = 0.5
LATE_MS = 10.0  # the generator sent its p99 request this late: it, or its core, could not keep up (a few ms of
# lateness is scheduling noise on a shared core; it is charged to both paths alike, so it cancels out)
STEP = 0.6
MIN_RATE = 20.0
SEARCH_SECONDS = 3.0


def _run(targets: list[dict], rate: float, seconds: float, warmup: float, core_prefix: list[str]) -> dict:
    return run_open_loop(targets, rate=rate, duration=seconds, warmup=warmup, core_prefix=core_prefix)


def saturation(run: dict, idle_p50: float) -> str | None:
    """Why a run's direct path (or the generator) was saturated, or None when it was not."""
    direct = run["direct"]
    if direct["failures"] or direct["p50_ms"] is None:
        return f"{direct['failures']} direct requests failed"
    limit = idle_p50 * SATURATED_FACTOR + SATURATED_SLACK_MS
    if direct["p50_ms"] > limit:
        return f"direct p50 {direct['p50_ms']:.2f} ms > {limit:.2f} ms"
    late = run["_generator"]["p99_lateness_ms"]
    if late > LATE_MS:
        return f"generator p99 lateness {late:.1f} ms > {LATE_MS:g} ms"
    return None


def added(through: dict, direct: dict) -> dict:
    """``added_p50_ms``/``added_p99_ms`` (never below 0) and the raw differences they come from."""
    out: dict = {}
    for q in ("p50", "p99"):
        a, b = through.get(f"{q}_ms"), direct.get(f"{q}_ms")
        raw = None if a is None or b is None else round(a - b, 3)
        out[f"added_{q}_ms"] = None if raw is None else max(0.0, raw)
        out[f"added_{q}_raw_ms"] = raw
    return out


def measure_added_latency(targets: list[dict], start_rate: float, duration: float, warmup: float,
                          core_prefix: list[str], log=lambda text: None) -> dict:
    """Settle on a rate (see the module docstring) and measure there. ``targets``: the system and the direct
    path, named "system" and "direct" (bench/_openloop.py's spec)."""
    idle = _run(targets, IDLE_RATE, SEARCH_SECONDS, 0.5, core_prefix)
    idle_p50 = idle["direct"]["p50_ms"]
    if idle_p50 is None:
        raise RuntimeError(f"the direct path failed even at {IDLE_RATE:g} req/s: {idle['direct']}")
    tried: list[dict] = []
    rate = max(MIN_RATE, start_rate)
    while True:
        run = _run(targets, rate, min(SEARCH_SECONDS, duration), min(warmup, 1.0), core_prefix)
        why = saturation(run, idle_p50)
        tried.append({"rate": rate, "direct_p50_ms": run["direct"]["p50_ms"], "saturated": why})
        log(f"  {rate:g} req/s: " + (f"saturated ({why})" if why else "direct path unsaturated"))
        if why is None or rate <= MIN_RATE:
            break
        rate = max(MIN_RATE, round(rate * STEP))
    final = _run(targets, rate, duration, warmup, core_prefix)
    why = saturation(final, idle_p50)
    return {"rate": rate, "saturated": why, "idle": {"direct_p50_ms": idle_p50, **added(idle["system"], idle["direct"])},
            "tried": tried, "latency": final, **added(final["system"], final["direct"])}
