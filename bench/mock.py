"""Mock backend benchmark: our `aigw mock` against aimock, the fastest peer mock, in the same run.

    python bench/mock.py [--duration 10] [--connections 64] [--scenarios chat,stream,embeddings,...]
                         [--skip-peer] [--json reports/bench/mock.json]

Scenarios, distinct prompts first: non-streaming chat (req/s, p50/p99), 20-token streams (streams/s; a stream
counts when read to ``data: [DONE]``) and embeddings (1536-d, req/s), each request a new prompt
("… (request N)") so our answer memo never hits — what a load test sends; then the same three with one
request repeated (``-repeat``), which the memo serves. Each server runs pinned to core 0 (`taskset -c 0`), the
load generator to core 1: `wrk` when installed, else the built-in aiohttp generator (bench/_loadgen.py).

This prints figures and writes a JSON report; it never passes or fails on a time. Targets are printed beside
the figures, not asserted. It exits 0 unless the run itself broke (a server would not start or answered a
probe wrongly, the generator crashed). Servers are started fresh for every scenario and every server: a
scenario then never inherits the previous one's rate-limiter windows, journal, heap or warmed caches, and
start-up (about a second) is cheap next to a 10 s measurement. Everything started is stopped on exit, Ctrl-C
and SIGTERM included. Traffic goes to 127.0.0.1 only, and every run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers beside this file

from _cli import run_main, write_report  # noqa: E402
from _mock_report import render, summarise  # noqa: E402
from _loadgen import LoadResult, Target, pin_prefix, run_load, wrk_available  # noqa: E402
from _peer import PeerUnavailable, aimock_argv, ensure_aimock, write_fixture  # noqa: E402
from _probe import ProbeError, probe  # noqa: E402
from _servers import RunningServer, ServerPool, ServerSpec, ServerStartError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SERVER_CORE, LOAD_CORE = 0, 1
CHAT_PROMPT = "Hello, how are you?"
EMBEDDING_INPUT = "The food was delicious and the waiter was very friendly."
CHAT_TARGET_RPS = 8000  # per core, non-streaming chat
UNIQUE_MARKER = "@@N@@"  # the load generator puts a per-request counter here


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: dict
    stream: bool
    floor_rps: float | None  # absolute target for ours, if any
    min_ratio: float  # target for ours / aimock (0: no target, the figures are for reading)
    distinct: bool = False  # every request a different prompt (UNIQUE_MARKER → a counter): no answer memo hits


def _chat(prompt: str, **extra) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}], "max_tokens": 20, **extra}


DISTINCT_PROMPT = f"{CHAT_PROMPT} (request {UNIQUE_MARKER})"  # aimock matches its fixture prompt as a substring
DISTINCT_INPUT = f"{EMBEDDING_INPUT} (request {UNIQUE_MARKER})"

# Distinct prompts first: load tests send different prompts (identical ones would only measure caches), so
# these are the figures that say whether the mock can stand in for Azure OpenAI under a gateway load test.
# The -repeat scenarios send one request over and over: our answer memo (keyed by the request bytes) then
# serves every answer after the first — the figure for a hot loop of identical calls.
SCENARIOS = {
    "chat": Scenario("chat", "/v1/chat/completions", _chat(DISTINCT_PROMPT), stream=False, floor_rps=None,
                     min_ratio=1.0, distinct=True),
    "stream": Scenario("stream", "/v1/chat/completions", _chat(DISTINCT_PROMPT, stream=True), stream=True,
                       floor_rps=None, min_ratio=1.0, distinct=True),
    "embeddings": Scenario("embeddings", "/v1/embeddings", {"model": "text-embedding-3-small", "input": DISTINCT_INPUT},
                           stream=False, floor_rps=None, min_ratio=1.0, distinct=True),
    "chat-repeat": Scenario("chat-repeat", "/v1/chat/completions", _chat(CHAT_PROMPT), stream=False,
                            floor_rps=CHAT_TARGET_RPS, min_ratio=1.0),
    "stream-repeat": Scenario("stream-repeat", "/v1/chat/completions", _chat(CHAT_PROMPT, stream=True), stream=True,
                              floor_rps=None, min_ratio=1.0),
    "embeddings-repeat": Scenario("embeddings-repeat", "/v1/embeddings",
                                  {"model": "text-embedding-3-small", "input": EMBEDDING_INPUT},
                                  stream=False, floor_rps=None, min_ratio=1.0),
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_ours_config(path: Path) -> Path:
    """The embedded default config with latency off and limits no 10 s run can reach.

    Validation and the rate limiter stay on (they are part of the hot path we sell); only their limits are
    raised so no 429 distorts the figures. Derived from default.yaml so it tracks the real deployments.
    """
    from importlib import resources

    config = yaml.safe_load(resources.files("aigw.mocks").joinpath("default.yaml").read_text("utf-8"))
    config["latency"] = "off"
    for deployment in config["deployments"]:
        deployment["tpm"] = 10**12
        deployment["rpm"] = 10**12
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def ours_spec(args: argparse.Namespace, work: Path) -> ServerSpec:
    if args.ours_cmd:
        return ServerSpec("ours", shlex.split(args.ours_cmd), cwd=REPO)
    aigw = REPO / ".venv" / "bin" / "aigw"
    config = write_ours_config(work / "ours.yaml")
    return ServerSpec("ours", [str(aigw if aigw.exists() else "aigw"), "mock", "--host", "127.0.0.1", "--port",
                               "{port}", "--config", str(config), "--latency", "off", "--workers", "1"], cwd=REPO)


def ceiling_spec() -> ServerSpec:
    return ServerSpec("ceiling", [sys.executable, "-m", "uvicorn", "--app-dir", str(REPO / "bench"),
                                  "_ceiling_app:app", "--host", "127.0.0.1", "--port", "{port}", "--loop", "uvloop",
                                  "--http", "httptools", "--no-access-log", "--log-level", "warning"], cwd=REPO)


def measure(pool: ServerPool, spec: ServerSpec, scenario: Scenario, args: argparse.Namespace) -> dict:
    """Start `spec` fresh, probe it, warm it up, load it, stop it. Returns the figures (req/s, latencies, and
    requests per CPU-second the server used in the measured window) or the error that broke the run."""
    body = json.dumps(scenario.body, separators=(",", ":")).encode()
    server: RunningServer | None = None
    try:
        server = pool.start(spec)
        checked = probe(server.base_url, scenario.path, body, stream=scenario.stream)
        target = Target(server.base_url + scenario.path, body, expect_done=scenario.stream,
                        unique_marker=UNIQUE_MARKER if scenario.distinct else None)
        if args.warmup > 0:
            run_load(target, generator=args.generator, duration=args.warmup, warmup=0, connections=args.connections,
                     core=LOAD_CORE)
        cpu_before = server.cpu_seconds()
        result = run_load(target, generator=args.generator, duration=args.duration, warmup=0,
                          connections=args.connections, core=LOAD_CORE)
        cpu = server.cpu_seconds() - cpu_before
        return {**result.as_dict(), "cpu_seconds": round(cpu, 2),
                "rps_per_cpu_second": round(result.requests / cpu, 1) if cpu > 0 else None, "probe": checked.as_dict()}
    except (ServerStartError, ProbeError, RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    finally:
        if server is not None:
            pool.stop(server)


def measure_ceiling(pool: ServerPool, args: argparse.Namespace) -> dict:
    try:
        server = pool.start(ceiling_spec())
    except ServerStartError as error:
        return {"error": str(error)}
    try:
        body = json.dumps(SCENARIOS["chat-repeat"].body).encode()
        result: LoadResult = run_load(Target(server.base_url + "/v1/chat/completions", body),
                                      generator=args.generator, duration=min(args.duration, 5.0),
                                      warmup=args.warmup, connections=args.connections, core=LOAD_CORE)
        return result.as_dict()
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    finally:
        pool.stop(server)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (default 64)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of "
                        + ",".join(SCENARIOS) + " (default: all, distinct prompts first)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every scenario this many times, ours and "
                        "aimock side by side in each round; figures are medians with their range (default 1; use 3+ "
                        "on a shared machine)")
    parser.add_argument("--skip-peer", action="store_true", help="measure our mock only")
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "bench" / "mock.json", help="report path")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="auto = wrk when installed, else the built-in aiohttp generator")
    parser.add_argument("--aimock-chunk-size", type=int, default=None,
                        help="aimock's characters per SSE chunk (its default 20 gives 5 content events for the "
                             "82-char answer; 4 gives one event per token, like a real model)")
    parser.add_argument("--ours-cmd", default=None,
                        help="command line for our server instead of `aigw mock` ({port} is replaced)")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        parser.error(f"unknown scenario(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCENARIOS)}")
    if args.duration <= 0 or args.duration > 600 or args.warmup < 0 or args.warmup > 60:
        parser.error("--duration must be in (0, 600] and --warmup in [0, 60] seconds")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    if not 1 <= args.connections <= 4096:
        parser.error("--connections must be between 1 and 4096")
    if args.loadgen == "wrk" and not wrk_available():
        parser.error("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    args.generator = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available()) else "python"
    args.scenario_list = [SCENARIOS[n] for n in names]
    return args


def run(args: argparse.Namespace, console: Console) -> int:
    report: dict = {
        "benchmark": "mock",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "pinned": bool(pin_prefix(LOAD_CORE)),
                    "python": platform.python_version()},
        "settings": {"generator": args.generator, "duration": args.duration, "warmup": args.warmup,
                     "connections": args.connections, "rounds": args.rounds, "server_core": SERVER_CORE,
                     "load_core": LOAD_CORE},
        "scenarios": [],
    }
    broken = False
    with tempfile.TemporaryDirectory(prefix="aigw-bench-") as tmp, ServerPool(Path(tmp) / "logs", SERVER_CORE) as pool:
        work = Path(tmp)
        peer_spec = None
        if not args.skip_peer:
            try:
                install = ensure_aimock()
            except PeerUnavailable as error:
                console.print(f"[red]aimock unavailable:[/] {error} (use --skip-peer to measure ours alone)")
                return 1
            fixture = write_fixture(work / "aimock-fixture.json", CHAT_PROMPT, EMBEDDING_INPUT)
            peer_spec = ServerSpec("aimock", aimock_argv(install, fixture, args.aimock_chunk_size), cwd=work)
            report["peer"] = {"name": "aimock", "version": install.version, "node": install.node,
                              "node_version": install.node_version, "engines_node": install.engines_node,
                              "chunk_size": args.aimock_chunk_size}
        console.print(f"measuring the {args.generator} generator's ceiling …")
        report["generator_ceiling"] = measure_ceiling(pool, args)
        broken |= "error" in report["generator_ceiling"]
        spec = ours_spec(args, work)
        report["ours_command"] = spec.argv
        runs: dict[tuple[str, str], list[dict]] = {}
        for round_ in range(args.rounds):
            for scenario in args.scenario_list:
                # Side by side: both servers measured back to back, the first of them alternating by round.
                contenders = [("ours", spec)] + ([("aimock", peer_spec)] if peer_spec is not None else [])
                for who, server_spec in contenders if round_ % 2 == 0 else contenders[::-1]:
                    console.print(f"round {round_ + 1}/{args.rounds} · {scenario.name}: {who} …")
                    result = measure(pool, server_spec, scenario, args)
                    broken |= "error" in result
                    runs.setdefault((scenario.name, who), []).append(result)
        report["scenarios"] = [summarise(scenario, runs[(scenario.name, "ours")], runs.get((scenario.name, "aimock")))
                               for scenario in args.scenario_list]
    render(console, report, SERVER_CORE, LOAD_CORE)
    write_report(console, args.json, report)
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda console: run(args, console), width=170)


if __name__ == "__main__":
    sys.exit(main())
