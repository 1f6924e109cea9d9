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
- added latency: an open-loop generator (bench/_openloop.py) sends --rate req/s through the system and
  --rate req/s straight to the mock, interleaved in the same run; added p50/p99 = system path minus
  direct path. A peer that cannot sustain --rate is measured at half its closed-loop throughput (shown).

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
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers beside this file

from _loadgen import Target, pin_prefix, run_load, wrk_available  # noqa: E402
from _openloop import run_open_loop  # noqa: E402
from _peer import PeerUnavailable, tools_dir  # noqa: E402
from _servers import RunningServer, ServerPool, ServerSpec, ServerStartError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GATEWAY_CORE, BACKEND_CORE = 0, 1  # the system under test alone; the mock and the load generators together
KEY = "bench-key"  # what bench/_loadgen.py sends as api-key
API_VERSION = "2024-10-21"
AZURE_PATH = f"/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}"
OPENAI_PATH = "/v1/chat/completions"
PROMPT = [{"role": "user", "content": "Hello, how are you?"}]
LITELLM_MASTER_KEY = "sk-bench-master-key-0123456789"
TARGET_RPS = 4000  # per gateway core
TARGET_ADDED_P50_MS, TARGET_ADDED_P99_MS = 1.0, 5.0
POLICY_OVERHEAD = 0.15  # policies on: within 15 % of the plain figures
PEER_RATIOS = {"litellm": 30.0, "portkey": 4.0}


@dataclass
class System:
    """One thing to measure: how to start it, what to send it, and the mock path it forwards to."""

    name: str
    label: str
    spec: ServerSpec
    path: str
    body: dict
    direct_path: str  # the same request straight to the mock, for the added-latency difference
    headers: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 30.0


# --- configuration -------------------------------------------------------------------------------------

def write_mock_config(path: Path) -> Path:
    """The mock's embedded default, latency off, every deployment's tpm/rpm raised out of reach."""
    from importlib import resources

    config = yaml.safe_load(resources.files("aigw.mocks").joinpath("default.yaml").read_text("utf-8"))
    config["latency"] = "off"
    for deployment in config["deployments"]:
        deployment["tpm"] = deployment["rpm"] = 10**12
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


POLICY_INBOUND = [
    {"llm-token-limit": {"counter-key": "@(context.Subscription.Id)", "tokens-per-minute": 10**12,
                         "estimate-prompt-tokens": True, "remaining-tokens-header-name": "x-remaining-tokens"}},
    {"llm-emit-token-metric": {"namespace": "bench", "dimensions": [
        {"name": "API ID"}, {"name": "Subscription ID"}, {"name": "Deployment", "value": "@(context.Deployment)"}]}},
]


def gateway_config(mock_url: str, with_policies: bool) -> dict:
    api: dict = {"id": "azure-openai", "path": "/openai", "kind": "azure-openai", "backend": "mock"}
    if with_policies:
        api["policies"] = {"inbound": POLICY_INBOUND}
    return {"gateway-id": "bench", "backends": [{"id": "mock", "url": f"{mock_url}/openai", "timeout": 30,
                                                 "auth": {"header": "api-key", "value": "mock-key"}}],
            "apis": [api], "products": [{"id": "bench"}],
            "subscriptions": [{"id": "bench", "key": KEY, "product": "bench"}]}


def missing_policies() -> list[str]:
    from aigw.gateway.policies import registry

    return [name for entry in POLICY_INBOUND for name in entry if name not in registry]


def ours(name: str, label: str, mock_url: str, work: Path, with_policies: bool) -> System:
    from aigw.gateway.config import GatewayConfig

    data = gateway_config(mock_url, with_policies)
    GatewayConfig.model_validate(data)  # a config the gateway would refuse is a bench bug: fail here, clearly
    config_path = work / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    aigw = REPO / ".venv" / "bin" / "aigw"
    argv = [str(aigw if aigw.exists() else "aigw"), "gateway", "--config", str(config_path), "--host", "127.0.0.1",
            "--port", "{port}"]
    return System(name, label, ServerSpec(name, argv, cwd=REPO), AZURE_PATH, {"messages": PROMPT, "max_tokens": 20},
                  AZURE_PATH)


