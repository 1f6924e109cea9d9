"""Mock backend benchmark: our `aigw mock` against aimock, the fastest peer mock, in the same run.

    python bench/mock.py [--duration 10] [--connections 64] [--scenarios chat,stream,embeddings]
                         [--skip-peer] [--json reports/bench/mock.json]

Scenarios: non-streaming chat (req/s, p50/p99; ``chat`` repeats one prompt so our answer memo hits,
``chat-unique`` sends a new prompt every time so it never does), 20-token streams (streams/s; a stream counts when read to
``data: [DONE]``), embeddings (1536-d, req/s). Each server runs pinned to core 0 (`taskset -c 0`), the load
generator to core 1: `wrk` when installed, else the built-in aiohttp generator (bench/_loadgen.py).

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
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers beside this file

from _cli import run_main, write_report  # noqa: E402
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
BOUND_FRACTION = 0.8  # a figure above this share of the generator ceiling is (nearly) generator-bound


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: dict
    stream: bool
    floor_rps: float | None  # absolute target for ours, if any
    min_ratio: float  # target for ours / aimock (0: no target, the figures are for reading)
    unique: bool = False  # every request a different prompt (UNIQUE_MARKER → a counter): no answer memo hits


SCENARIOS = {
    "chat": Scenario("chat", "/v1/chat/completions",
                     {"model": "gpt-4o", "messages": [{"role": "user", "content": CHAT_PROMPT}], "max_tokens": 20},
                     stream=False, floor_rps=CHAT_TARGET_RPS, min_ratio=1.0),
    # Each request asks something new, so our mock's answer memo (keyed by the request bytes) never hits and
    # every answer is generated: the figure readers get when prompts do not repeat. aimock matches the fixture
    # prompt as a substring, so it still answers.
    "chat-unique": Scenario("chat-unique", "/v1/chat/completions",
                            {"model": "gpt-4o", "messages": [{"role": "user", "content": f"{CHAT_PROMPT} (request "
                                                                                         f"{UNIQUE_MARKER})"}],
                             "max_tokens": 20},
                            stream=False, floor_rps=None, min_ratio=0.0, unique=True),  # figures only
    "stream": Scenario("stream", "/v1/chat/completions",
                       {"model": "gpt-4o", "messages": [{"role": "user", "content": CHAT_PROMPT}], "max_tokens": 20,
                        "stream": True},
                       stream=True, floor_rps=None, min_ratio=1.0),
    "embeddings": Scenario("embeddings", "/v1/embeddings",
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
    """Start `spec` fresh, probe it, load it, stop it. Returns the figures or the error that broke the run."""
    body = json.dumps(scenario.body, separators=(",", ":")).encode()
    server: RunningServer | None = None
    try:
        server = pool.start(spec)
        checked = probe(server.base_url, scenario.path, body, stream=scenario.stream)
        result = run_load(Target(server.base_url + scenario.path, body, expect_done=scenario.stream,
                                 unique_marker=UNIQUE_MARKER if scenario.unique else None),
                          generator=args.generator, duration=args.duration, warmup=args.warmup,
                          connections=args.connections, core=LOAD_CORE)
        return {**result.as_dict(), "probe": checked.as_dict()}
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
        body = json.dumps(SCENARIOS["chat"].body).encode()
        result: LoadResult = run_load(Target(server.base_url + "/v1/chat/completions", body),
                                      generator=args.generator, duration=min(args.duration, 5.0),
                                      warmup=args.warmup, connections=args.connections, core=LOAD_CORE)
        return result.as_dict()
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    finally:
        pool.stop(server)


def judge(scenario: Scenario, ours: dict, peer: dict | None) -> dict:
    """Targets beside the figures: what was aimed at, what was reached. Informational, never asserted."""
    ours_rps = ours.get("rps")
    peer_rps = peer.get("rps") if peer else None
    ratio = ours_rps / peer_rps if ours_rps is not None and peer_rps else None
    goals, met = [], []
    if scenario.floor_rps is not None:
        goals.append(f"≥{scenario.floor_rps:,.0f}/s/core")
        met.append(ours_rps is not None and ours_rps >= scenario.floor_rps)
    if peer is not None and scenario.min_ratio:
        goals.append(f"≥{scenario.min_ratio:.1f}× aimock")
        met.append(ratio is not None and ratio >= scenario.min_ratio)
    return {"ratio": round(ratio, 3) if ratio is not None else None, "target": " & ".join(goals) or "—",
            "met": all(met) if met else None}


def _rate(run: dict | None) -> str:
    if run is None:
        return "skipped"
    if "error" in run:
        return "[red]error[/]"
    text = f"{run['rps']:,.0f}"
    return text + (f" [yellow]({run['failures']} failed)[/]" if run["failures"] else "")


def _latency(run: dict | None) -> str:
    if not run or "error" in run or run.get("p50_ms") is None:
        return "—"
    return f"{run['p50_ms']:.2f} / {run['p99_ms']:.2f}"


def _shape(run: dict | None) -> str:
    probe_ = (run or {}).get("probe")
    if not probe_:
        return "—"
    parts = []
    if "sse_events" in probe_:
        parts.append(f"{probe_['sse_events']} events ({probe_['content_events']} with content)")
    if "completion_tokens" in probe_:
        parts.append(f"{probe_['completion_tokens']} tokens")
    if "embedding_dimensions" in probe_:
        parts.append(f"{probe_['embedding_dimensions']}-d")
    parts.append(f"{probe_['http_chunks']} writes" if "http_chunks" in probe_ else "content-length")
    parts.append(f"{probe_['body_bytes']:,} B")
    return ", ".join(parts)


def render(console: Console, report: dict) -> None:
    machine, ceiling, settings = report["machine"], report["generator_ceiling"], report["settings"]
    peer = report.get("peer") or {}
    table = Table(title=f"Mock backend benchmark — {machine['cpu_count']} cores, {machine['cpu_model']}")
    for column in ("scenario", "ours req/s", "aimock req/s", "ratio", "ours p50/p99 ms", "aimock p50/p99 ms",
                   "target", "met?"):
        table.add_column(column, justify="right" if "req/s" in column or column == "ratio" else "left",
                         no_wrap=column in ("target", "met?"))
    shapes = Table(title="One response (probe): SSE events incl. [DONE], chunked writes, body bytes")
    for column in ("scenario", "ours", "aimock"):
        shapes.add_column(column)
    ceiling_rps = ceiling.get("rps")
    for row in report["scenarios"]:
        ours, theirs = row["ours"], row.get("aimock")
        verdict = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[row["met"]]
        if ceiling_rps and ours.get("rps", 0) >= BOUND_FRACTION * ceiling_rps:
            verdict += " [yellow](gen-bound)[/]"
        table.add_row(row["scenario"], _rate(ours), _rate(theirs),
                      f"{row['ratio']:.2f}×" if row["ratio"] is not None else "—", _latency(ours), _latency(theirs),
                      row["target"], verdict)
        shapes.add_row(row["scenario"], _shape(ours), _shape(theirs))
    console.print(table)
    console.print(shapes)
    console.print(f"load: {settings['generator']} on core {LOAD_CORE}, {settings['connections']} connections, "
                  f"{settings['duration']:g} s after {settings['warmup']:g} s warm-up; servers on core {SERVER_CORE}"
                  + ("" if machine["pinned"] else " [yellow](taskset unavailable or one core: NOT pinned)[/]"))
    if "error" in ceiling:
        console.print(f"[red]generator ceiling not measured:[/] {ceiling['error']}")
    else:
        console.print(f"generator ceiling: {ceiling['rps']:,.0f} req/s ({settings['generator']} against a trivial "
                      f"raw-ASGI uvicorn app); a figure above {BOUND_FRACTION:.0%} of it is mostly generator-bound")
    if peer:
        console.print(f"peer: aimock {peer['version']} on node {peer['node_version']} "
                      f"(SSE chunk size {peer['chunk_size'] or 'default, 20'} chars)")
    for row in report["scenarios"]:
        for who in ("ours", "aimock"):
            if row.get(who) and "error" in row[who]:
                console.print(f"[red]{row['scenario']} / {who}:[/] {row[who]['error']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (default 64)")
    parser.add_argument("--scenarios", default="chat,chat-unique,stream,embeddings", help="comma-separated subset of "
                        + ",".join(SCENARIOS))
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
                     "connections": args.connections, "server_core": SERVER_CORE, "load_core": LOAD_CORE},
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
        for scenario in args.scenario_list:
            console.print(f"{scenario.name}: ours …")
            ours = measure(pool, spec, scenario, args)
            peer = None
            if peer_spec is not None:
                console.print(f"{scenario.name}: aimock …")
                peer = measure(pool, peer_spec, scenario, args)
            broken |= "error" in ours or (peer is not None and "error" in peer)
            report["scenarios"].append({"scenario": scenario.name, "ours": ours, "aimock": peer,
                                        **judge(scenario, ours, peer)})
    render(console, report)
    write_report(console, args.json, report)
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda console: run(args, console), width=130)


if __name__ == "__main__":
    sys.exit(main())
