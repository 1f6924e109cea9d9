"""How every server of ours listens: one uvicorn configuration, our own listening sockets, free ports.

One ``uvicorn_config`` for the mock, the recorder, the gateway and the embedded default (``aigw.stack``),
so server-level settings (event loop, HTTP protocol with its bounds from ``aigw.protocol.server_limits``,
keep-alive, graceful shutdown) are decided in one place and every server gets them.

Servers are handed a socket this module bound (``listening_socket``) instead of letting uvicorn bind:
a port that is taken is then one ``PortInUse`` naming the port and what wanted it, raised before anything
starts — never uvicorn's log line plus a traceback per server.

``free_port`` draws below Linux's ephemeral range (32768+): ports handed out by the kernel (port 0, and
the source port of every outgoing connection) come from that range, so a port chosen here cannot be taken
by one of them between choosing it and a server (maybe in another process) binding it.
"""

from __future__ import annotations

import contextlib
import errno
import random
import socket
import threading
import time
from typing import Any

import uvicorn

from aigw.protocol.server_limits import ServerLimits, uvicorn_options

FREE_PORT_RANGE = (20000, 32768)
START_TIMEOUT_S = 30.0


class PortInUse(OSError):
    """A port could not be bound; ``str()`` is one line naming the port (and its role) for a person."""

    def __init__(self, host: str, port: int, role: str = "", reason: str = "already in use") -> None:
        self.host, self.port, self.role, self.reason = host, port, role, reason
        super().__init__(errno.EADDRINUSE, str(self))

    def __str__(self) -> str:
        role = f" ({self.role})" if self.role else ""
        return f"port {self.port} on {self.host}{role} is {self.reason}"


def uvicorn_settings(host: str = "127.0.0.1", port: int = 0, *, limits: ServerLimits | None = None,
                     log_level: str = "warning", access_log: bool = False, **overrides: Any) -> dict[str, Any]:
    """The uvicorn settings every server of ours runs with, as keyword arguments of ``uvicorn.Config`` (and of
    ``uvicorn.run``, which multi-worker servers need): the listener's bounds (``limits``, see
    ``aigw.protocol.server_limits``) and our defaults; ``overrides`` for the rare exception."""
    # No "server: uvicorn" header: Azure OpenAI and APIM send none of the kind, and every header costs a check.
    settings: dict[str, Any] = dict(host=host, port=port, log_level=log_level, access_log=access_log, lifespan="on",
                                    timeout_graceful_shutdown=35, server_header=False,
                                    **uvicorn_options(limits or ServerLimits()))
    settings.update(overrides)
    return settings


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 0, *, limits: ServerLimits | None = None,
                   **options: Any) -> uvicorn.Config:
    """``uvicorn.Config`` for ``app`` with ``uvicorn_settings``; ``limits`` default to the app's own
    (``app.server_limits``: the gateway's and the mock's configs say them)."""
    limits = limits or getattr(app, "server_limits", None)
    return uvicorn.Config(app, **uvicorn_settings(host, port, limits=limits, **options))


def listening_socket(host: str, port: int, role: str = "") -> socket.socket:
    """A bound, listening TCP socket as uvicorn would make it; ``PortInUse`` if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, role) from None
        if exc.errno == errno.EACCES:
            raise PortInUse(host, port, role, "not allowed (ports below 1024 need privileges)") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PortInUse(host, port, role, f"not available: {host} is not an address of this machine") from None
        raise
    sock.set_inheritable(True)
    return sock


def check_port_free(host: str, port: int, role: str = "") -> None:
    """Raise ``PortInUse`` now if ``port`` cannot be bound (for servers that bind it themselves later)."""
    listening_socket(host, port, role).close()


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port below the ephemeral range (see the module docstring)."""
    for _ in range(500):
        port = random.randrange(*FREE_PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port found in {FREE_PORT_RANGE[0]}-{FREE_PORT_RANGE[1] - 1}")


def free_port_run(length: int, host: str = "127.0.0.1") -> int:
    """The first of ``length`` consecutive free ports (``aigw up`` puts the mocks on PORT+1..)."""
    for _ in range(200):
        first = free_port(host)
        if first + length > FREE_PORT_RANGE[1]:
            continue
        try:
            for port in range(first + 1, first + length):
                check_port_free(host, port)
        except PortInUse:
            continue
        return first
    raise RuntimeError(f"no run of {length} free TCP ports found")


class OwnedServer(uvicorn.Server):
    """A uvicorn server whose owner handles signals (several servers on one loop, or one in a thread):
    uvicorn's own handlers would replace each other, and re-raise the signal after shutting down."""

    def capture_signals(self):
        return contextlib.nullcontext()


class ThreadedServer(OwnedServer):
    """A uvicorn server in a daemon thread of its own (``start_in_thread``)."""

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.should_exit = True
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.join(timeout)


def start_in_thread(app: Any, port: int | None = None, host: str = "127.0.0.1", log_level: str = "error",
                    **overrides: Any) -> ThreadedServer:
    """Serve ``app`` on ``port`` (a free one when None) in a daemon thread; returns once it accepts connections."""
    port = free_port(host) if port is None else port
    sock = listening_socket(host, port)
    server = ThreadedServer(uvicorn_config(app, host, port, log_level=log_level, **overrides))
    server.thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                                     name=f"uvicorn:{port}")
    server.thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not server.thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the server on port {port} did not start within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.01)
    return server
