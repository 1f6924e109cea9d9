"""Bounded resources per listener, for the gateway and the mock alike: what uvicorn leaves unbounded.

uvicorn (httptools) has no header-read or body-read timeout, no limit on header size or count and no
cap on open connections; its own 400s are plain text. Measured against the gateway before this module:
21,000 slow connections exhausted the file descriptors, ``accept()`` then failed with EMFILE and the
event loop logged a traceback per attempt (150,576 in 45 s); a 16 MiB header value and 100,000 headers
were accepted. ``LimitedHttpToolsProtocol`` is uvicorn's httptools protocol with those bounds added:

- **header-timeout**: a request's line and headers must arrive within it (counted from the
  connection or from the request's first byte), else 408 and the connection closes; an idle new
  connection is closed silently. Between requests uvicorn's keep-alive timeout applies.
- **body-timeout**: once the headers are in, the whole body must arrive within it (a client dripping
  one byte a second holds nothing for long): 408 if no answer has started, else the connection closes.
- **max-header-bytes** / **max-headers**: the request line plus headers, and their count: 431.
- **unread bodies**: an app that answers before reading the whole body (a 413 for a declared length
  over its limit, a 401) gets ``connection: close`` on its answer and the connection ends after it
  (lingering a few seconds, so the client reads the answer), instead of the rest of a 100 MB upload
  being parsed and thrown away. (The 413 itself is the app's: each API answers in its own error
  shape — OpenAI's, APIM's, JSON-RPC's.)
- **max-connections**: open connections per listener; one more is answered 503 with ``Retry-After``
  and closed at once. The effective cap is also held below a quarter of the process's file-descriptor
  limit (``fd_budget``), so connections and their upstream sockets cannot exhaust it.

Every refusal is JSON (OpenAI's ``{"error": ...}`` for the mock, API Management's ``{"statusCode",
"message"}`` for the gateway), sent with ``connection: close``, and logged at most once per 10 s per
kind with a count (``LogLimiter``). ``install_exception_handler`` does the same for the event loop's
own errors (EMFILE on accept), which uvloop otherwise reports as one traceback per attempt.

``uvicorn_options(limits)`` gives the keyword arguments for ``uvicorn.Config``: every server of ours
is built through it (by ``aigw.protocol.serving``, the one uvicorn configuration builder).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import types
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from aigw.protocol.errors import apim_error, error_body
from aigw.protocol.ids import request_id
from aigw.protocol.log_limit import LogLimiter

log = logging.getLogger("aigw.server")
_quiet = LogLimiter(log)
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_HEADER_SLACK = 8192  # bytes of a header still being received, beyond the limit, before refusing
LINGER_REFUSED = 2.0  # seconds a refused connection is still read (and dropped) before it closes
LINGER_UNREAD = 5.0  # the same after an answer that left the request body unread


@dataclass(frozen=True)
class ServerLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_connections: int = 4096
    error_shape: str = "openai"  # openai | apim
    request_id_header: str | None = "apim-request-id"  # on refusals too, as on every answer of ours

    def error(self, status: int, message: str) -> bytes:
        if self.error_shape == "apim":
            return orjson.dumps(apim_error(status, message))
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return orjson.dumps(error_body(message, code=str(status), type=kind))

    @property
    def connections(self) -> int:
        """The cap in force: the configured one, held under the file-descriptor budget."""
        return max(1, min(self.max_connections, fd_budget()))


def fd_budget() -> int:
    """A quarter of the soft file-descriptor limit: room for upstream sockets, files and other listeners."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft // 4) if soft != resource.RLIM_INFINITY else 1 << 20


