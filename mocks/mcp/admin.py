"""Admin API for the MCP servers, under ``/_mock/mcp`` (same admin token as ``/_mock``).

    GET    /_mock/mcp                          every server: path, sessions, counters, faults
    GET    /_mock/mcp/{server}                 one server
    GET    /_mock/mcp/{server}/faults          its faults
    PUT    /_mock/mcp/{server}/faults          replace them (body: added_latency_ms, error_rates, drop_session_rate)
    PATCH  /_mock/mcp/{server}/faults          change some fields
    DELETE /_mock/mcp/{server}/faults          clear them
    DELETE /_mock/mcp/{server}/sessions        drop every session now (clients get 404 and must initialize)
    POST   /_mock/mcp/{server}/notify          {"uri": ...}: notifications/resources/updated to subscribers
    POST   /_mock/mcp/reset                    sessions, counters and faults back to the config
                                               (``POST /_mock/reset`` does this too, with everything else)

The token guard, JSON answers and body reading are the main admin API's (``aigw.mocks.admin``).
"""

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aigw.mocks.admin import AdminError, body_of, guard, invalid_faults, json_response as _json
from aigw.mocks.mcp.config import McpConfig, McpFaults
from aigw.mocks.mcp.server import McpServer, reset_servers
from aigw.protocol import jsonrpc


def build(servers: dict[str, McpServer], config: McpConfig, admin_token: str, seed: int, clock) -> Starlette:
    guarded = guard(admin_token)

    def server_of(request: Request) -> McpServer:
        name = request.path_params["server"]
        if name not in servers:
            raise AdminError(404, f"no MCP server named {name!r}; have: {', '.join(servers)}")
        return servers[name]

    async def overview(request: Request) -> Response:
        return _json({"servers": {name: s.snapshot() for name, s in servers.items()}})

    async def one(request: Request) -> Response:
        return _json(server_of(request).snapshot())

    async def faults(request: Request) -> Response:
        target = server_of(request)
        if request.method == "GET":
            return _json(target.faults.faults.model_dump(mode="json"))
        if request.method == "DELETE":
            target.faults.set(McpFaults())
            return _json(target.faults.faults.model_dump(mode="json"))
        body = await body_of(request)
        if request.method == "PATCH":
            body = {**target.faults.faults.model_dump(), **body}
        try:
            target.faults.set(McpFaults.model_validate(body))
        except ValidationError as exc:
            raise invalid_faults(exc) from None
        return _json(target.faults.faults.model_dump(mode="json"))

    async def drop_sessions(request: Request) -> Response:
        target = server_of(request)
        dropped = target.sessions.clear()
        target.counters["fault:drop_session"] += dropped
        return _json({"server": target.name, "dropped": dropped})

    async def notify(request: Request) -> Response:
        target = server_of(request)
        uri = (await body_of(request)).get("uri")
        if not isinstance(uri, str) or not uri:
            raise AdminError(400, '"uri" must be a non-empty string')
        notified = 0
        for session in target.sessions.live():
            stream = session.get_stream
            if uri in session.subscriptions and stream is not None and not stream.finished:
                stream.push(jsonrpc.notification("notifications/resources/updated", {"uri": uri}))
                notified += 1
        return _json({"server": target.name, "uri": uri, "notified": notified})

    async def reset(request: Request) -> Response:
        reset_servers(servers, config, seed, clock)
        return _json({"status": "reset"})

    return Starlette(routes=[
        Route("/_mock/mcp", guarded(overview)),
        Route("/_mock/mcp/reset", guarded(reset), methods=["POST"]),
        Route("/_mock/mcp/{server}", guarded(one)),
        Route("/_mock/mcp/{server}/faults", guarded(faults), methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route("/_mock/mcp/{server}/sessions", guarded(drop_sessions), methods=["DELETE"]),
        Route("/_mock/mcp/{server}/notify", guarded(notify), methods=["POST"]),
    ])
