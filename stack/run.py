"""Run the embedded default: every server on one event loop, in the foreground, a thread or a child process.

``serve`` binds every port first — a taken port is one ``PortInUse`` naming it and its role before anything
starts — then builds the apps, starts the servers, reports ``Endpoints`` once all of them accept
connections, and on ``stop`` shuts the gateway down first (in-flight requests drain against live mocks).

* ``run_foreground(plan)``: ``aigw up`` — until SIGINT/SIGTERM.
* ``in_thread(plan)``: a context manager for tests: the servers share this process (fast to start).
* ``in_process(plan)``: a context manager for ``aigw check``, ``aigw load`` and benches: the servers run in
  a child process (``python -m aigw.stack``) with their own interpreter and core, their log in a file;
  the child ends with its parent (it watches its stdin).

Designed to grow a ``replicas`` count of gateway processes on a shared store: ``Endpoints.reset_urls``
already lists one admin URL per gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from aigw.protocol.serving import OwnedServer, PortInUse, free_port, listening_socket, uvicorn_config
from aigw.stack.plan import Endpoints, StackPlan

START_TIMEOUT_S = 90.0  # a busy 2-core machine can take a while to import and build everything
STOP_TIMEOUT_S = 20.0


class StackError(RuntimeError):
    """The stack would not start; ``str()`` says why, in one line for a person."""


@dataclass(frozen=True)
class Customize:
    """In-process changes a test makes to the stack (the deliberately broken targets): ``gateway_config`` edits the
    config's YAML data, ``wrap_gateway`` wraps the gateway app. Not plain data, so for ``in_thread`` only; the
    endpoints still declare the capabilities of the configuration as planned (a sabotaged target claims what it
    no longer delivers)."""

    gateway_config: Callable[[dict], None] | None = None
    wrap_gateway: Callable[[Any], Any] | None = None


async def serve(plan: StackPlan, ready: Callable[[Endpoints], None], stop: asyncio.Event,
                prepare: bool = False, customize: Customize = Customize()) -> None:
    """Start everything ``plan`` asks for, call ``ready(endpoints)``, run until ``stop`` is set."""
    from aigw.gateway.app import GatewayApp
    from aigw.gateway.services import Services
    from aigw.mocks.app import MockApp
    from aigw.stack import configs

    sockets, ports = _bind(plan)
    try:
        mock_urls = {region: f"http://{plan.host}:{ports[i + 1]}" for i, region in enumerate(plan.regions)}
        mocks = [configs.mock_config(region, plan.seed, plan.latency, unlimited=plan.variant == "load")
                 for region in plan.regions]
        env = configs.environment(mock_urls, plan.admin_token)
        gateway_config = configs.gateway_config(plan.variant, plan.gateway_config, env)
        served = gateway_config
        if customize.gateway_config is not None:
            served = configs.gateway_config(plan.variant, plan.gateway_config, env, customize.gateway_config)
        services = Services.create(served)
        if plan.clock_offset:
            offset = plan.clock_offset
            services.clock = lambda: time.time() + offset
        built = [GatewayApp(served, services), *(MockApp(config) for config in mocks)]
        apps = [customize.wrap_gateway(built[0]) if customize.wrap_gateway else built[0], *built[1:]]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    gateway = f"http://{plan.host}:{ports[0]}"
    tenants, fuzz = configs.subscription_keys(gateway_config)
    admin = gateway_config.admin.token
    endpoints = Endpoints(
        gateway=gateway, mocks=mock_urls, keys=tenants, fuzz_key=fuzz, admin_token=admin,
        metrics_key=gateway_config.security.metrics_key,
        reset_urls=[gateway + "/_aigw/reset"] if admin else [], mcp_path=configs.mcp_path(gateway_config),
        cached_api_path=configs.cached_api_path(gateway_config),
        clock_offset=plan.clock_offset,
        capabilities=configs.capabilities(gateway_config), model_limits=configs.model_limits(mocks[0]))
    servers = [OwnedServer(uvicorn_config(app, plan.host, port, limits=own.server_limits, log_level=plan.log_level))
               for app, own, port in zip(apps, built, ports)]
    if prepare:
        from aigw.protocol.process import prepare_process

        prepare_process()
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in zip(servers, sockets)]
    try:
        while not all(server.started for server in servers):
            failed = next((task for task in tasks if task.done()), None)
            if failed is not None:
                error = failed.exception() if not failed.cancelled() else None
                raise StackError(f"a server stopped while starting: {error!r}" if error else "a server stopped while starting")
            await asyncio.sleep(0.01)
        ready(endpoints)
        await stop.wait()
    finally:
        servers[0].should_exit = True  # the gateway first: its in-flight requests drain against live mocks
        await asyncio.gather(tasks[0], return_exceptions=True)
        for server in servers[1:]:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


def _bind(plan: StackPlan) -> tuple[list, list[int]]:
    """Listening sockets for the gateway and each mock, in that order."""
    roles = ["gateway", *(f"mock {region}" for region in plan.regions)]
    sockets: list = []
    try:
        for index, role in enumerate(roles):
            if plan.port is not None:
                sockets.append(listening_socket(plan.host, plan.port + index, role))
                continue
            for attempt in range(20):  # a free port can be taken by someone else before we bind it
                try:
                    sockets.append(listening_socket(plan.host, free_port(plan.host), role))
                    break
                except PortInUse:
                    if attempt == 19:
                        raise
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets, [sock.getsockname()[1] for sock in sockets]


def _runner() -> asyncio.Runner:
    import uvloop

    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run_foreground(plan: StackPlan, ready: Callable[[Endpoints], None]) -> None:
    """Serve until SIGINT or SIGTERM (``aigw up``)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(plan, ready, stop, prepare=True)

    with _runner() as runner:
        runner.run(main())


