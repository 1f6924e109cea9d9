"""MCP streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25) on raw ASGI.

    POST   /mcp[/{server}]   JSON-RPC message(s) → a JSON body or an SSE stream (per Accept), 202 for
                             notifications and responses
    GET    /mcp[/{server}]   the session's server→client SSE stream; with Last-Event-ID, resume a stream
    DELETE /mcp[/{server}]   end the session

Order of checks: server (404) → Host/Origin (421/403) → bearer auth (401) → method (405) → injected
faults → content type (415) → Accept (406) → size (413) → JSON (400, -32700) → message (400, -32600)
→ session (400 missing, 404 unknown or expired) → MCP-Protocol-Version (400) → the method.
"""

import asyncio
import logging
from typing import Any, Callable

import orjson

from aigw.mocks.asgi import BodyTooLarge, ClientGone, header_value, read_body
from aigw.mocks.mcp import methods
from aigw.mocks.mcp.config import PROTOCOL_VERSIONS, McpConfig
from aigw.mocks.mcp.http import (
    LAST_EVENT_ID, SESSION_HEADER, SESSION_NOT_FOUND, VERSION_HEADER, HttpRefusal, accepts, is_json_content,
    pump_stream, rebinding_refusal, send_empty, send_json, send_refusal,
)
from aigw.mocks.mcp.server import McpServer
from aigw.mocks.mcp.session import Session, Stream
from aigw.protocol import jsonrpc
from aigw.protocol.json_depth import message as depth_message
from aigw.protocol.json_depth import too_deep
from aigw.protocol.jsonrpc import INVALID_REQUEST, PARSE_ERROR, JSONRPCError
from aigw.protocol.spec import check

log = logging.getLogger("aigw.mocks.mcp")
ALLOW = b"GET, POST, DELETE"
BATCH_VERSION = "2025-03-26"  # the only version with JSON-RPC batches
PRIMING_VERSION = "2025-11-25"  # SEP-1699 priming events from this version on


