"""The embedded load target: three mock regions and the gateway, in a child process of ``aigw load``.

It is ``aigw up`` (gateway/server.py) with three differences that a load test needs:

* the mocks' own TPM/RPM are raised out of reach, so every 429 a scenario sees is the gateway's (or one a
  scenario injected through the mock admin API on purpose) — not the backend running out of quota;
* the gateway config is the shipped example arranged for the scenarios (``load_target_config``: /openai
  without the semantic cache, /cached/openai with it, an MCP API), unless ``--gateway-config``;
* ``--clock-offset`` shifts the gateway's clock so a per-minute token window can roll over inside a short
  run (throttled clients then have something to recover into); the scenarios are told the same offset.

It runs as ``python -m aigw.load.target`` so the servers never share a process (or gevent's monkey
patching) with Locust, and prints one JSON line ``{"gateway": URL, "mocks": {region: URL}}`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CACHED_API_PATH = "/cached/openai"
MCP_API_PATH = "/mcp"
START_TIMEOUT_S = 30.0


CACHE_POLICIES = ("llm-semantic-cache-lookup", "azure-openai-semantic-cache-lookup",
                  "llm-semantic-cache-store", "azure-openai-semantic-cache-store")


def load_target_config(example_text: str) -> dict:
    """The example gateway config, arranged for the scenarios (a plain dict; ``${VAR}`` references intact):

    * ``/openai`` without a semantic cache, so rate-limit, failover and streaming traffic reaches the
      backends (answers from a cache would cost no tokens and skip the backends being failed over);
    * ``/cached/openai``: the same backends and backend policies behind the semantic cache (caching);
    * an MCP API: the example's own if it has one, else ``/mcp`` → the eastus mock's MCP server (mixed).
    """
    config = yaml.safe_load(example_text)
    eastus = "${AIGW_MOCK_EASTUS:-http://127.0.0.1:8081}"
    example_api = next((api for api in config["apis"] if api["path"] == "/openai"), None)
    if example_api is None:
        raise ValueError("the example gateway config has no /openai API to load")
    policies = example_api.setdefault("policies", {})
    cache = {section: [p for p in policies.get(section, []) if next(iter(p)) in CACHE_POLICIES]
             for section in ("inbound", "outbound")}
    for section in ("inbound", "outbound"):
        policies[section] = [p for p in policies.get(section, []) if next(iter(p)) not in CACHE_POLICIES]
    if not cache["inbound"]:
        config["backends"].append({"id": "load-embeddings", "timeout": 5,
                                   "url": f"{eastus}/openai/deployments/text-embedding-3-small/embeddings"})
        cache = {"inbound": [{"llm-semantic-cache-lookup": {
                     "score-threshold": 0.1, "embeddings-backend-id": "load-embeddings", "ignore-system-messages": True,
                     "vary-by": ["@(context.Subscription.Id)"]}}],
                 "outbound": [{"llm-semantic-cache-store": {"duration": 600}}]}
    config["apis"].append({
        "id": "cached-openai", "path": CACHED_API_PATH, "kind": example_api.get("kind", "azure-openai"),
        "backend": example_api["backend"], "subscription-key-header": example_api.get("subscription-key-header", "api-key"),
        "policies": {"inbound": cache["inbound"], "backend": policies.get("backend", []), "outbound": cache["outbound"]}})
    if not any(api.get("kind") == "mcp" for api in config["apis"]):
        config["backends"].append({"id": "load-mcp", "url": f"{eastus}/mcp", "timeout": 30})
        config["apis"].append({"id": "mcp", "path": MCP_API_PATH, "kind": "mcp", "backend": "load-mcp"})
    return config


def mcp_path(config: dict) -> str:
    return next((api["path"] for api in config.get("apis") or [] if api.get("kind") == "mcp"), MCP_API_PATH)


def clock_offset_for(roll_in_s: float, now: float | None = None, window_s: float = 60.0) -> float:
    """The offset (0 ≤ offset < window) that makes the gateway's next window boundary come ``roll_in_s`` from now."""
    now = time.time() if now is None else now
    return (window_s - roll_in_s - (now % window_s)) % window_s


# -- the child process --------------------------------------------------------------------------------


def _unlimited_mock_config(region: str, seed: int | None, latency: str | None):
    from aigw.gateway.server import mock_config_for_region
    from aigw.mocks.config import MockConfig

    config = mock_config_for_region(region, seed, latency).model_dump()
    for deployment in config["deployments"]:
        deployment["tpm"] = deployment["rpm"] = 10**12
    return MockConfig.model_validate(config)