def raise_fd_limit() -> None:
    """Raise the soft file-descriptor limit to the hard one (servers hold one per connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the refusal is in ``protocol._refusal``."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds above (``limits`` is set per listener by ``protocol_for``)."""

    limits = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._header_bytes = 0
        self._header_count = 0
        self._pending = 0
        self._refusal: tuple[int, str] | None = None
        self._closed = False
        self._cap = self.limits.connections

    # -- connection ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._cap:
            _quiet.warning("connections", "refusing connections: %d open on this listener (max-connections %d)",
                           len(self.connections) - 1, self._cap)
            self._refuse(503, f"The server is at its limit of {self._cap} open connections. Try again later.",
                         retry_after=True)
            return
        self._arm(self.limits.header_timeout, self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._closed = True
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._unset_keepalive_if_required()
        if self._in_headers:  # the chunk that begins a request is not counted: it is bounded by the read size
            self._pending += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            if self._closed:
                return
            status, message = self._refusal or (400, f"Invalid HTTP request received: {_reason(error)}.")
            _quiet.warning(f"refused-{status}", "refused a request with %d: %s", status, message)
            self._refuse(status, message)
            return
        if self._in_headers and self._pending > self.limits.max_header_bytes + _HEADER_SLACK:
            self._refuse_headers()

    # -- parser callbacks ---------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers, self._header_bytes, self._header_count, self._pending = True, 0, 0, 0
        if self._timer is None:
            self._arm(self.limits.header_timeout, self._header_timeout)

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        if self._header_bytes > self.limits.max_header_bytes:
            self._refusal = (414, f"The request line is longer than {self.limits.max_header_bytes} bytes.")
            raise _Refused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, f"The request has more than {self.limits.max_headers} header fields.")
            raise _Refused
        if self._header_bytes > self.limits.max_header_bytes:
            self._refusal = (431, f"The request's headers are larger than {self.limits.max_header_bytes} bytes.")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers, self._pending = False, 0
        self._disarm()
        declared = _declared_length(self.headers)
        if declared == -1:
            self._refusal = (400, "The Content-Length header is not a non-negative integer.")
            raise _Refused
        super().on_headers_complete()
        has_body = bool(declared) or any(name == b"transfer-encoding" for name, _ in self.headers)
        if has_body:
            self._arm(self.limits.body_timeout, self._body_timeout)
            self._close_if_answered_early(self.cycle)

    def on_body(self, body: bytes) -> None:
        if not self._closed and self.cycle is not None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._closed and self.cycle is not None:
            super().on_message_complete()

    def _close_if_answered_early(self, cycle) -> None:
        """An answer that starts before the request body was read (a 413 for a declared size, a 401) ends
        the connection: it says ``connection: close``, so the client does not reuse it, and the close
        lingers (``_close``) instead of dropping the rest of the upload on the floor with a reset."""
        send, protocol = cycle.send, self

        async def answer(cycle, message: dict) -> None:
            if message["type"] == "http.response.start" and cycle.more_body:
                cycle.keep_alive = False
                cycle.transport = _Lingering(cycle.transport, protocol)
            await send(message)

        cycle.send = types.MethodType(answer, cycle)  # still bound to the cycle (mocks.asgi.abort_connection)

    def eof_received(self) -> None:
        if self._closed:
            self._hangup()

    def send_400_response(self, msg: str) -> None:  # uvicorn's own 400 (e.g. an undecodable path), in JSON
        self._refuse(400, msg)

    # -- refusals -----------------------------------------------------------------------------------
    def _header_timeout(self) -> None:
        self._timer = None
        if not self._in_headers:  # nothing of a request yet: an idle connection is closed without a word
            self._close()
            return
        _quiet.warning("header-timeout", "closed a connection whose headers took longer than %g s", self.limits.header_timeout)
        self._refuse(408, f"The request headers did not arrive within {self.limits.header_timeout:g} s.")

    def _body_timeout(self) -> None:
        self._timer = None
        _quiet.warning("body-timeout", "closed a connection whose body took longer than %g s", self.limits.body_timeout)
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self._close()
        else:
            self._refuse(408, f"The request body did not arrive within {self.limits.body_timeout:g} s.")

    def _refuse_headers(self) -> None:
        _quiet.warning("refused-431", "refused a request whose headers exceed %d bytes", self.limits.max_header_bytes)
        self._refuse(431, f"The request's headers are larger than {self.limits.max_header_bytes} bytes.")

    def _refuse(self, status: int, message: str, retry_after: bool = False) -> None:
        """Answer ``status`` in JSON with ``connection: close`` (unless an answer already started) and close."""
        if self._closed:
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            body = self.limits.error(status, message)
            head = [STATUS_LINE[status], b"content-type: application/json\r\n",
                    b"content-length: %d\r\n" % len(body), b"connection: close\r\n"]
            if retry_after:
                head.append(b"retry-after: 1\r\n")
            if self.limits.request_id_header:
                head.append(self.limits.request_id_header.encode() + b": " + request_id().encode() + b"\r\n")
            self.transport.write(b"".join(head) + b"\r\n" + body)
        self._close(linger=LINGER_REFUSED)

    def _close(self, linger: float = 0.0) -> None:
        """Stop serving this connection. With ``linger``, keep reading (and dropping) what the client still
        sends for that long before closing: closing a socket with unread input makes the kernel send a
        reset, which can destroy the answer just written before the client reads it."""
        self._closed = True
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() answers http.disconnect, its send() is dropped
            cycle.message_event.set()
        if linger and not self.transport.is_closing():
            self.flow.resume_reading()
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer, then FIN: the client reads it and sees the end
            self._timer = self.loop.call_later(linger, self._hangup)
        else:
            self._hangup()

    def _hangup(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Lingering:
    """The transport as an early-answered request cycle sees it: its ``close`` lingers (see ``_close``)."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        self._transport, self._protocol = transport, protocol

    def close(self) -> None:
        self._protocol._close(linger=LINGER_UNREAD)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length value; None when absent, -1 when it is not a number."""
    for name, value in headers:
        if name == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() else -1
    return None


def _reason(error: Exception) -> str:
    text = str(error).strip().rstrip(".")
    return text[:120] if text else type(error).__name__


def protocol_for(limits: ServerLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for one listener: uvicorn instantiates it per connection."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments that put ``limits`` in force on a listener.

    ``proxy_headers`` is off: uvicorn would otherwise rewrite the client address from X-Forwarded-For
    sent by any local client; the gateway decides whom to believe itself (``trusted-proxies``).
    """
    return {"http": protocol_for(limits), "timeout_keep_alive": limits.keep_alive, "proxy_headers": False,
            "loop": "uvloop"}


def install_exception_handler(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Report the loop's resource-exhaustion errors (EMFILE on accept, ...) once per interval with a count,
    instead of a traceback per attempt; anything else goes to the handler that was there."""
    loop = loop or asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    if getattr(previous, "aigw_quiet", False):
        return

    def handler(current: asyncio.AbstractEventLoop, context: dict) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _EXHAUSTED:
            _quiet.error(f"loop-{error.errno}", "cannot accept or open connections: %s (raise the file-descriptor "
                         "limit or lower max-connections)", error.strerror or error)
            return
        if previous is not None:
            previous(current, context)
        else:
            current.default_exception_handler(context)

    handler.aigw_quiet = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
