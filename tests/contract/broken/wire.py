"""The machinery of a broken target: ASGI middleware that lets one ``Defect`` rewrite bytes on the wire.

A defect models a vendor's bug as a client sees it — without forking our code: the real mock or the
real gateway answers, and the middleware buffers the exchanges the defect ``applies`` to and hands the
request and the response to its hooks. Everything else passes through untouched (MCP GET streams
included). Gateway defects that are a matter of configuration change the example gateway config
instead (``Defect.gateway_config``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from aigw.protocol import sse

Headers = list[tuple[bytes, bytes]]
MODEL_API = re.compile(r"/(chat/completions|completions|embeddings)$")


@dataclass
class Wire:
    """A buffered response a defect may rewrite."""

    status: int
    headers: Headers
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def set_header(self, name: bytes, value: bytes | None) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name] + ([(name, value)] if value is not None else [])

    @property
    def media(self) -> bytes:
        return (self.header(b"content-type") or b"").split(b";")[0].strip().lower()


@dataclass
class Defect:
    """One broken rule. Subclasses override the hooks they need; the defaults change nothing."""

    name: str
    group: str
    test: str  # a substring of the id of the test that must fail
    message: str = ""  # a substring of that failure's message
    base: str = "mock"  # mock | gateway
    flags: tuple[str, ...] = ()
    max_examples: int = 5

    def applies(self, scope: dict) -> bool:
        return scope["method"] == "POST" and bool(MODEL_API.search(scope["path"]))

    def request(self, scope: dict, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
        return headers, body

    def response(self, scope: dict, body: bytes, wire: Wire) -> None:
        """Rewrite ``wire`` in place; ``body`` is the request body that was sent upstream."""

    def gateway_config(self, config: dict) -> None:
        """Change the example gateway config (the raw YAML mapping) in place."""

    def scope(self, scope: dict) -> dict:
        """The scope the wrapped app sees (e.g. a changed query string)."""
        return scope

    async def handle(self, scope: dict, body: bytes) -> Wire | None:
        """Answer the request instead of the wrapped app (a Wire), or None to let the app answer."""
        return None


class BrokenApp:
    """ASGI middleware that buffers the exchanges a defect applies to and lets it rewrite them."""

    def __init__(self, app: Callable, defect: Defect) -> None:
        self.app, self.defect = app, defect

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not self.defect.applies(scope):
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body, more = body + message.get("body", b""), message.get("more_body", False)
        handled = await self.defect.handle(scope, body)
        if handled is not None:
            handled.set_header(b"content-length", str(len(handled.body)).encode())
            await send({"type": "http.response.start", "status": handled.status, "headers": handled.headers})
            return await send({"type": "http.response.body", "body": handled.body})
        headers, body = self.defect.request(scope, list(scope["headers"]), body)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"] + [(b"content-length", str(len(body)).encode())]
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()  # blocks until the client goes away: http.disconnect
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict = {}
        parts: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app({**self.defect.scope(scope), "headers": headers}, replay, capture)
        if not start:
            return  # the app dropped the connection without answering (an injected fault): so does the defect
        wire = Wire(start["status"], list(start.get("headers", [])), b"".join(parts))
        self.defect.response(scope, body, wire)
        wire.set_header(b"transfer-encoding", None)
        wire.set_header(b"content-length", str(len(wire.body)).encode())
        await send({"type": "http.response.start", "status": wire.status, "headers": wire.headers})
        await send({"type": "http.response.body", "body": wire.body})


# -- helpers for rewriting ------------------------------------------------------------------------------


def json_of(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def rewrite_json(wire: Wire, change: Callable[[Any], Any]) -> None:
    """Apply ``change`` to a 200 JSON body (it mutates the value or returns a new one)."""
    value = json_of(wire.body) if wire.status == 200 and wire.media == b"application/json" else None
    if isinstance(value, dict):
        changed = change(value)
        wire.body = orjson.dumps(value if changed is None else changed)


def rewrite_stream(wire: Wire, change: Callable[[bytes], bytes | None]) -> None:
    """Re-frame an event stream, passing every event's data through ``change`` (None drops the event)."""
    if wire.status != 200 or wire.media != b"text/event-stream":
        return
    out = []
    for event in sse.decode_all(wire.body):
        data = change(event.data.encode())
        if data is not None:
            out.append((b"event: " + event.event.encode() + b"\n" if event.event != "message" else b"") + sse.encode_event(data))
    wire.body = b"".join(out)


def rewrite_chunks(wire: Wire, change: Callable[[dict], dict | None]) -> None:
    """Like ``rewrite_stream`` for the JSON chunks only; ``[DONE]`` passes unchanged."""

    def per_event(data: bytes) -> bytes | None:
        chunk = json_of(data)
        if not isinstance(chunk, dict):
            return data
        changed = change(chunk)
        return None if changed is None else orjson.dumps(changed)

    rewrite_stream(wire, per_event)
