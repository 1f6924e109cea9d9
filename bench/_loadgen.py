"""Closed-loop HTTP load for the benchmarks: `wrk` when it is installed, else a built-in aiohttp generator.

Both keep N keep-alive connections busy for a fixed time after a warm-up, read every response body to its
end (a stream counts only when it ends in ``data: [DONE]``), and report completed requests, failures and
p50/p99 latency of whole responses. The generator runs in its own process pinned to the core the server
does not use, so the two never share a CPU.

Run directly, this module *is* the aiohttp generator (that is how `run_load` starts it under taskset):
    python bench/_loadgen.py --url URL --body-file F --duration 10 --warmup 2 --connections 64 [--expect-done]
It prints one JSON line with the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DONE_MARKER = b"data: [DONE]"
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench-key", "api-key": "bench-key"}


@dataclass(frozen=True)
class Target:
    url: str
    body: bytes
    expect_done: bool = False  # a streaming response is only a success when it reaches [DONE]
    headers: tuple[tuple[str, str], ...] = ()  # sent besides HEADERS (a peer's own auth or routing headers)
    unique_marker: str | None = None  # replaced in the body by a per-request counter: every request differs

    def all_headers(self) -> dict[str, str]:
        return {**HEADERS, **dict(self.headers)}


@dataclass
class LoadResult:
    generator: str
    requests: int  # successful responses completed inside the measured window
    failures: int  # non-200, transport errors, or streams cut before [DONE]
    seconds: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "rps": round(self.rps, 1)}


def pin_prefix(core: int) -> list[str]:
    """`taskset -c CORE` when there is a second core to pin to; else run unpinned (and say so elsewhere)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core)]
    return []


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(target: Target, *, generator: str, duration: float, warmup: float, connections: int,
             core: int, timeout_margin: float = 30.0) -> LoadResult:
    """Warm up, then measure for `duration` seconds with the chosen generator pinned to `core`."""
    if generator == "wrk":
        return _run_wrk(target, duration, warmup, connections, core, timeout_margin)
    if generator == "python":
        return _run_python(target, duration, warmup, connections, core, timeout_margin)
    raise ValueError(f"unknown load generator {generator!r} (expected 'wrk' or 'python')")


# --- wrk ------------------------------------------------------------------------------------------------

_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
%(headers)s
local expect_done = %(expect_done)s
%(request)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or (expect_done and not string.find(body, "data: [DONE]", 1, true)) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"bad":%%d,"socket_errors":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# With a unique marker, each request's body carries the next counter value in its place, so no two requests
# are alike (a server's answer memo never hits). The counter starts at a random 12-digit number for every
# run, so a measured run never repeats its warm-up's prompts either. wrk then builds every request in Lua,
# which costs the generator a little; the generator ceiling is measured with the fixed body.
_WRK_UNIQUE = """
local body_head, body_tail = [==[%(head)s]==], [==[%(tail)s]==]
local counter = %(start)d
function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, body_head .. counter .. body_tail)
end
"""


def counter_start() -> int:
    """Where a run's per-request counter starts: random, 12 digits for the whole run (bodies keep one size)."""
    return random.SystemRandom().randrange(10**11, 9 * 10**11)


def _wrk_script(target: Target) -> str:
    if b"]==]" in target.body:
        raise ValueError("request body cannot be embedded in a Lua long string")
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.all_headers().items())
    request = ""
    if target.unique_marker is not None:
        head, found, tail = target.body.decode().partition(target.unique_marker)
        if not found:
            raise ValueError(f"unique marker {target.unique_marker!r} is not in the request body")
        request = _WRK_UNIQUE % {"head": head, "tail": tail, "start": counter_start()}
    return _WRK_SCRIPT % {"body": target.body.decode(), "headers": headers, "request": request,
                          "expect_done": "true" if target.expect_done else "false"}


