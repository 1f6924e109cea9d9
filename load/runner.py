"""Run one scenario headless (or with the web UI): target, Locust processes, analysis, report, verdict.

Locust always runs in child processes (``python -m locust``): it monkey-patches everything with gevent,
which must never reach this process, the tests or the servers. With ``workers`` it runs Locust's own
distributed mode on this machine — a master plus N worker processes on a free local port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aigw.load import SCENARIOS, SHAPES, analysis, charts, metrics, report
from aigw.load.schedule import check_backends, load_schedule, parse_mocks
from aigw.load.sla import evaluate, load_sla, passed
from aigw.load.target import EmbeddedFactory, clock_offset_for
from aigw.protocol.serving import free_port

STARTUP_ALLOWANCE_S = 1.5  # from the target being ready to Locust's first request
GRACE_S = 90.0  # Locust gets this long past --duration before it is stopped


class LoadError(RuntimeError):
    """The run could not happen or produced nothing to judge; the message says why."""


def locustfile(scenario: str) -> Path:
    if scenario not in SCENARIOS:
        raise LoadError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    return Path(str(resources.files("aigw.load").joinpath("scenarios", SCENARIOS[scenario])))


def shapefile(shape: str) -> Path:
    if shape not in SHAPES:
        raise LoadError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    return Path(str(resources.files("aigw.load").joinpath("shapes", f"{shape}.py")))


@dataclass
class LoadRun:
    scenario: str
    target: str | None = None  # None: start the embedded target
    users: int = 10
    spawn_rate: float | None = None
    duration: float = 60.0
    shape: str | None = None
    workers: int = 0
    sla: str | None = None
    report_dir: Path = Path("reports/load")
    ui: bool = False
    web_port: int = 8089
    locust_args: list[str] = field(default_factory=list)  # scenario options, passed through
    gateway_config: str | None = None  # embedded target only
    latency: str = "fast"  # embedded target only
    window_reset_after: float | None = None  # embedded target only (rate-limit)
    seed: int = 0


@dataclass
class Outcome:
    exit_code: int  # 0 every gate passed, 1 a gate failed
    summary: dict[str, Any]
    folder: Path


def run(plan: LoadRun, echo=print, embedded: EmbeddedFactory | None = None) -> Outcome:
    """Run ``plan`` against ``plan.target``, or without one against the target ``embedded`` starts
    (``aigw.stack.run.load_target``: the caller decides how, load only gets its URLs)."""
    file = locustfile(plan.scenario)
    shape = shapefile(plan.shape) if plan.shape else None
    sla = load_sla(plan.sla)  # a bad SLA file fails before any load
    folder = Path(plan.report_dir) / plan.scenario
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if plan.target:
        _check_schedule(plan, plan.locust_args)
        code = _run_locust(plan, file, shape, plan.target, plan.locust_args, folder, echo)
        target_name = plan.target
    else:
        if embedded is None:
            raise LoadError("no target: give --target URL (or start the embedded one, as `aigw load` does)")
        offset = _clock_offset(plan)
        with embedded(offset) as target:
            args = _embedded_defaults(plan, target, offset) + plan.locust_args
            _check_schedule(plan, args)
            echo(f"aigw load: embedded target — gateway {target.gateway}, mocks "
                 + ", ".join(f"{r} {u}" for r, u in target.mocks.items()))
            code = _run_locust(plan, file, shape, target.gateway, args, folder, echo)
        target_name = "embedded"
    return _judge(plan, folder, target_name, sla, code)


def _clock_offset(plan: LoadRun) -> float:
    """For a short rate-limit run on the embedded target: let the gateway's minute roll mid-run."""
    if plan.scenario != "rate-limit":
        return 0.0
    reset_after = plan.window_reset_after
    if reset_after is None:
        if plan.duration >= 120:
            return 0.0  # long runs cross real minute boundaries anyway
        reset_after = plan.duration / 2
    return clock_offset_for(STARTUP_ALLOWANCE_S + reset_after)


def _embedded_defaults(plan: LoadRun, target, offset: float) -> list[str]:
    """Scenario options that point a scenario at the embedded target's pieces (the user's come after)."""
    if plan.scenario == "caching":
        return ["--api-path", target.cached_api_path or "/openai"]
    if plan.scenario == "failover":
        return ["--mock-admin", ",".join(f"{r}={u}" for r, u in target.mocks.items())]
    if plan.scenario == "mixed":
        return ["--mcp-path", target.mcp_path]
    if plan.scenario == "rate-limit":
        return ["--window-offset", f"{offset:.3f}"]
    return []


def _option(args: list[str], name: str) -> str | None:
    value = None
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def _check_schedule(plan: LoadRun, args: list[str]) -> None:
    if plan.scenario != "failover":
        return
    mocks = parse_mocks(_option(args, "--mock-admin") or "")
    if not mocks:
        raise LoadError("failover needs the mocks' admin URLs: -- --mock-admin eastus=http://HOST:PORT,... "
                        "(the embedded target fills them in)")
    check_backends(load_schedule(_option(args, "--schedule"), plan.duration), mocks)


