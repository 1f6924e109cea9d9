"""HTTP-level pieces of the MCP transport: error answers, header parsing, DNS-rebinding protection,
and pumping an SSE stream to the client while watching for it to hang up.
"""

import asyncio
import ipaddress
from typing import Any, Callable
from urllib.parse import urlsplit

import orjson

from aigw.mocks.asgi import header_value
from aigw.mocks.mcp.session import Stream

SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
LAST_EVENT_ID = b"last-event-id"
SESSION_NOT_FOUND = -32001  # the code the reference SDKs use for an unknown session
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


class HttpRefusal(Exception):
    """An answer before any JSON-RPC handling: status, JSON-RPC error code and message."""

    def __init__(self, status: int, code: int, message: str, headers: list[tuple[bytes, bytes]] | None = None,
                 id: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.id = status, code, message, headers or [], id


async def send_json(send: Callable, status: int, payload: Any, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps(payload)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def send_empty(send: Callable, status: int, headers: list[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0"), *headers]})
    await send({"type": "http.response.body", "body": b""})


async def send_refusal(send: Callable, refusal: HttpRefusal) -> None:
    body = {"jsonrpc": "2.0", "id": refusal.id, "error": {"code": refusal.code, "message": refusal.message}}
    await send_json(send, refusal.status, body, refusal.headers)


def accepts(scope: dict) -> tuple[bool, bool]:
    """(accepts JSON, accepts SSE) from the Accept header; no header accepts both (curl's default)."""
    raw = header_value(scope, b"accept")
    if raw is None:
        return True, True
    media = {part.split(b";")[0].strip().lower() for part in raw.split(b",")}
    anything = b"*/*" in media
    return (anything or b"application/json" in media or b"application/*" in media,
            anything or b"text/event-stream" in media or b"text/*" in media)


def is_json_content(scope: dict) -> bool:
    content_type = (header_value(scope, b"content-type") or b"").split(b";")[0].strip().lower()
    return content_type == b"application/json" or content_type.endswith(b"+json")


def rebinding_refusal(scope: dict, allowed: set[str]) -> HttpRefusal | None:
    """Requests arriving on a loopback address must name a loopback host (or a configured one).

    A browser tricked by DNS rebinding sends the attacker's Host and Origin to a local server; a
    gateway or client reaching the mock over a real interface is not affected by this check.
    """
    if "*" in allowed:
        return None
    local = (scope.get("server") or ("", 0))[0]
    try:
        if not ipaddress.ip_address(local).is_loopback:
            return None
    except ValueError:
        return None
    names = LOOPBACK_NAMES | allowed
    host = (header_value(scope, b"host") or b"").decode("latin-1")
    hostname = urlsplit(f"//{host}").hostname if host else None
    if hostname is not None and hostname.lower() not in names:
        return HttpRefusal(421, -32600, f"Misdirected Request: Host {host!r} is not allowed on a loopback address "
                                        "(DNS-rebinding protection; see mcp.allowed_hosts)")
    origin = header_value(scope, b"origin")
    if origin is not None and origin != b"null":
        origin_host = urlsplit(origin.decode("latin-1")).hostname
        if origin_host is None or origin_host.lower() not in names:
            return HttpRefusal(403, -32600, f"Forbidden: Origin {origin.decode('latin-1')!r} is not allowed "
                                            "(DNS-rebinding protection; see mcp.allowed_hosts)")
    return None


async def _disconnected(receive: Callable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def pump_stream(send: Callable, receive: Callable, stream: Stream, after: int,
                      headers: list[tuple[bytes, bytes]]) -> bool:
    """Write ``stream`` from event ``after`` on as an SSE response; False if the client hung up first."""
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + headers})

    async def write() -> None:
        async for event in stream.follow(after):
            await send({"type": "http.response.body", "body": event, "more_body": True})

    writer = asyncio.ensure_future(write())
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not writer.done():
            writer.cancel()
    if writer.done() and not writer.cancelled() and writer.exception() is None:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True
    return False
