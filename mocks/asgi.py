"""Thin raw-ASGI helpers for the mock's hot path.

Starlette's Request/Response objects cost more than the whole of a mock chat completion, so the
hot path speaks ASGI directly: read the body with a size cap, send a JSON response, send a stream.
"""

import asyncio
from typing import Any, Callable

import orjson

from aigw.protocol import headers as h

Headers = list[tuple[bytes, bytes]]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Callable, limit: int, declared: int | None) -> bytes:
    """The whole request body, refusing early when the declared or actual size exceeds ``limit``."""
    if declared is not None and declared > limit:
        raise BodyTooLarge
    parts = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts) if len(parts) != 1 else parts[0]


def declared_length(scope: dict) -> int | None:
    """The request's Content-Length when it is a number (so an oversized body is refused before it is read)."""
    value = header_value(scope, b"content-length")
    return int(value) if value and value.isdigit() else None


def header_value(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def send_bytes(send: Callable, status: int, body: bytes, headers: Headers, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())] + headers,
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Callable, status: int, payload: Any, headers: Headers) -> None:
    await send_bytes(send, status, orjson.dumps(payload), headers)


def abort_connection(send: Callable) -> bool:
    """Drop the TCP connection without a response, as a crashed backend would.

    ASGI has no verb for this. Under uvicorn, ``send`` is a bound method of the request cycle which
    holds the transport, so the transport is aborted directly; returns False elsewhere (e.g. an
    in-process test transport), where the caller raises instead.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    return True


async def sleep_unless_disconnected(receive: Callable, seconds: float) -> None:
    """Sleep, but return early (raising ClientGone) if the client hangs up meanwhile."""
    if seconds <= 0:
        return
    waiter = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=seconds)
        if done and waiter.result().get("type") == "http.disconnect":
            raise ClientGone
    finally:
        if not waiter.done():
            waiter.cancel()


async def watch_disconnect(receive: Callable, gone: asyncio.Event) -> None:
    """Run beside a paced response (as a task): set ``gone`` when the client hangs up."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def sleep_or_gone(seconds: float, gone: asyncio.Event) -> None:
    """Sleep ``seconds``, raising ClientGone at once if ``gone`` is set before or meanwhile."""
    if gone.is_set():
        raise ClientGone
    try:
        await asyncio.wait_for(gone.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return
    raise ClientGone


def common_headers(request_id: str, region: str) -> Headers:
    rid = request_id.encode()
    return [
        (h.APIM_REQUEST_ID.encode(), rid),
        (h.X_REQUEST_ID.encode(), rid),
        (h.X_MS_REGION.encode(), region.encode()),
    ]