def locust_command(plan: LoadRun, file: Path, shape: Path | None, host: str, args: list[str], folder: Path,
                   role: str = "local", master_port: int | None = None) -> list[str]:
    files = f"{file},{shape}" if shape else str(file)
    base = [sys.executable, "-m", "locust", "-f", files, "--host", host, "--seed", str(plan.seed), "--loglevel", "WARNING"]
    if role == "worker":
        return base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)] + args
    command = base + ["-u", str(plan.users), "-r", str(plan.spawn_rate or plan.users), "-t", f"{plan.duration:g}s",
                      "--stop-timeout", "5", "--csv", str(folder / "locust"), "--html", str(folder / "locust.html"),
                      "--json-file", str(folder / "locust"), "--observations", str(folder / "observations.json"),
                      "--only-summary"]
    command += ["--autostart", "--autoquit", "3", "--web-port", str(plan.web_port)] if plan.ui else ["--headless"]
    if role == "master":
        command += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
                    "--expect-workers", str(plan.workers)]
    return command + args


def _run_locust(plan: LoadRun, file: Path, shape: Path | None, host: str, args: list[str], folder: Path, echo) -> int:
    log_path = folder / "locust.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if plan.ui:
        echo(f"aigw load: web UI on http://127.0.0.1:{plan.web_port} (starts at once, quits 3 s after the run)")
    with open(log_path, "w", encoding="utf-8") as log:
        if not plan.workers:
            process = subprocess.Popen(locust_command(plan, file, shape, host, args, folder), stdout=log, stderr=log, env=env)
            return _wait(process, plan.duration + GRACE_S, log_path)
        port = free_port()
        master = subprocess.Popen(locust_command(plan, file, shape, host, args, folder, "master", port),
                                  stdout=log, stderr=log, env=env)
        workers = [subprocess.Popen(locust_command(plan, file, shape, host, args, folder, "worker", port),
                                    stdout=log, stderr=log, env=env) for _ in range(plan.workers)]
        try:
            return _wait(master, plan.duration + GRACE_S + 30, log_path)
        finally:
            for worker in workers:
                _wait(worker, 15, log_path, quiet=True)


def _wait(process: subprocess.Popen, timeout: float, log_path: Path, quiet: bool = False) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if quiet:
            return -1
        raise LoadError(f"Locust did not finish in time; see {log_path}") from None


def analyze(plan: LoadRun, folder: Path) -> Outcome:
    """Judge a run that already happened (e.g. plain ``locust --master`` across machines) from its files."""
    sla = load_sla(plan.sla)
    if not (Path(folder) / "locust.json").exists():
        raise LoadError(f"{folder}: no locust.json here; run Locust with --json-file {Path(folder) / 'locust'} "
                        f"--observations {Path(folder) / 'observations.json'}")
    return _judge(plan, Path(folder), plan.target or "unknown", sla, 0)


def _judge(plan: LoadRun, folder: Path, target: str, sla, locust_code: int) -> Outcome:
    stats = folder / "locust.json"
    if not stats.exists():
        log = folder / "locust.log"
        tail = "\n".join(log.read_text("utf-8", "replace").strip().splitlines()[-15:]) if log.exists() else ""
        raise LoadError(f"Locust produced no statistics (exit code {locust_code}); the end of its log:\n{tail}")
    run_data = analysis.load_run(stats, folder / "observations.json" if (folder / "observations.json").exists() else None)
    overall, per_name = analysis.overall(run_data), analysis.per_name(run_data)
    figures = metrics.scenario_metrics(run_data)
    gates = evaluate(plan.scenario, sla, overall, per_name, figures)
    drawn = charts.draw_all(run_data, folder, figures)
    if run_data.observations and run_data.scenario != plan.scenario:
        raise LoadError(f"{folder}: these observations are from the {run_data.scenario} scenario, not {plan.scenario}")
    summary = {"scenario": plan.scenario, "target": target, "finished": time.time(), "passed": passed(gates),
               "settings": {"users": plan.users, "spawn_rate": plan.spawn_rate or plan.users, "duration_s": plan.duration,
                            "shape": plan.shape, "workers": plan.workers, "sla": plan.sla, "locust_args": plan.locust_args},
               "gates": [g.as_dict() for g in gates], "overall": overall, "metrics": figures, "per_name": per_name,
               "files": sorted({p.name for p in folder.iterdir()} | {"summary.json", "summary.html"}),
               "locust_exit_code": locust_code}
    report.write_json(folder / "summary.json", summary)
    report.write_html(folder / "summary.html", summary, drawn)
    report.print_overview(summary)
    report.print_gates(gates)
    return Outcome(0 if summary["passed"] else 1, summary, folder)