# --- peers -----------------------------------------------------------------------------------------------

def ensure_litellm() -> Path:
    """``litellm`` in its own venv under the tools dir (never in ours: its pins would fight ours)."""
    venv = tools_dir() / "litellm-venv"
    binary = venv / "bin" / "litellm"
    if binary.exists():
        return binary
    python = next((p for p in ("python3.11", "python3.12", "python3") if _which(p)), None)
    if python is None:
        raise PeerUnavailable("no python3 to create the LiteLLM venv with")
    for cmd in ([python, "-m", "venv", str(venv)], [str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise PeerUnavailable(f"{' '.join(cmd[:3])} … failed: {out.stderr.strip()[-800:]}")
    if not binary.exists():
        raise PeerUnavailable(f"litellm[proxy] installed but {binary} is missing")
    return binary


def litellm_system(binary: Path, mock_url: str, work: Path) -> System:
    config = {"model_list": [{"model_name": "gpt-4o", "litellm_params": {
                  "model": "azure/gpt-4o", "api_base": mock_url, "api_key": "mock-key", "api_version": API_VERSION}}],
              "litellm_settings": {"telemetry": False},
              "general_settings": {"master_key": LITELLM_MASTER_KEY}}
    path = work / "litellm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    spec = ServerSpec("litellm", [str(binary), "--config", str(path), "--host", "127.0.0.1", "--port", "{port}",
                                  "--num_workers", "1"], cwd=work, env=env)
    version = _package_version(binary.parent / "pip", "litellm")
    return System("litellm", f"LiteLLM proxy {version}", spec, AZURE_PATH, {"messages": PROMPT, "max_tokens": 20},
                  AZURE_PATH, {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}, start_timeout=120.0)


def ensure_portkey() -> Path:
    script = tools_dir() / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if script.exists():
        return script
    npm = _which("npm")
    if npm is None:
        raise PeerUnavailable("npm is not installed (apt-get install -y nodejs npm)")
    out = subprocess.run([npm, "install", "--prefix", str(tools_dir()), "--no-audit", "--no-fund",
                          "@portkey-ai/gateway"], capture_output=True, text=True, timeout=600)
    if out.returncode != 0 or not script.exists():
        raise PeerUnavailable(f"npm install @portkey-ai/gateway failed: {out.stderr.strip()[-800:]}")
    return script


def portkey_system(script: Path, mock_url: str) -> System:
    node = _which("node")
    if node is None:
        raise PeerUnavailable("node is not installed")
    version = json.loads((script.parents[1] / "package.json").read_text()).get("version", "?")
    spec = ServerSpec("portkey", [node, str(script), "--port={port}", "--headless"], env={"NODE_ENV": "production"})
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{mock_url}/v1"}
    return System("portkey", f"Portkey gateway {version}", spec, OPENAI_PATH,
                  {"model": "gpt-4o", "messages": PROMPT, "max_tokens": 20}, OPENAI_PATH, headers)


def _which(name: str) -> str | None:
    from shutil import which

    return which(name)