async def _serve(host: str, ports: list[int], gateway_config: str, seed: int | None, latency: str | None,
                 clock_offset: float) -> None:
    import uvicorn

    from aigw.gateway.app import GatewayApp
    from aigw.gateway.config import load_config
    from aigw.gateway.server import REGIONS, _uvicorn_config
    from aigw.gateway.services import Services
    from aigw.mocks.app import MockApp

    mocks = {region: f"http://{host}:{ports[i + 1]}" for i, region in enumerate(REGIONS)}
    os.environ.update({f"AIGW_MOCK_{region.upper()}": url for region, url in mocks.items()})
    config = load_config(gateway_config)
    services = Services.create(config)
    if clock_offset:
        services.clock = lambda: time.time() + clock_offset
    apps = [MockApp(_unlimited_mock_config(region, seed, latency)) for region in REGIONS] + [GatewayApp(config, services)]
    servers = [uvicorn.Server(_uvicorn_config(app, host, port, "warning")) for app, port in zip(apps, ports[1:] + ports[:1])]
    for server in servers:
        server.install_signal_handlers = lambda: None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            raise SystemExit("aigw load target: a server stopped during start-up (is a port in use?)")
        await asyncio.sleep(0.02)
    print(json.dumps({"gateway": f"http://{host}:{ports[0]}", "mocks": mocks, "clock_offset": clock_offset}), flush=True)
    await stop.wait()
    for server in reversed(servers):  # the gateway first, so in-flight requests drain against live mocks
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aigw.load.target", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True, help="gateway,eastus,swedencentral,westus")
    parser.add_argument("--gateway-config", required=True)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--latency", default="fast")
    parser.add_argument("--clock-offset", type=float, default=0.0)
    args = parser.parse_args(argv)
    ports = [int(p) for p in args.ports.split(",")]
    asyncio.run(_serve(args.host, ports, args.gateway_config, args.seed, args.latency, args.clock_offset))


# -- the parent side ----------------------------------------------------------------------------------


class TargetError(RuntimeError):
    """The embedded target would not start; the message says why."""


def free_ports(count: int) -> list[int]:
    """Distinct free ports for the child process, drawn below the ephemeral range (see _free_port)."""
    from aigw.mocks.selftest import _free_port

    ports: list[int] = []
    while len(ports) < count:
        port = _free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class EmbeddedTarget:
    """Start the embedded target as a child process; ``with EmbeddedTarget() as target: target.gateway``."""

    gateway_config: str | None = None  # None: the example plus the load APIs
    latency: str = "fast"
    seed: int | None = None
    clock_offset: float = 0.0
    gateway: str = ""
    mocks: dict[str, str] = field(default_factory=dict)
    mcp_path: str = MCP_API_PATH
    _process: subprocess.Popen | None = None
    _log: object = None
    _workdir: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> "EmbeddedTarget":
        self._workdir = tempfile.TemporaryDirectory(prefix="aigw-load-target-")
        config = self.gateway_config or self._write_default_config(Path(self._workdir.name))
        if self.gateway_config:
            try:
                self.mcp_path = mcp_path(yaml.safe_load(Path(self.gateway_config).read_text("utf-8")) or {})
            except (OSError, yaml.YAMLError, AttributeError):
                pass  # the gateway reports a bad config itself, with file and line
        argv = [sys.executable, "-m", "aigw.load.target", "--ports", ",".join(map(str, free_ports(4))),
                "--gateway-config", str(config), "--latency", self.latency, "--clock-offset", repr(self.clock_offset)]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        self._log = open(Path(self._workdir.name) / "target.log", "w+")  # a file: a chatty child never blocks
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            ready = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.gateway, self.mocks = ready["gateway"], ready["mocks"]
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _write_default_config(self, folder: Path) -> Path:
        from aigw.gateway.config import example_config_path

        config = load_target_config(example_config_path().read_text("utf-8"))
        self.mcp_path = mcp_path(config)
        path = folder / "load-target.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _wait_ready(self) -> dict:
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = self._process.stdout.readline()
                if line.startswith("{"):
                    return json.loads(line)
                if not line and self._process.poll() is not None:
                    break
            elif self._process.poll() is not None:
                break
        self._process.kill()
        self._log.seek(0)
        errors = self._log.read().strip().splitlines()[-5:]
        raise TargetError("the embedded target (mocks + gateway) did not start: " + (" | ".join(errors) or "timed out"))

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None:
            self._process.stdout.close()
            self._log.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


if __name__ == "__main__":
    main()
