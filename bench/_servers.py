"""Starting, pinning and stopping the servers a benchmark compares.

Every server runs in its own session (process group) pinned to one core, with its output in a log file, so
`stop` can end it and anything it spawned, and a failed start shows the server's own words. `ServerPool`
remembers everything it started and stops it all on exit, whatever the exit (Ctrl-C, SIGTERM, an error).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from _loadgen import pin_prefix


class ServerStartError(RuntimeError):
    """A server exited or never accepted connections; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerSpec:
    name: str
    argv: list[str]  # may contain "{port}"
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class RunningServer:
    spec: ServerSpec
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User+system CPU seconds of the server's process group (it and anything it spawned), from /proc.

        Requests per CPU-second stays a fair figure when other work shares the machine: a server kept off
        its core by a neighbour loses wall-clock throughput, not CPU-seconds per request.
        """
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self.process.pid:  # after "(comm)": state, ppid, pgrp, …, utime (12), stime (13)
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever is left after `grace` seconds."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


class ServerPool:
    """Starts servers pinned to `core`, and stops every one of them on `close()` (use it as a context)."""

    def __init__(self, log_dir: Path, core: int) -> None:
        self.log_dir = log_dir
        self.core = core
        self._running: list[RunningServer] = []

    def start(self, spec: ServerSpec, timeout: float = 30.0) -> RunningServer:
        port = free_port()
        argv = [a.replace("{port}", str(port)) for a in spec.argv]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*pin_prefix(self.core), *argv], cwd=spec.cwd, env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = RunningServer(spec, port, process, log_path)
        self._running.append(server)
        self._wait_until_listening(server, timeout)
        return server

    def stop(self, server: RunningServer) -> None:
        server.stop()
        if server in self._running:
            self._running.remove(server)

    def close(self) -> None:
        while self._running:
            self._running.pop().stop()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _wait_until_listening(server: RunningServer, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerStartError(
                    f"{server.spec.name} exited with code {server.process.returncode} before listening "
                    f"(command: {' '.join(server.spec.argv)}):\n{server.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        server.stop()
        raise ServerStartError(f"{server.spec.name} did not listen on port {server.port} within {timeout:.0f}s:\n"
                               f"{server.log_tail()}")
