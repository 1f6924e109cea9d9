"""Open-loop load at a fixed rate, for latency: requests leave on a schedule, whether or not earlier ones finished.

A closed-loop generator (wrk, bench/_loadgen.py) waits for an answer before sending the next request, so a
slow server is sent less and its slow moments are under-sampled ("coordinated omission"). Here request *i*
of a target is due at ``start + i / rate`` and its latency is measured from that due time, so the
generator's own lag is charged too — equally to every target, which is why bench/gateway.py sends the
gateway path and the direct path *interleaved in one run* and reports the difference.

Run directly (that is how `run_open_loop` starts it under taskset); prints one JSON line:
    python bench/_openloop.py --spec spec.json
spec: {"rate": 1000, "duration": 10, "warmup": 2,
       "targets": [{"name": "gateway", "url": ..., "body": "...", "headers": {...}}, ...]}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_CONNECTIONS = 512  # enough for a 1,000 req/s schedule against a server that stalls for a while


def run_open_loop(targets: list[dict], *, rate: float, duration: float, warmup: float, core_prefix: list[str],
                  margin: float = 30.0) -> dict[str, dict]:
    """Per target: sent, ok, failures, p50/p90/p99/max ms; plus ``_generator`` (how late it sent)."""
    spec = {"rate": rate, "duration": duration, "warmup": warmup, "targets": targets}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        out = subprocess.run([*core_prefix, sys.executable, str(Path(__file__).resolve()), "--spec", handle.name],
                             capture_output=True, text=True, timeout=duration + warmup + margin)
    finally:
        os.unlink(handle.name)
    if out.returncode != 0:
        raise RuntimeError(f"open-loop generator failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


async def _run(spec: dict) -> dict[str, dict]:
    import aiohttp

    rate, duration, warmup = float(spec["rate"]), float(spec["duration"]), float(spec["warmup"])
    targets = spec["targets"]
    clock = time.perf_counter
    results = {t["name"]: {"latencies": [], "failures": 0, "sent": 0} for t in targets}
    lag_ms: list[float] = []
    period = 1.0 / rate
    offset = period / len(targets)  # the targets' schedules are interleaved, not simultaneous
    start = clock() + 0.2
    measure_from = start + warmup
    total = int((warmup + duration) * rate)

    async def one(session, target, due: float) -> None:
        record = results[target["name"]]
        try:
            async with session.post(target["url"], data=target["body_bytes"], headers=target["headers"]) as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            ok = False
        if due >= measure_from:
            if ok:
                record["latencies"].append(clock() - due)
            else:
                record["failures"] += 1

    for target in targets:
        target["body_bytes"] = target["body"].encode()
        target["headers"] = {"Content-Type": "application/json", **target.get("headers", {})}
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ttl_dns_cache=None)
    tasks = []
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30),
                                     auto_decompress=False, skip_auto_headers=("User-Agent",)) as session:
        for i in range(total):
            for j, target in enumerate(targets):
                due = start + i * period + j * offset
                wait = due - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif due >= measure_from:
                    lag_ms.append(-wait * 1e3)
                if due >= measure_from:
                    results[target["name"]]["sent"] += 1
                tasks.append(asyncio.create_task(one(session, target, due)))
            if len(tasks) > 4096:
                tasks = [t for t in tasks if not t.done()]
        await asyncio.gather(*tasks)
    report: dict[str, dict] = {}
    for name, record in results.items():
        values = sorted(record.pop("latencies"))
        report[name] = {"sent": record["sent"], "ok": len(values), "failures": record["failures"],
                        **{f"p{q}_ms": round(v * 1e3, 3) if (v := _percentile(values, q)) is not None else None
                           for q in (50, 90, 99)},
                        "max_ms": round(values[-1] * 1e3, 3) if values else None}
    lag_ms.sort()
    report["_generator"] = {"rate_per_target": rate, "late_sends": len(lag_ms),
                            "p99_lateness_ms": round(_percentile(lag_ms, 99) or 0.0, 3)}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="open-loop fixed-rate load generator (used by bench/gateway.py)")
    parser.add_argument("--spec", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_run(json.loads(args.spec.read_text())))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
