"""The MCP methods a fixture server answers, with the spec's error codes.

Each handler takes the validated params and returns the result object, or raises ``JSONRPCError``:
-32602 for bad params (unknown tool or prompt, missing argument, bad cursor), -32601 for a method the
server's capabilities do not cover, -32002 for an unknown resource. A tool that fails is a *result*
with ``isError: true``. Results are shaped for the session's protocol version (2025-03-26 has no
titles, output schemas or structured content).
"""

import asyncio
import logging
from typing import Any, Callable

from aigw.mocks.mcp.config import PROTOCOL_VERSIONS
from aigw.mocks.mcp.fixtures import NotFound, ToolFailure
from aigw.mocks.mcp.server import McpServer
from aigw.mocks.mcp.session import LOG_LEVELS, Session, Stream
from aigw.protocol import jsonrpc
from aigw.protocol.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JSONRPCError

log = logging.getLogger("aigw.mocks.mcp")
RESOURCE_NOT_FOUND = -32002
CLIENT_ANSWER_TIMEOUT_S = 60.0
OLDEST = PROTOCOL_VERSIONS[-1]


def negotiate(requested: Any) -> str:
    """The client's version when we speak it, else our latest (the spec's rule)."""
    return requested if requested in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]


def initialize_result(server: McpServer, version: str) -> dict[str, Any]:
    info = {"name": f"aigw-mock-{server.name}", "version": "0.1.0"}
    if version != OLDEST and server.config.title:
        info["title"] = server.config.title
    result = {"protocolVersion": version, "capabilities": server.capabilities(), "serverInfo": info}
    if server.config.instructions:
        result["instructions"] = server.config.instructions
    return result


def check_initialize(params: dict[str, Any]) -> None:
    if not isinstance(params.get("protocolVersion"), str):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: initialize needs params.protocolVersion (a string)")
    if not isinstance(params.get("capabilities", {}), dict):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: params.capabilities must be an object")
    if not isinstance(params.get("clientInfo", {}), dict):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: params.clientInfo must be an object")