class McpApp:
    def __init__(self, servers: dict[str, McpServer], config: McpConfig, max_body_bytes: int) -> None:
        self.servers = servers
        self.allowed_hosts = {h.lower() for h in config.allowed_hosts}
        self.max_body = max_body_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        try:
            server = self._server(scope["path"])
            await self._serve(server, scope, receive, send)
        except HttpRefusal as refusal:
            await send_refusal(send, refusal)
        except ClientGone:
            return
        except Exception:  # a bug of ours: the protocol's internal error, never a traceback
            log.exception("MCP transport failed on %s %s", scope["method"], scope["path"])
            await send_refusal(send, HttpRefusal(500, jsonrpc.INTERNAL_ERROR, "Internal error"))

    def _server(self, path: str) -> McpServer:
        name = path[len("/mcp"):].strip("/") or "default"
        server = self.servers.get(name)
        if server is None:
            raise HttpRefusal(404, INVALID_REQUEST, f"Not Found: no MCP server at {path}; servers: "
                              + ", ".join(s.config.path for s in self.servers.values()))
        return server

    async def _serve(self, server: McpServer, scope: dict, receive: Callable, send: Callable) -> None:
        refusal = rebinding_refusal(scope, self.allowed_hosts)
        if refusal is not None:
            raise refusal
        if not server.authorized(header_value(scope, b"authorization")):
            server.counters["http:401"] += 1
            challenge = b'Bearer realm="aigw-mock-mcp"'
            if header_value(scope, b"authorization") is not None:
                challenge += b', error="invalid_token"'
            raise HttpRefusal(401, INVALID_REQUEST, "Unauthorized: send Authorization: Bearer <token>",
                              [(b"www-authenticate", challenge)])
        method = scope["method"]
        if method not in ("GET", "POST", "DELETE"):
            raise HttpRefusal(405, INVALID_REQUEST, f"Method Not Allowed: {method}; use GET, POST or DELETE",
                              [(b"allow", ALLOW)])
        server.counters[f"http:{method}"] += 1
        await self._faults(server, scope)
        if method == "POST":
            await self._post(server, scope, receive, send)
        elif method == "GET":
            await self._get(server, scope, receive, send)
        else:
            session = self._session(server, scope)
            server.sessions.remove(session.id)
            await send_empty(send, 204)

    async def _faults(self, server: McpServer, scope: dict) -> None:
        plan = server.faults.plan()
        if plan.added_latency_s:
            await asyncio.sleep(plan.added_latency_s)
        if plan.status is not None:
            server.counters[f"fault:{plan.status}"] += 1
            raise HttpRefusal(plan.status, jsonrpc.INTERNAL_ERROR, f"Internal error (injected fault: HTTP {plan.status})")
        if plan.drop_session:
            session_id = header_value(scope, SESSION_HEADER)
            if session_id is not None and server.sessions.remove(session_id.decode("latin-1")):
                server.counters["fault:drop_session"] += 1

    def _session(self, server: McpServer, scope: dict) -> Session:
        raw = header_value(scope, SESSION_HEADER)
        if raw is None:
            raise HttpRefusal(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required "
                                                    "(send initialize first to get one)")
        session = server.sessions.get(raw.decode("latin-1"))
        if session is None:
            raise HttpRefusal(404, SESSION_NOT_FOUND, "Session not found: it expired or was ended; initialize again")
        version = header_value(scope, VERSION_HEADER)
        if version is not None and version.decode("latin-1") not in PROTOCOL_VERSIONS:
            raise HttpRefusal(400, INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version "
                              f"{version.decode('latin-1')!r}; supported: {', '.join(PROTOCOL_VERSIONS)}")
        return session

    async def _post(self, server: McpServer, scope: dict, receive: Callable, send: Callable) -> None:
        if not is_json_content(scope):
            raise HttpRefusal(415, INVALID_REQUEST, "Unsupported Media Type: send Content-Type: application/json")
        json_ok, sse_ok = accepts(scope)
        if not (json_ok or sse_ok):
            raise HttpRefusal(406, INVALID_REQUEST, "Not Acceptable: accept application/json and/or text/event-stream")
        declared = header_value(scope, b"content-length")
        try:
            body = await read_body(receive, self.max_body, int(declared) if declared and declared.isdigit() else None)
        except BodyTooLarge:
            raise HttpRefusal(413, INVALID_REQUEST, f"Payload Too Large: the limit is {self.max_body} bytes") from None
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HttpRefusal(400, PARSE_ERROR, f"Parse error: {exc}") from None
        deep = too_deep(value)
        if deep is not None:
            raise HttpRefusal(400, INVALID_REQUEST, f"Invalid Request: {depth_message(deep)}")
        use_sse = sse_ok and (server.config.response_mode != "json" or not json_ok)
        if server.config.response_mode == "sse" and not sse_ok:
            use_sse = False
        if isinstance(value, list):
            return await self._batch(server, scope, value, use_sse, receive, send)
        message = _message(value)
        if message.is_request and message.method == "initialize":
            return await self._initialize(server, scope, message, use_sse, receive, send)
        try:
            session = self._session(server, scope)
        except HttpRefusal as refusal:
            refusal.id = message.id if message.is_request else None  # lets the client match the failure
            raise
        headers = [(SESSION_HEADER, session.id.encode())]
        if not message.is_request:
            _accept_one_way(server, session, message)
            return await send_empty(send, 202, headers)
        if not use_sse:
            return await send_json(send, 200, await methods.answer(server, session, message, None), headers)
        stream = self._open_stream(session, message.id)
        self._start(session, message, self._run(server, session, message, stream, finish=True))
        await pump_stream(send, receive, stream, -1, headers)

    async def _initialize(self, server: McpServer, scope: dict, message: jsonrpc.Message, use_sse: bool,
                          receive: Callable, send: Callable) -> None:
        if header_value(scope, SESSION_HEADER) is not None:
            raise HttpRefusal(400, INVALID_REQUEST, "Bad Request: initialize must not carry Mcp-Session-Id; "
                                                    "a new session starts without one", id=message.id)
        params = message.params if message.params is not None else {}
        try:
            if not isinstance(params, dict):
                raise JSONRPCError(jsonrpc.INVALID_PARAMS, "Invalid params: MCP params must be an object")
            methods.check_initialize(params)
        except JSONRPCError as exc:
            return await send_json(send, 200, jsonrpc.error(message.id, exc.code, exc.message))
        version = methods.negotiate(params["protocolVersion"])
        session = server.sessions.create(version, params.get("clientInfo", {}), params.get("capabilities", {}))
        server.counters["sessions"] += 1
        response = jsonrpc.result(message.id, methods.initialize_result(server, version))
        headers = [(SESSION_HEADER, session.id.encode())]
        if not use_sse:
            return await send_json(send, 200, response, headers)
        stream = self._open_stream(session, message.id)
        stream.push(response)
        stream.finish()
        await pump_stream(send, receive, stream, -1, headers)

    async def _batch(self, server: McpServer, scope: dict, items: list, use_sse: bool,
                     receive: Callable, send: Callable) -> None:
        """JSON-RPC batches exist only in 2025-03-26; later versions removed them."""
        if not items:
            raise HttpRefusal(400, INVALID_REQUEST, "Invalid Request: empty batch")
        session = self._session(server, scope) if header_value(scope, SESSION_HEADER) is not None else None
        if session is None or session.version != BATCH_VERSION:
            version = session.version if session else "an uninitialized session"
            raise HttpRefusal(400, INVALID_REQUEST, f"Invalid Request: JSON-RPC batches are not supported in {version} "
                              f"(only protocol version {BATCH_VERSION} allows them)")
        headers = [(SESSION_HEADER, session.id.encode())]
        errors, requests = [], []
        for item in items:
            try:
                message = _message(item)
            except HttpRefusal as refusal:
                errors.append(jsonrpc.error(refusal.id, refusal.code, refusal.message))
                continue
            if message.is_request and message.method == "initialize":
                errors.append(jsonrpc.error(message.id, INVALID_REQUEST, "Invalid Request: initialize must not be batched"))
            elif message.is_request:
                requests.append(message)
            else:
                _accept_one_way(server, session, message)
        if not requests and not errors:
            return await send_empty(send, 202, headers)
        if not use_sse:
            answers = await asyncio.gather(*(methods.answer(server, session, m, None) for m in requests))
            return await send_json(send, 200, errors + list(answers), headers)
        stream = self._open_stream(session, None)
        for error in errors:
            stream.push(error)
        runs = [self._run(server, session, m, stream, finish=False) for m in requests]

        async def all_then_finish() -> None:
            await asyncio.gather(*runs, return_exceptions=True)
            stream.finish()
        asyncio.ensure_future(all_then_finish())
        await pump_stream(send, receive, stream, -1, headers)

    async def _get(self, server: McpServer, scope: dict, receive: Callable, send: Callable) -> None:
        if not accepts(scope)[1]:
            raise HttpRefusal(406, INVALID_REQUEST, "Not Acceptable: the GET stream needs Accept: text/event-stream")
        session = self._session(server, scope)
        headers = [(SESSION_HEADER, session.id.encode())]
        last = header_value(scope, LAST_EVENT_ID)
        if last is not None:
            found = session.find_event(last.decode("latin-1"))
            if found is None:
                raise HttpRefusal(400, INVALID_REQUEST, f"Bad Request: unknown Last-Event-ID {last.decode('latin-1')!r}")
            stream, seq = found
            await pump_stream(send, receive, stream, seq, headers)
            return
        if session.get_stream is not None and not session.get_stream.finished:
            raise HttpRefusal(409, INVALID_REQUEST, "Conflict: this session already has an open GET stream")
        stream = session.get_stream = self._open_stream(session, None)
        try:
            await pump_stream(send, receive, stream, -1, headers)
        finally:
            if session.get_stream is stream:
                stream.finish()

    @staticmethod
    def _open_stream(session: Session, related_id: Any) -> Stream:
        stream = session.new_stream(related_id)
        if session.version >= PRIMING_VERSION:
            stream.prime(None)
        return stream

    @staticmethod
    def _start(session: Session, message: jsonrpc.Message, run) -> None:
        task = asyncio.ensure_future(run)
        session.tasks[message.id] = task
        task.add_done_callback(lambda _: session.tasks.pop(message.id, None) if session.tasks.get(message.id) is task else None)

    @staticmethod
    async def _run(server: McpServer, session: Session, message: jsonrpc.Message, stream: Stream, finish: bool) -> None:
        """Answer one request onto ``stream``; a cancelled request (notifications/cancelled) gets no answer."""
        try:
            stream.push(await methods.answer(server, session, message, stream))
        finally:
            if finish:
                stream.finish()


