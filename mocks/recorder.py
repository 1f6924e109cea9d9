"""``aigw mock --record CASSETTE --upstream URL``: a recording reverse proxy.

Every request is forwarded to the upstream (any OpenAI-compatible or Azure OpenAI endpoint, or an
API Management gateway in front of one) with aiohttp; the upstream's status, headers and body bytes
go back to the client unchanged, a streamed body chunk by chunk as it arrives (the client sees the
upstream's pacing, not ours). When the exchange is complete it is appended to the cassette —
credentials redacted first — with the time each chunk arrived, so a replay can reproduce it.

An upstream that cannot be reached is a 502 (a timeout a 504) with an OpenAI-shaped error body, so
clients report it like any other API error; nothing is recorded for it.
"""

import asyncio
import logging
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from aigw.mocks.asgi import declared_length, BodyTooLarge, ClientGone, read_body, send_bytes, send_json
from aigw.mocks.cassette import (
    CassetteOptions,
    CassetteWriter,
    Rules,
    body_fields,
    chunk_fields,
    now_iso,
    parse_json_or_raw,
)
from aigw.protocol import errors
from aigw.protocol.sse import encode_error_event
from aigw.protocol.lifespan import serve_lifespan

log = logging.getLogger("aigw.mocks.recorder")

# Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy recomputes; never forwarded either way.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                        "host", "content-length", "accept-encoding", "content-encoding"})
# Set by uvicorn itself on every response; a copy from the upstream would appear twice.
SERVER_SET = frozenset({"date", "server"})
NOT_RECORDED = frozenset({"set-cookie"})


class UpstreamUnreachable(Exception):
    pass