class Context:
    """What a tool sees of the request it serves (implements ``fixtures.ToolContext``)."""

    def __init__(self, server: McpServer, session: Session, params: dict[str, Any], stream: Stream | None) -> None:
        self.server, self.session, self.stream = server, session, stream
        self.seed = server.seed
        self.client_capabilities = session.client_capabilities
        meta = params.get("_meta")
        self.progress_token = meta.get("progressToken") if isinstance(meta, dict) else None

    def _emit(self, message: dict[str, Any]) -> bool:
        """Onto this request's stream; in JSON mode onto the session's GET stream if one is open."""
        target = self.stream or self.session.get_stream
        if target is None or target.finished:
            return False
        target.push(message)
        return True

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        self._emit(jsonrpc.notification("notifications/progress", params))

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        if self.session.wants_log(level):
            params = {"level": level, "data": data, **({"logger": logger} if logger else {})}
            self._emit(jsonrpc.notification("notifications/message", params))

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = self.session.next_request_id()
        future = asyncio.get_running_loop().create_future()
        self.session.pending[request_id] = future
        try:
            if not self._emit(jsonrpc.request(request_id, method, params)):
                raise ToolFailure(f"{method} needs a stream to the client: accept text/event-stream or open the GET stream")
            answer = await asyncio.wait_for(future, CLIENT_ANSWER_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ToolFailure(f"the client did not answer {method} within {CLIENT_ANSWER_TIMEOUT_S:.0f} s") from None
        finally:
            self.session.pending.pop(request_id, None)
        if "error" in answer:
            raise ToolFailure(f"the client answered {method} with an error: {answer['error']}")
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def close_stream(self, retry_ms: int) -> None:
        if self.stream is not None:
            self.stream.cut(retry_ms)


def _page(items: list, params: dict[str, Any], size: int, key: str) -> dict[str, Any]:
    cursor = params.get("cursor")
    start = 0
    if cursor is not None:
        if not isinstance(cursor, str) or not cursor.startswith("offset:") or not cursor[7:].isdigit():
            raise JSONRPCError(INVALID_PARAMS, f"Invalid params: unknown cursor {cursor!r}")
        start = int(cursor[7:])
    page: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        page["nextCursor"] = f"offset:{start + size}"
    return page


def _downgrade_tool(entry: dict[str, Any], version: str) -> dict[str, Any]:
    if version == OLDEST:
        entry = {k: v for k, v in entry.items() if k not in ("title", "outputSchema")}
    return entry


def _string(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str):
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: params.{name} must be a string")
    return value


def _require(server: McpServer, capability: str, method: str) -> None:
    if capability not in server.capabilities():
        raise JSONRPCError(METHOD_NOT_FOUND, f"Method not found: {method} (server {server.name!r} has no {capability})")


async def call_tool(server: McpServer, session: Session, params: dict[str, Any], stream: Stream | None) -> dict:
    _require(server, "tools", "tools/call")
    name = _string(params, "name")
    tool = server.tools.get(name)
    if tool is None:
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: unknown tool {name!r}", data={"known": list(server.tools)})
    arguments = params.get("arguments", {})
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: params.arguments must be an object")
    problems = tool.argument_problems(arguments)
    server.counters[f"tools/call:{name}"] += 1
    if problems:
        message = f"Invalid arguments for tool {name}: {'; '.join(problems)}"
        if session.version < "2025-11-25":
            raise JSONRPCError(INVALID_PARAMS, f"Invalid params: {message}")
        return {"content": [{"type": "text", "text": message}], "isError": True}  # SEP-1303: the model can retry
    try:
        result = await tool.handler(arguments, Context(server, session, params, stream))
    except ToolFailure as failure:
        result = {"content": [{"type": "text", "text": str(failure)}], "isError": True}
    if session.version == OLDEST:
        result = {k: v for k, v in result.items() if k != "structuredContent"}
    return result


def read_resource(server: McpServer, params: dict[str, Any]) -> dict:
    _require(server, "resources", "resources/read")
    uri = _string(params, "uri")
    resource = server.resources.get(uri)
    try:
        if resource is not None:
            return {"contents": resource.contents()}
        for template in server.fixtures.templates:
            variables = template.match(uri)
            if variables is not None:
                return {"contents": template.read(variables, server.seed)}
    except NotFound:
        pass
    raise JSONRPCError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", data={"uri": uri})


def get_prompt(server: McpServer, params: dict[str, Any]) -> dict:
    _require(server, "prompts", "prompts/get")
    name = _string(params, "name")
    prompt = server.prompts.get(name)
    if prompt is None:
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: unknown prompt {name!r}", data={"known": list(server.prompts)})
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: prompt arguments must be an object of strings")
    missing = [a.name for a in prompt.arguments if a.required and a.name not in arguments]
    if missing:
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: prompt {name!r} needs argument(s) {', '.join(missing)}")
    try:
        messages = prompt.render(arguments)
    except ValueError as exc:
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: {exc}") from None
    return {"description": prompt.description, "messages": messages}


def complete(server: McpServer, params: dict[str, Any]) -> dict:
    _require(server, "completions", "completion/complete")
    ref, argument = params.get("ref"), params.get("argument")
    if not isinstance(ref, dict) or ref.get("type") not in ("ref/prompt", "ref/resource"):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: params.ref must be a ref/prompt or ref/resource reference")
    if not isinstance(argument, dict) or not isinstance(argument.get("name"), str) or not isinstance(argument.get("value"), str):
        raise JSONRPCError(INVALID_PARAMS, "Invalid params: params.argument needs string name and value")
    target = ref.get("name") if ref["type"] == "ref/prompt" else ref.get("uri")
    known = server.prompts if ref["type"] == "ref/prompt" else {t.uri_template: t for t in server.fixtures.templates}
    if not isinstance(target, str) or target not in known:
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: unknown {ref['type'][4:]} {target!r}")
    candidates = server.fixtures.completions.get((ref["type"], target, argument["name"]), [])
    prefix = argument["value"].lower()
    values = [v for v in candidates if v.lower().startswith(prefix)]
    return {"completion": {"values": values[:100], "total": len(values), "hasMore": len(values) > 100}}


def set_level(session: Session, params: dict[str, Any]) -> dict:
    level = params.get("level")
    if level not in LOG_LEVELS:
        raise JSONRPCError(INVALID_PARAMS, f"Invalid params: level must be one of {', '.join(LOG_LEVELS)}")
    session.log_level = level
    return {}


def subscription(server: McpServer, session: Session, params: dict[str, Any], subscribe: bool) -> dict:
    _require(server, "resources", "resources/subscribe" if subscribe else "resources/unsubscribe")
    uri = _string(params, "uri")
    (session.subscriptions.add if subscribe else session.subscriptions.discard)(uri)
    return {}


def _listing(server: McpServer, capability: str, method: str, items: list, params: dict[str, Any], key: str) -> dict:
    _require(server, capability, method)
    return _page(items, params, server.config.page_size, key)


Handler = Callable[[McpServer, Session, dict[str, Any]], Any]
SIMPLE: dict[str, Handler] = {
    "ping": lambda s, ses, p: {},
    "tools/list": lambda s, ses, p: _listing(
        s, "tools", "tools/list", [_downgrade_tool(t.listing(), ses.version) for t in s.fixtures.tools], p, "tools"),
    "resources/list": lambda s, ses, p: _listing(
        s, "resources", "resources/list", [r.listing() for r in s.fixtures.resources], p, "resources"),
    "resources/templates/list": lambda s, ses, p: _listing(
        s, "resources", "resources/templates/list", [t.listing() for t in s.fixtures.templates], p, "resourceTemplates"),
    "resources/read": lambda s, ses, p: read_resource(s, p),
    "resources/subscribe": lambda s, ses, p: subscription(s, ses, p, True),
    "resources/unsubscribe": lambda s, ses, p: subscription(s, ses, p, False),
    "prompts/list": lambda s, ses, p: _listing(
        s, "prompts", "prompts/list", [pr.listing() for pr in s.fixtures.prompts], p, "prompts"),
    "prompts/get": lambda s, ses, p: get_prompt(s, p),
    "completion/complete": lambda s, ses, p: complete(s, p),
    "logging/setLevel": lambda s, ses, p: set_level(ses, p),
}


async def answer(server: McpServer, session: Session, message: jsonrpc.Message, stream: Stream | None) -> dict:
    """The JSON-RPC response to one request of an initialized session; never raises."""
    method, params = message.method, message.params
    server.counters[f"method:{method}"] += 1
    try:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise JSONRPCError(INVALID_PARAMS, "Invalid params: MCP params must be an object")
        if method == "tools/call":
            return jsonrpc.result(message.id, await call_tool(server, session, params, stream))
        if method == "initialize":
            raise JSONRPCError(jsonrpc.INVALID_REQUEST, "Invalid Request: this session is already initialized")
        handler = SIMPLE.get(method)
        if handler is None:
            raise JSONRPCError(METHOD_NOT_FOUND, f"Method not found: {method}")
        return jsonrpc.result(message.id, handler(server, session, params))
    except JSONRPCError as exc:
        return jsonrpc.error(message.id, exc.code, exc.message, exc.data)
    except Exception:  # a bug of ours: the protocol's internal error, never a traceback on the wire
        log.exception("MCP server %s failed on %s", server.name, method)
        return jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR, f"Internal error while handling {method}")
