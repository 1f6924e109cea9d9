"""Run the gateway under uvicorn; ``run_up`` runs it together with mock backends in one process."""

import asyncio
import os
import signal
from dataclasses import dataclass

import uvicorn

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig, load_config
from aigw.protocol.process import prepare_process
from aigw.protocol.server_limits import ServerLimits, uvicorn_options

REGIONS = ("eastus", "swedencentral", "westus")


def _uvicorn_config(app, host: str, port: int, log_level: str) -> uvicorn.Config:
    """One listener for ``app`` (gateway or mock) with the app's own server limits in force
    (``server_limits``: header/body timeouts, header size, connections; ``aigw.protocol.server_limits``)."""
    limits = getattr(app, "server_limits", None) or ServerLimits()
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                          timeout_graceful_shutdown=35, **uvicorn_options(limits))


# Young-generation collections only after this many net allocations (CPython's default is 700).


def serve(config: GatewayConfig, host: str, port: int, log_level: str = "warning") -> None:
    server = uvicorn.Server(_uvicorn_config(GatewayApp(config), host, port, log_level))
    prepare_process()
    server.run()


@dataclass
class UpPlan:
    """Where ``aigw up`` puts things: the gateway on ``port``, one mock per region on the next ports."""

    host: str
    port: int

    def mock_port(self, index: int) -> int:
        return self.port + 1 + index

    def environment(self) -> dict[str, str]:
        return {f"AIGW_MOCK_{region.upper()}": f"http://{self.host}:{self.mock_port(i)}" for i, region in enumerate(REGIONS)}


def mock_config_for_region(region: str, seed: int | None, latency: str | None):
    from aigw.mocks.server import resolve_config

    config = resolve_config(None, seed, latency)
    return config.model_copy(update={"region": region})


async def run_up(plan: UpPlan, gateway_config_path: str | None, seed: int | None, latency: str | None,
                 log_level: str = "warning", ready: asyncio.Event | None = None) -> None:
    """Mocks (one per region) and the gateway in one event loop, until interrupted."""
    from aigw.gateway.config import example_config_path
    from aigw.mocks.app import MockApp

    os.environ.update({k: v for k, v in plan.environment().items() if k not in os.environ})
    config = load_config(gateway_config_path or example_config_path())
    servers = [uvicorn.Server(_uvicorn_config(MockApp(mock_config_for_region(r, seed, latency)), plan.host, plan.mock_port(i), log_level))
               for i, r in enumerate(REGIONS)]
    servers.append(uvicorn.Server(_uvicorn_config(GatewayApp(config), plan.host, plan.port, log_level)))
    for server in servers:
        server.install_signal_handlers = lambda: None
    prepare_process()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()
            raise RuntimeError("a server stopped during start-up (is a port in use?)")
        await asyncio.sleep(0.02)
    if ready is not None:
        ready.set()
    await stop.wait()
    for server in reversed(servers):  # the gateway first, so in-flight requests drain against live mocks
        server.should_exit = True
        await asyncio.sleep(0)
    await asyncio.gather(*tasks, return_exceptions=True)