class Recorder:
    """ASGI app: forward, pass through, record. One instance per process (it owns the cassette file)."""

    def __init__(self, upstream: str, writer: CassetteWriter, rules: Rules, timeout_s: float = 300.0,
                 max_body_bytes: int = 64 * 1024 * 1024) -> None:
        self.upstream = upstream.rstrip("/")
        self.writer = writer
        self.rules = rules
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_s, 30.0), sock_read=timeout_s)
        self.max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def open(cls, options: CassetteOptions, max_body_bytes: int) -> "Recorder":
        upstream = check_upstream(options.upstream or "")
        writer = CassetteWriter(options.record, display_url(upstream), options.rules)
        return cls(upstream, writer, options.rules, options.upstream_timeout_s, max_body_bytes)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            try:
                await self.forward(scope, receive, send)
            except ClientGone:
                return
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        await serve_lifespan(receive, send, shutdown=self._close)

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self.writer.close()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: it must belong to the server's event loop
            self._session = aiohttp.ClientSession(timeout=self.timeout, auto_decompress=True,
                                                  connector=aiohttp.TCPConnector(limit=0))
        return self._session

    async def forward(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            body = await read_body(receive, self.max_body_bytes, declared_length(scope))
        except BodyTooLarge:
            return await send_json(send, 413, errors.error_body(
                f"Request body too large: the recorder's limit is {self.max_body_bytes} bytes.", code="413",
                type=errors.INVALID_REQUEST), [])
        method, query = scope["method"], scope["query_string"].decode("latin-1")
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        url = URL(self.upstream + raw_path + (f"?{query}" if query else ""), encoded=True)
        started = time.monotonic()
        try:
            response = await self._request(method, url, scope["headers"], body)
        except UpstreamUnreachable as exc:
            status, code = (504, "upstream_timeout") if isinstance(exc.__cause__, asyncio.TimeoutError) else (502, "upstream_unreachable")
            return await send_json(send, status, errors.error_body(str(exc), code=code, type=errors.SERVER_ERROR), [])
        async with response:
            headers = _response_headers(response)

            def commit(recorded: dict[str, Any]) -> None:
                """Written before the client sees the end: an answered exchange is always on disk."""
                self._record(scope, body, response.status, headers, recorded)

            if response.headers.get("content-type", "").startswith("text/event-stream"):
                await self._pass_stream(response, headers, send, started, commit)
            else:
                await self._pass_whole(response, headers, send, started, commit)

    async def _request(self, method: str, url: URL, scope_headers, body: bytes) -> aiohttp.ClientResponse:
        headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope_headers
                              if k.decode("latin-1").lower() not in HOP_BY_HOP)
        headers["accept-encoding"] = "identity"  # keep stream chunks readable and as the upstream framed them
        try:
            return await self.session().request(method, url, headers=headers, data=body or None, allow_redirects=False)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            reason = "did not answer in time" if isinstance(exc, asyncio.TimeoutError) else f"could not be reached: {exc or type(exc).__name__}"
            raise UpstreamUnreachable(f"aigw mock --record: the upstream {display_url(self.upstream)} {reason}") from exc

    async def _pass_whole(self, response, headers, send, started, commit: Callable) -> None:
        try:
            body = await response.read()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            message = f"aigw mock --record: the upstream {display_url(self.upstream)} broke off its answer: {exc or type(exc).__name__}"
            return await send_json(send, 502, errors.error_body(message, code="upstream_unreachable", type=errors.SERVER_ERROR), [])
        commit({"ms": _ms_since(started), **body_fields(body)})
        content_type = headers.get("content-type", "application/octet-stream").encode("latin-1")
        others = {k: v for k, v in headers.items() if k != "content-type"}
        await send_bytes(send, response.status, body, _asgi(others), content_type)

    async def _pass_stream(self, response, headers, send, started, commit: Callable) -> None:
        ms = _ms_since(started)
        await send({"type": "http.response.start", "status": response.status, "headers": _asgi(headers)})
        chunks = []
        try:
            async for chunk in response.content.iter_any():
                chunks.append({"ms": _ms_since(started), **chunk_fields(chunk)})
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            message = f"the upstream {display_url(self.upstream)} broke off the stream: {exc or type(exc).__name__}"
            log.warning("not recording an unfinished stream: %s", message)
            error = errors.error_body(message, code="upstream_unreachable", type=errors.SERVER_ERROR)
            return await send({"type": "http.response.body", "body": encode_error_event(orjson.dumps(error))})
        commit({"ms": ms, "chunks": chunks})
        await send({"type": "http.response.body", "body": b""})

    def _record(self, scope: dict, body: bytes, status: int, headers: dict[str, str], recorded: dict[str, Any]) -> None:
        method, path, query = scope["method"], scope["path"], scope["query_string"].decode("latin-1")
        request_headers = _joined((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"])
        request_headers = {k: v for k, v in request_headers.items() if k not in HOP_BY_HOP}
        parsed = parse_json_or_raw(body)
        stored_body = body_fields(body) if isinstance(parsed, bytes) else {"json": self.rules.redact_body(parsed)}
        kept = {k: v for k, v in headers.items() if k not in NOT_RECORDED}
        self.writer.write({
            "type": "exchange",
            "id": self.writer.take_id(),
            "recorded": now_iso(),
            "key": self.rules.key(method, path, query, parsed),
            "request": {"method": method, "path": path, "query": self.rules.query(query, drop=self.rules.redact_fields),
                        "headers": self.rules.redact_headers_of(request_headers), **stored_body},
            "response": {"status": status, "headers": self.rules.redact_headers_of(kept), **recorded},
        })


def check_upstream(url: str) -> str:
    """The upstream base URL, or a ValueError a person can act on."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--upstream must be an http(s) URL such as https://my-resource.openai.azure.com, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"--upstream is a base URL without query or fragment, got {url!r}")
    return url.rstrip("/")


def display_url(url: str) -> str:
    """The URL without any user:password part, for messages and the cassette."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def _response_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    pairs = ((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.raw_headers)
    return {k: v for k, v in _joined(pairs).items() if k not in HOP_BY_HOP and k not in SERVER_SET}


def _joined(pairs) -> dict[str, str]:
    """Headers as a dict; a repeated header's values joined with ", " (RFC 9110 §5.3)."""
    result: dict[str, str] = {}
    for name, value in pairs:
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def _asgi(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