@contextlib.contextmanager
def in_thread(plan: StackPlan, customize: Customize = Customize()) -> Iterator[Endpoints]:
    """The stack in a background thread of this process, stopped when the block ends."""
    started: dict = {}
    ready = threading.Event()
    holder: dict = {}

    async def main() -> None:
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()

        def on_ready(endpoints: Endpoints) -> None:
            started["endpoints"] = endpoints
            ready.set()

        await serve(plan, on_ready, holder["stop"], customize=customize)

    def target() -> None:
        try:
            with _runner() as runner:
                runner.run(main())
        except BaseException as exc:  # reported to the caller below
            started["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=target, name="aigw-stack", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or "endpoints" not in started:
        _stop_thread(holder, thread)
        error = started.get("error")
        if isinstance(error, (PortInUse, StackError)):
            raise error
        raise StackError(f"the embedded stack did not start: {error!r}" if error else "the embedded stack did not start in time")
    try:
        yield started["endpoints"]
    finally:
        _stop_thread(holder, thread)


def _stop_thread(holder: dict, thread: threading.Thread) -> None:
    loop, stop = holder.get("loop"), holder.get("stop")
    if loop is not None and stop is not None and not loop.is_closed():
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)
    thread.join(STOP_TIMEOUT_S)


@contextlib.contextmanager
def in_process(plan: StackPlan, log_path: str | Path | None = None) -> Iterator[Endpoints]:
    """The stack in a child process (``python -m aigw.stack``), stopped when the block ends.

    Its log (the servers' stderr) goes to ``log_path`` (default: a temporary file, removed afterwards);
    a start-up failure raises ``StackError`` (``PortInUse`` for a taken port) with the log's last lines.
    """
    workdir = None
    if log_path is None:
        workdir = tempfile.TemporaryDirectory(prefix="aigw-stack-")
        log_path = Path(workdir.name) / "stack.log"
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w+")
    process = subprocess.Popen([sys.executable, "-m", "aigw.stack", "--plan", plan.to_json()],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        endpoints = _wait_ready(process, log)
        endpoints.log = str(log_path) if workdir is None else None
        yield endpoints
    finally:
        _stop_process(process)
        log.close()
        if workdir is not None:
            workdir.cleanup()


def load_target(gateway_config: str | None = None, latency: str | None = "fast", seed: int | None = None,
                log_path: str | Path | None = None) -> Callable[[float], contextlib.AbstractContextManager[Endpoints]]:
    """``aigw load``'s embedded target (``variant="load"`` in a child process) as the factory
    ``aigw.load.runner.run`` takes: called with the gateway's clock offset, it starts the stack."""
    return lambda offset: in_process(StackPlan(variant="load", gateway_config=gateway_config, latency=latency, seed=seed,
                                               clock_offset=offset), log_path)


def _wait_ready(process: subprocess.Popen, log) -> Endpoints:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            if line.startswith("{"):
                message = json.loads(line)
                if "error" in message:
                    raise (PortInUse(**message["port_in_use"]) if "port_in_use" in message else StackError(message["error"]))
                return Endpoints(**message)
            if not line and process.poll() is not None:
                break
        elif process.poll() is not None:
            break
    log.flush()
    log.seek(0)
    tail = " | ".join(log.read().strip().splitlines()[-5:])
    reason = "timed out" if process.poll() is None else f"exit status {process.returncode}"
    raise StackError(f"the embedded stack did not start ({reason}){': ' + tail if tail else ''}")


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError):
            stream.close()


def child_main(argv: list[str] | None = None) -> int:
    """``python -m aigw.stack --plan JSON``: serve, print the endpoints as one JSON line, stop on SIGTERM,
    SIGINT or when the parent goes away (stdin closes)."""
    import argparse

    from aigw.protocol.yamlconfig import ConfigError

    parser = argparse.ArgumentParser(prog="python -m aigw.stack", description=child_main.__doc__)
    parser.add_argument("--plan", required=True, help="a StackPlan as JSON")
    plan = StackPlan.from_json(parser.parse_args(argv).plan)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if not sys.stdin.isatty():
            loop.add_reader(sys.stdin.fileno(), lambda: os.read(sys.stdin.fileno(), 4096) or stop.set())

        def ready(endpoints: Endpoints) -> None:
            print(endpoints.to_json(), flush=True)

        await serve(plan, ready, stop, prepare=True)

    try:
        with _runner() as runner:
            runner.run(main())
    except PortInUse as exc:
        print(json.dumps({"error": str(exc), "port_in_use": {"host": exc.host, "port": exc.port, "role": exc.role,
                                                              "reason": exc.reason}}), flush=True)
        return 2
    except (ConfigError, StackError, ValueError) as exc:
        print(json.dumps({"error": str(exc).replace("\n", " ")}), flush=True)
        return 2
    return 0
