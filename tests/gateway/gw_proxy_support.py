"""Helpers for the gateway's proxy and failover tests: real mocks and a real gateway over HTTP.

Each mock is its own uvicorn server (``running_mock``), so "several backends behind a pool" really
are several servers whose counters (``/_mock/counters``) say who served what; faults and outages
are set through the mock's admin API, exactly as an operator would.
"""

import contextlib
from typing import Any, Iterator

import httpx
import openai

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig
from aigw.protocol.serving import free_port, start_in_thread

KEY = "proxy-tenant-key-01"
API_VERSION = "2024-10-21"
ADMIN = {"authorization": "Bearer mock-admin"}
CHAT_PATH = f"/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}"
HELLO = {"messages": [{"role": "user", "content": "Say hello to the gateway."}], "max_tokens": 12}


@contextlib.contextmanager
def running_gateway(config: GatewayConfig) -> Iterator[tuple[str, GatewayApp, Any]]:
    """The gateway on a free port in a thread: ``(base_url, app, uvicorn server)``."""
    app = GatewayApp(config)
    port = free_port()
    server = start_in_thread(app, port)
    try:
        yield f"http://127.0.0.1:{port}", app, server
    finally:
        server.should_exit = True


def breaker(count: int | None = None, percentage: float | None = None, trip: str = "PT30S",
            accept_retry_after: bool = False, interval: str = "PT10S", minimum: int = 10) -> dict:
    """An ARM-shaped circuit breaker counting 429, 5xx and transport failures (``minimum``: attempts
    before a percentage is judged)."""
    condition: dict[str, Any] = {"interval": interval, "minimumRequests": minimum,
                                 "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
                                 "errorReasons": ["timeout", "connection", "stream"]}
    condition["count" if count is not None else "percentage"] = count if count is not None else percentage
    return {"rules": [{"name": "test-breaker", "failureCondition": condition, "tripDuration": trip,
                       "acceptRetryAfter": accept_retry_after}]}


def backend(backend_id: str, mock_url: str, timeout: float = 10.0, circuit_breaker: dict | None = None) -> dict:
    entry: dict[str, Any] = {"id": backend_id, "url": f"{mock_url}/openai", "timeout": timeout,
                             "auth": {"header": "api-key", "value": "upstream-key"}}
    if circuit_breaker is not None:
        entry["circuitBreaker"] = circuit_breaker
    return entry


def config(backends: list[dict], target: str, pool: list[dict] | None = None, retry: dict | None = None,
           **extra: Any) -> GatewayConfig:
    """One Azure OpenAI API at /openai in front of ``target`` (a backend id or ``"pool"``)."""
    all_backends = list(backends) + ([{"id": "pool", "pool": {"services": pool}}] if pool else [])
    policies = {"backend": [{"retry": retry}]} if retry else {}
    return GatewayConfig.model_validate({
        "backends": all_backends,
        "apis": [{"id": "aoai", "path": "/openai", "backend": target, "policies": policies}],
        "products": [{"id": "test"}],
        "subscriptions": [{"id": "tenant", "key": KEY, "product": "test"}],
        **extra,
    })


def sdk(base: str, **options: Any) -> openai.AzureOpenAI:
    """The official SDK, pointed at the gateway with a subscription key; its own retries off."""
    return openai.AzureOpenAI(azure_endpoint=base, api_key=KEY, api_version=API_VERSION, max_retries=0, **options)


def post(base: str, body: dict | bytes, path: str = CHAT_PATH, key: str | None = KEY, timeout: float = 10.0,
         **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", **headers}
    if key is not None:
        sent["api-key"] = key
    content = body if isinstance(body, bytes) else None
    return httpx.post(base + path, content=content, json=None if content is not None else body, headers=sent,
                      timeout=timeout)


def requests_served(mock_url: str, deployment: str = "gpt-4o") -> int:
    """How many requests the mock saw for a deployment (faulted ones included)."""
    counters = httpx.get(f"{mock_url}/_mock/counters", headers=ADMIN).json()["deployments"]
    return counters[deployment]["requests"]


def set_faults(mock_url: str, deployment: str = "gpt-4o", **faults: Any) -> None:
    response = httpx.put(f"{mock_url}/_mock/faults/{deployment}", json=faults, headers=ADMIN)
    assert response.status_code == 200, response.text


def outage(mock_url: str, deployment: str = "gpt-4o", down: bool = True) -> None:
    response = httpx.post(f"{mock_url}/_mock/outage/{deployment}", json={"down": down}, headers=ADMIN)
    assert response.status_code == 200, response.text


def reset(*mock_urls: str) -> None:
    for url in mock_urls:
        assert httpx.post(f"{url}/_mock/reset", headers=ADMIN).status_code == 200


def closed_port_url() -> str:
    """A URL nothing listens on: the port was free a moment ago and is not bound now."""
    return f"http://127.0.0.1:{free_port()}"


def sse_events(raw: bytes) -> list[tuple[str, bytes]]:
    """``(event name, data)`` pairs of an SSE body (the default event name is ``message``)."""
    found = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        name, data = "message", b""
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        found.append((name, data))
    return found