def _message(value: Any) -> jsonrpc.Message:
    """One JSON-RPC message, or the spec's -32600 (MCP also forbids null ids)."""
    try:
        message = jsonrpc.validate(value)
    except JSONRPCError as exc:
        raise HttpRefusal(400, exc.code, exc.message, id=exc.id) from None
    if "id" in message.raw and message.id is None:
        raise HttpRefusal(400, INVALID_REQUEST, "Invalid Request: MCP forbids null ids")
    if not message.is_request:
        # A notification or a response is answered 202 with no body: the contract is checked here or never.
        issues = check("mcp-request", message.raw)
        if issues:
            kind = "response" if message.is_response else "notification"
            raise HttpRefusal(400, INVALID_REQUEST, f"Invalid Request: the {kind} does not match the MCP message "
                              f"schema: {issues[0].message}")
    elif unknown := sorted(set(message.raw) - _REQUEST_MEMBERS):  # strict, as the reference SDKs' schemas
        raise HttpRefusal(400, INVALID_REQUEST, f"Invalid Request: unknown member(s) {', '.join(map(repr, unknown))}; "
                          f"a request has only {', '.join(sorted(_REQUEST_MEMBERS))}", id=message.id)
    return message


_REQUEST_MEMBERS = frozenset({"jsonrpc", "id", "method", "params"})


def _accept_one_way(server: McpServer, session: Session, message: jsonrpc.Message) -> None:
    """A notification or a response to one of our requests: act on it; the answer is 202 either way."""
    if message.is_response:
        future = session.pending.get(message.id)
        if future is not None and not future.done():
            future.set_result(message.raw)
        return
    server.counters[f"notification:{message.method}"] += 1
    if message.method == "notifications/initialized":
        session.initialized = True
    elif message.method == "notifications/cancelled" and isinstance(message.params, dict):
        task = session.tasks.get(message.params.get("requestId"))
        if task is not None:
            task.cancel()