def _package_version(pip: Path, package: str) -> str:
    try:
        out = subprocess.run([str(pip), "show", package], capture_output=True, text=True, timeout=60)
        return next((line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")),
                    "?")
    except (OSError, subprocess.SubprocessError):
        return "?"


# --- measuring -------------------------------------------------------------------------------------------

def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of every process in a process group (a server and anything it spawned)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, …, utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / tick


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


def measure(pool: ServerPool, system: System, mock_url: str, args: argparse.Namespace) -> dict:
    body = json.dumps(system.body, separators=(",", ":")).encode()
    server: RunningServer | None = None
    try:
        server = pool.start(system.spec, timeout=system.start_timeout)
        checked = probe(server.base_url + system.path, body, system.headers)
        target = Target(server.base_url + system.path, body, headers=tuple(system.headers.items()))
        if args.warmup > 0:
            run_load(target, generator=args.generator, duration=args.warmup, warmup=0, connections=args.connections,
                     core=BACKEND_CORE)
        cpu_before = group_cpu_seconds(server.process.pid)
        load = run_load(target, generator=args.generator, duration=args.duration, warmup=0,
                        connections=args.connections, core=BACKEND_CORE)
        cpu = group_cpu_seconds(server.process.pid) - cpu_before
        rate = args.rate if load.rps >= 2 * args.rate else max(20.0, round(load.rps / 2))
        latency = run_open_loop(
            [{"name": "system", "url": server.base_url + system.path, "body": body.decode(),
              "headers": {"api-key": KEY, **system.headers}},
             {"name": "direct", "url": mock_url + system.direct_path, "body": body.decode(),
              "headers": {"api-key": KEY}}],
            rate=rate, duration=args.latency_duration, warmup=min(args.warmup, 2.0), core_prefix=pin_prefix(BACKEND_CORE))
        through, direct = latency["system"], latency["direct"]
        added = {f"added_{q}_ms": round(through[f"{q}_ms"] - direct[f"{q}_ms"], 3)
                 if through[f"{q}_ms"] is not None and direct[f"{q}_ms"] is not None else None for q in ("p50", "p99")}
        return {"label": system.label, **load.as_dict(), "cpu_seconds": round(cpu, 2),
                "rps_per_cpu_second": round(load.requests / cpu, 1) if cpu > 0 else None,
                "latency_rate": rate, "latency": latency, **added, "probe": checked}
    except (ServerStartError, RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        return {"label": system.label, "error": f"{type(error).__name__}: {error}"}
    finally:
        if server is not None:
            pool.stop(server)


# --- report ----------------------------------------------------------------------------------------------

def judge(report: dict) -> list[str]:
    """The targets, each as one printed line with its verdict (never asserted)."""
    runs = report["systems"]
    plain = runs.get("ours")
    lines: list[str] = []

    def verdict(ok: bool | None) -> str:
        return {True: "[green]met[/]", False: "[red]not met[/]", None: "—"}[ok]

    if plain and "error" not in plain:
        per_core = plain.get("rps_per_cpu_second") or 0
        lines.append(f"ours ≥{TARGET_RPS:,} req/s per gateway core: {plain['rps']:,.0f} req/s wall, "
                     f"{per_core:,.0f} per CPU-second → {verdict(max(plain['rps'], per_core) >= TARGET_RPS)}")
        for q, goal in (("p50", TARGET_ADDED_P50_MS), ("p99", TARGET_ADDED_P99_MS)):
            value = plain.get(f"added_{q}_ms")
            lines.append(f"ours added {q} ≤{goal:g} ms at {plain['latency_rate']:g} req/s: "
                         f"{value if value is not None else '—'} ms → {verdict(value is not None and value <= goal)}")
        policies = runs.get("ours+policies")
        if policies and "error" not in policies and "skipped" not in policies:
            ratio = policies["rps"] / plain["rps"] if plain["rps"] else 0
            cpu_ratio = ((policies.get("rps_per_cpu_second") or 0) / per_core) if per_core else 0
            lines.append(f"policies on within {POLICY_OVERHEAD:.0%}: {ratio:.2f}× the plain req/s "
                         f"({cpu_ratio:.2f}× per CPU-second), added p50 {policies.get('added_p50_ms')} ms, "
                         f"p99 {policies.get('added_p99_ms')} ms → "
                         f"{verdict(max(ratio, cpu_ratio) >= 1 - POLICY_OVERHEAD)}")
        for peer, goal in PEER_RATIOS.items():
            other = runs.get(peer)
            if not other or "error" in other or "skipped" in other:
                continue
            ratio = plain["rps"] / other["rps"] if other["rps"] else None
            cpu_ratio = (per_core / other["rps_per_cpu_second"]) if other.get("rps_per_cpu_second") else None
            lower = (plain.get("added_p50_ms") is not None and other.get("added_p50_ms") is not None
                     and plain["added_p50_ms"] < other["added_p50_ms"])
            best = max(r for r in (ratio, cpu_ratio) if r is not None) if (ratio or cpu_ratio) else None
            lines.append(f"ours vs {other['label']}: {ratio:.1f}× req/s wall, "
                         f"{cpu_ratio:.1f}× per CPU-second (goal ≥{goal:g}×) → {verdict(best is not None and best >= goal)}; "
                         f"added p50 {plain.get('added_p50_ms')} vs {other.get('added_p50_ms')} ms → {verdict(lower)}")
    return lines


def _fmt(value, pattern: str = "{:,.0f}") -> str:
    return "—" if value is None else pattern.format(value)


def render(console: Console, report: dict) -> None:
    machine, settings = report["machine"], report["settings"]
    table = Table(title=f"Gateway benchmark — {machine['cpu_count']} cores, {machine['cpu_model']}")
    for column in ("system", "req/s", "req/s per CPU-s", "p50/p99 ms (closed loop)", "rate", "added p50 ms",
                   "added p99 ms", "direct p50/p99 ms"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name, run in report["systems"].items():
        if "skipped" in run or "error" in run:
            table.add_row(run.get("label", name), "[yellow]skipped[/]" if "skipped" in run else "[red]error[/]",
                          *["—"] * 6)
            continue
        direct = run["latency"]["direct"]
        table.add_row(run["label"], _fmt(run["rps"]) + (f" [yellow]({run['failures']} failed)[/]" if run["failures"] else ""),
                      _fmt(run["rps_per_cpu_second"]), f"{_fmt(run['p50_ms'], '{:.2f}')} / {_fmt(run['p99_ms'], '{:.2f}')}",
                      f"{run['latency_rate']:g}/s", _fmt(run["added_p50_ms"], "{:.3f}"), _fmt(run["added_p99_ms"], "{:.3f}"),
                      f"{_fmt(direct['p50_ms'], '{:.2f}')} / {_fmt(direct['p99_ms'], '{:.2f}')}")
    console.print(table)
    console.print(f"layout: system under test on core {GATEWAY_CORE}; mock + load generators on core {BACKEND_CORE}"
                  + ("" if machine["pinned"] else " [yellow](taskset unavailable or one core: NOT pinned)[/]")
                  + f"; {settings['generator']} closed loop, {settings['connections']} connections, "
                  f"{settings['duration']:g} s after {settings['warmup']:g} s warm-up; added latency: open loop, "
                  f"system and direct interleaved, {settings['latency_duration']:g} s at the rate shown")
    console.print(f"load average at start: {machine['load_average']} (other work on the machine lowers the wall "
                  f"figures; the per-CPU-second column does not depend on it)")
    for line in judge(report):
        console.print("  " + line)
    for name, run in report["systems"].items():
        if "skipped" in run:
            console.print(f"[yellow]{run.get('label', name)}: {run['skipped']}[/]")
        elif "error" in run:
            console.print(f"[red]{run.get('label', name)}:[/] {run['error']}")


# --- main ------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="closed-loop measured seconds (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    parser.add_argument("--connections", type=int, default=64, help="closed-loop keep-alive connections")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop req/s per path for added latency")
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
                    "python": platform.python_version(), "load_average": [round(x, 2) for x in os.getloadavg()]},
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
        aigw = REPO / ".venv" / "bin" / "aigw"
        mock_spec = ServerSpec("mock", [str(aigw if aigw.exists() else "aigw"), "mock", "--host", "127.0.0.1", "--port",
                                        "{port}", "--config", str(write_mock_config(work / "mock.yaml")),
                                        "--latency", "off", "--workers", "1"], cwd=REPO)
        try:
            mock = backend_pool.start(mock_spec)
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
            result = measure(gateway_pool, system, mock.base_url, args)
            report["systems"][system.name] = result
            broken |= "error" in result and system.name.startswith("ours")
    render(console, report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"report: {args.json}")
    return 1 if broken else 0


def _terminate(signum, frame):  # SIGTERM → the same clean-up path as Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    try:
        return run(args, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers stopped, no report written[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