def _run_wrk(target: Target, duration: float, warmup: float, connections: int, core: int,
             margin: float) -> LoadResult:
    def wrk(seconds: float) -> dict:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(_wrk_script(target))  # a script per run: distinct bodies never repeat the warm-up's
        # One thread: the generator owns exactly one core, like the server.
        cmd = [*pin_prefix(core), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", script.name, target.url]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + margin)
        finally:
            os.unlink(script.name)
        for line in out.stdout.splitlines():
            if line.startswith("WRKJSON "):
                return json.loads(line[len("WRKJSON "):])
        raise RuntimeError(f"wrk printed no result (exit {out.returncode}): {out.stderr.strip() or out.stdout}")

    if warmup > 0:
        wrk(warmup)
    r = wrk(duration)
    failures = r["bad"] + r["socket_errors"]
    ok = max(0, r["requests"] - r["bad"])
    return LoadResult("wrk", ok, failures, r["duration_us"] / 1e6, r["p50_us"] / 1e3, r["p99_us"] / 1e3)


# --- built-in aiohttp generator ---------------------------------------------------------------------------

def _run_python(target: Target, duration: float, warmup: float, connections: int, core: int,
                margin: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("wb", suffix=".body", delete=False) as body_file:
        body_file.write(target.body)
    cmd = [*pin_prefix(core), sys.executable, str(Path(__file__).resolve()), "--url", target.url,
           "--body-file", body_file.name, "--duration", str(duration), "--warmup", str(warmup),
           "--connections", str(connections)] + (["--expect-done"] if target.expect_done else [])
    cmd += [f"--header={k}:{v}" for k, v in target.headers]
    if target.unique_marker is not None:
        cmd += ["--unique-marker", target.unique_marker, "--counter-start", str(counter_start())]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + margin)
    finally:
        os.unlink(body_file.name)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}")
    return LoadResult(**json.loads(out.stdout.strip().splitlines()[-1]))


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _generate(url: str, body: bytes, duration: float, warmup: float, connections: int,
                    expect_done: bool, headers: dict[str, str] | None = None,
                    unique_marker: str | None = None, counter_start: int = 0) -> LoadResult:
    import aiohttp  # imported here so `run_load` callers never pay for it

    latencies: list[float] = []
    failures = 0
    clock = time.perf_counter
    headers = headers or HEADERS
    head, _, tail = body.partition(unique_marker.encode()) if unique_marker else (body, b"", b"")
    counter = counter_start
    start = clock()
    measure_from = start + warmup
    measure_until = measure_from + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures, counter
        while True:
            began = clock()
            if began >= measure_until:
                return
            if unique_marker:
                counter += 1
                sent = head + str(counter).encode() + tail
            else:
                sent = body
            try:
                async with session.post(url, data=sent, headers=headers) as response:
                    payload = await response.read()
                    ok = response.status == 200 and (not expect_done or DONE_MARKER in payload[-64:])
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                ok = False
            finished = clock()
            if measure_from <= began and finished <= measure_until:
                if ok:
                    latencies.append(finished - began)
                else:
                    failures += 1
            elif not ok and began >= measure_from:
                failures += 1
            if not ok:
                await asyncio.sleep(0.01)  # a refusing server must not turn the loop into a busy spin

    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     skip_auto_headers=("User-Agent",)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    latencies.sort()
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    return LoadResult("python", len(latencies), failures, duration,
                      p50 * 1e3 if p50 is not None else None, p99 * 1e3 if p99 is not None else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="aiohttp closed-loop load generator (used by bench/*.py)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, type=Path)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--expect-done", action="store_true")
    parser.add_argument("--header", action="append", default=[], help="NAME:VALUE sent besides the defaults")
    parser.add_argument("--unique-marker", default=None, help="replaced in the body by a per-request counter")
    parser.add_argument("--counter-start", type=int, default=0, help="the counter's first value minus one")
    args = parser.parse_args(argv)
    headers = {**HEADERS, **dict(h.split(":", 1) for h in args.header)}
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass  # the stock loop is slower; the printed generator ceiling shows by how much
    result = asyncio.run(_generate(args.url, args.body_file.read_bytes(), args.duration, args.warmup,
                                   args.connections, args.expect_done, headers, args.unique_marker,
                                   args.counter_start))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
