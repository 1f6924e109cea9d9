"""Shared fixtures: a real mock server over HTTP on a free port, and the path to ../shared."""

import contextlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from aigw.mocks.app import MockApp
from aigw.mocks.config import MockConfig, default_config
from aigw.protocol.serving import free_port, start_in_thread

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ADMIN = {"authorization": "Bearer mock-admin"}


def shared_dir() -> Path:
    """../shared beside the clone; tests that need it skip, saying why, where it is absent.

    Call it (``shared_dir()``) or request the fixture of the same name. This is the suite's only
    conftest.py, so ``from conftest import ...`` in test modules is unambiguous.
    """
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it exists beside the clone in development and CI only)")
    return SHARED


@pytest.fixture(name="shared_dir", scope="session")
def shared_dir_fixture() -> Path:
    return shared_dir()


def mock_config(**overrides: Any) -> MockConfig:
    """The embedded default with ``latency: off`` and the given top-level overrides."""
    data = default_config().model_dump()
    data["latency"] = "off"
    data.update(overrides)
    return MockConfig.model_validate(data)


@contextlib.contextmanager
def running_app(app: Any) -> Iterator[tuple[str, Any]]:
    """Any ASGI app under a real uvicorn on a free port, in a thread; yields (base URL, app)."""
    port = free_port()
    server = start_in_thread(app, port)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True


def running_mock(config: MockConfig | None = None):
    return running_app(MockApp(config or mock_config()))


@pytest.fixture(scope="session")
def mock_server() -> Iterator[str]:
    """One shared mock (latency off, default deployments) for tests that do not change its state."""
    with running_mock() as (url, _):
        yield url


@pytest.fixture
def fresh_mock() -> Iterator[tuple[str, MockApp]]:
    """A mock of its own for tests that change state (faults, clock, counters)."""
    with running_mock() as started:
        yield started


def stop_process(process) -> None:
    """Stop a server subprocess as Ctrl-C would, killing it if it has not exited within 10 s."""
    import os
    import signal
    import subprocess

    process.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def read_response(sock) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 response read off a raw socket: ``(status, lower-cased headers, body)``; for tests that
    must send bytes no HTTP client would (slow, oversized or malformed requests)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body
