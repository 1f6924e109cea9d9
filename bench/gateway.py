"""Gateway benchmark: our gateway's throughput per core and its ADDED latency, beside LiteLLM and Portkey.

    python bench/gateway.py [--duration 10] [--warmup 2] [--connections 64] [--rate 1000]
                            [--variants plain,policies] [--skip-peers] [--json reports/bench/gateway.json]

Layout on a 2-core machine: the system under test (our gateway, or a peer) alone on core 0; the upstream
mock (`aigw mock`, latency off, limits raised so nothing is throttled) on core 1, and the load generator on
core 1 too. The thing measured is the gateway, so it is the one that gets a core of its own; the mock needs
about a quarter of core 1 at 4–5k req/s and wrk about a tenth, so sharing costs the gateway little — but it
does cost the *client-observed* latency of both paths, which is why added latency is a difference.

Figures, per system:
- req/s: wrk (closed loop, --connections keep-alive connections) through the system for --duration s;
  also req/s per CPU-second the system's processes used in that window (from /proc): the per-core figure
  that stays honest when other work shares the machine.
- added latency: an open-loop generator (bench/_openloop.py) sends the same request through the system and
  straight to the mock, interleaved in one run; added p50/p99 = system path minus direct path, at a rate the
  direct path takes without queueing: from --rate (or half the system's closed-loop rate) down until the
  direct path's p50 stays near its idle p50 (bench/_added_latency.py). The rate settled on is printed.

Variants of ours: `plain` (auth, routing, forwarding; Prometheus metrics are always on) and `policies`
(plus llm-token-limit with estimated prompt tokens and llm-emit-token-metric) — skipped, saying why,
when those policies are not registered. Peers (installed on demand under $AIGW_TOOLS_DIR, default
~/.cache/aigw-tools; a failed install prints "not available: <reason>" and the run goes on):
LiteLLM proxy (PyPI `litellm[proxy]` in its own venv, one worker, azure provider → the mock) and
Portkey's gateway (npm `@portkey-ai/gateway`, Node, openai provider with a custom host → the mock).

Prints figures and writes a JSON report; never passes or fails on a time. Targets are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers beside this file

from _gateway_peers import ensure_litellm, ensure_portkey, litellm_system, portkey_system  # noqa: E402
from _gateway_report import (  # noqa: E402
    PEER_RATIOS,
    POLICY_OVERHEAD,
    TARGET_ADDED_P50_MS,
    TARGET_ADDED_P99_MS,
    TARGET_RPS,
    render,
)
from _gateway_systems import (  # noqa: E402
    BACKEND_CORE,
    GATEWAY_CORE,
    KEY,
    REPO,
    System,
    missing_policies,
    mock_spec,
    ours,
    write_mock_config,
)
from _cli import run_main, write_report  # noqa: E402
from _loadgen import Target, pin_prefix, run_load, wrk_available  # noqa: E402
from _added_latency import measure_added_latency  # noqa: E402
from _peer import PeerUnavailable  # noqa: E402
from _servers import RunningServer, ServerPool, ServerStartError  # noqa: E402


# --- measuring -------------------------------------------------------------------------------------------

def probe(url: str, body: bytes, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "api-key": KEY, **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            document = json.loads(response.read())
    except Exception as error:  # any failure here means the system is not serving this request correctly
        raise RuntimeError(f"probe POST {url} failed: {type(error).__name__}: {error}") from None
    usage = document.get("usage") or {}
    if not document.get("choices") or "completion_tokens" not in usage:
        raise RuntimeError(f"probe POST {url}: not a chat completion: {str(document)[:300]}")
    return {"completion_tokens": usage["completion_tokens"]}


def measure(pool: ServerPool, system: System, mock_url: str, args: argparse.Namespace, console: Console) -> dict:
    body = json.dumps(system.body, separators=(",", ":")).encode()
    server: RunningServer | None = None
    try:
        server = pool.start(system.spec, timeout=system.start_timeout)
        checked = probe(server.base_url + system.path, body, system.headers)
        target = Target(server.base_url + system.path, body, headers=tuple(system.headers.items()))
        if args.warmup > 0:
            run_load(target, generator=args.generator, duration=args.warmup, warmup=0, connections=args.connections,
                     core=BACKEND_CORE)
        cpu_before = server.cpu_seconds()
        load = run_load(target, generator=args.generator, duration=args.duration, warmup=0,
                        connections=args.connections, core=BACKEND_CORE)
        cpu = server.cpu_seconds() - cpu_before
        # Open loop from --rate (or half of what the system sustained closed-loop, if less) down to a rate the
        # direct path takes without queueing: see bench/_added_latency.py.
        start = args.rate if load.rps >= 2 * args.rate else max(20.0, round(load.rps / 2))
        console.print(f"  added latency: settling on a rate from {start:g} req/s down …")
        found = measure_added_latency(
            [{"name": "system", "url": server.base_url + system.path, "body": body.decode(),
              "headers": {"api-key": KEY, **system.headers}},
             {"name": "direct", "url": mock_url + system.direct_path, "body": body.decode(),
              "headers": {"api-key": KEY}}],
            start, args.latency_duration, min(args.warmup, 2.0), pin_prefix(BACKEND_CORE), console.print)
        return {"label": system.label, **load.as_dict(), "cpu_seconds": round(cpu, 2),
                "rps_per_cpu_second": round(load.requests / cpu, 1) if cpu > 0 else None,
                "latency_rate": found.pop("rate"), **found, "probe": checked}
    except (ServerStartError, RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        return {"label": system.label, "error": f"{type(error).__name__}: {error}"}
    finally:
        if server is not None:
            pool.stop(server)


# --- main ------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="closed-loop measured seconds (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    parser.add_argument("--connections", type=int, default=64, help="closed-loop keep-alive connections")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop req/s per path to start the added-"
                        "latency search from; lowered until the direct path is not saturated (default 1000)")
    parser.add_argument("--latency-duration", type=float, default=10.0, help="open-loop measured seconds")
    parser.add_argument("--variants", default="plain,policies", help="ours: plain, policies (comma-separated)")
    parser.add_argument("--peers", default="litellm,portkey", help="peers to measure (comma-separated)")
    parser.add_argument("--skip-peers", action="store_true", help="measure ours only")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "bench" / "gateway.json")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 600 and 0 <= args.warmup <= 60 and 0 < args.latency_duration <= 600):
        parser.error("--duration/--latency-duration must be in (0, 600] and --warmup in [0, 60] seconds")
    if not (1 <= args.connections <= 4096 and 1 <= args.rate <= 20000):
        parser.error("--connections must be 1..4096 and --rate 1..20000")
    args.variant_list = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.peer_list = [] if args.skip_peers else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [v for v in args.variant_list if v not in ("plain", "policies")] + \
              [p for p in args.peer_list if p not in PEER_RATIOS]
    if unknown:
        parser.error(f"unknown variant/peer: {', '.join(unknown)}")
    if args.loadgen == "wrk" and not wrk_available():
        parser.error("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    args.generator = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available()) else "python"
    return args


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(args: argparse.Namespace, console: Console) -> int:
    report: dict = {
        "benchmark": "gateway",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "pinned": bool(pin_prefix(BACKEND_CORE)),
                    "python": platform.python_version()},
        "settings": {"generator": args.generator, "duration": args.duration, "warmup": args.warmup,
                     "connections": args.connections, "rate": args.rate, "latency_duration": args.latency_duration,
                     "gateway_core": GATEWAY_CORE, "backend_core": BACKEND_CORE},
        "targets": {"rps_per_core": TARGET_RPS, "added_p50_ms": TARGET_ADDED_P50_MS,
                    "added_p99_ms": TARGET_ADDED_P99_MS, "policies_within": POLICY_OVERHEAD, "peer_ratios": PEER_RATIOS},
        "systems": {},
    }
    broken = False
    with tempfile.TemporaryDirectory(prefix="aigw-bench-gw-") as tmp, \
            ServerPool(Path(tmp) / "logs", BACKEND_CORE) as backend_pool, \
            ServerPool(Path(tmp) / "logs", GATEWAY_CORE) as gateway_pool:
        work = Path(tmp)
        try:
            mock = backend_pool.start(mock_spec(write_mock_config(work / "mock.yaml")))
        except ServerStartError as error:
            console.print(f"[red]the mock would not start:[/] {error}")
            return 1
        systems: list[System | tuple[str, str, str]] = []
        if "plain" in args.variant_list:
            systems.append(ours("ours", "aigw gateway", mock.base_url, work, with_policies=False))
        if "policies" in args.variant_list:
            missing = missing_policies()
            if missing:
                systems.append(("ours+policies", "aigw gateway + policies",
                                f"skipped: policies not registered yet: {', '.join(missing)}"))
            else:
                systems.append(ours("ours+policies", "aigw gateway + token-limit + token-metric", mock.base_url, work,
                                    with_policies=True))
        for peer in args.peer_list:
            try:
                if peer == "litellm":
                    console.print("LiteLLM: checking the install (first run: pip install 'litellm\\[proxy]') …")
                    systems.append(litellm_system(ensure_litellm(), mock.base_url, work))
                else:
                    console.print("Portkey: checking the install (first run: npm install @portkey-ai/gateway) …")
                    systems.append(portkey_system(ensure_portkey(), mock.base_url))
            except (PeerUnavailable, OSError, subprocess.SubprocessError) as error:
                systems.append((peer, peer, f"not available: {error}"))
        for system in systems:
            if isinstance(system, tuple):
                name, label, reason = system
                report["systems"][name] = {"label": label, "skipped": reason}
                console.print(f"[yellow]{label}: {reason}[/]")
                continue
            console.print(f"{system.label} …")
            result = measure(gateway_pool, system, mock.base_url, args, console)
            report["systems"][system.name] = result
            broken |= "error" in result and system.name.startswith("ours")
    render(console, report)
    write_report(console, args.json, report)
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(lambda console: run(args, console), width=140)


if __name__ == "__main__":
    sys.exit(main())
