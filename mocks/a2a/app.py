"""The A2A mount: agent cards, an agent index and each agent's JSON-RPC endpoint, as raw ASGI.

Paths (mounted at ``/.well-known/agent-card.json`` and ``/a2a`` by ``aigw.mocks.mounts``):

    GET  /.well-known/agent-card.json            the default agent's card
    GET  /a2a                                    every agent with its card and endpoint URLs
    GET  /a2a/{agent}/.well-known/agent-card.json
    POST /a2a/{agent}                            JSON-RPC: v1.0 method names and v0.3 ones

Request checks, each answered in the protocol's own terms: credentials (401 + ``WWW-Authenticate``
when ``auth.mode`` is ``keys``), ``Content-Type`` (-32005), size (-32600), JSON (-32700), envelope
(-32600), ``A2A-Version`` (-32009; absent or empty means 0.3 and admits both generations of method
names, a stated version must be 0.3 or 1.0 — patch ignored — and must match the method's generation),
method (-32601), params (-32602). Streaming methods answer ``text/event-stream``, one JSON-RPC
response per event. Anything unexpected is -32603 — never a 500 and never a traceback.
"""

import logging
from typing import Any, AsyncIterator, Callable
from urllib.parse import parse_qs

import orjson

from aigw.mocks.a2a import card, errors, jsonrpc_binding, legacy
from aigw.mocks.a2a.config import A2AConfig
from aigw.mocks.a2a.service import AgentService
from aigw.mocks.a2a.tasks import TaskStore
from aigw.mocks.asgi import BodyTooLarge, ClientGone, header_value, read_body, send_bytes, sleep_unless_disconnected
from aigw.mocks.clock import Clock
from aigw.protocol import jsonrpc
from aigw.protocol.sse import encode_event

log = logging.getLogger("aigw.mocks.a2a")
CARD_PATH = "/.well-known/agent-card.json"
SUPPORTED_VERSIONS = {"0.3": "v0.3", "1.0": "v1.0"}
JSON_TYPES = ("application/json", "application/a2a+json")


class Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or []


class A2AApp:
    def __init__(self, section: A2AConfig, seed: int, clock: Clock, keys: list[str] | None, max_body: int) -> None:
        self.section, self.max_body = section, max_body
        self.seed, self.clock = seed, clock
        self.keys = {k.encode() for k in keys} if keys else None
        self.bearers = {b"Bearer " + k for k in self.keys} if self.keys else None
        self.reset()

    def reset(self) -> None:
        """Every agent back to its config: no tasks, no push configs, id sequences from the seed again."""
        section, seed = self.section, self.seed
        self.services = {
            agent.name: AgentService(agent, TaskStore(agent.name, seed, self.clock, section.duration(agent),
                                                      section.max_tasks), seed)
            for agent in section.agents
        }

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            await self._route(scope, receive, send)
        except Refused as refused:
            await _send_json(send, refused.status, refused.body, refused.headers)
        except ClientGone:
            return

    async def _route(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope["path"].rstrip("/") or "/"
        base = _base_url(scope)
        if path == CARD_PATH:
            return await self._get(scope, send, lambda: card.agent_card(self.section.default, base, bool(self.keys)))
        if path == "/a2a":
            return await self._get(scope, send, lambda: card.agent_index(self.section.agents, base))
        name, _, tail = path.removeprefix("/a2a/").partition("/")
        service = self.services.get(name)
        if service is None:
            raise Refused(404, _not_found(f"No A2A agent named {name!r}; agents: {', '.join(self.services)}"))
        if tail == CARD_PATH[1:]:
            return await self._get(scope, send, lambda: card.agent_card(service.agent, base, bool(self.keys)))
        if tail:
            raise Refused(404, _not_found(f"No such path {scope['path']!r}; the agent's endpoint is /a2a/{name}"))
        if scope["method"] != "POST":
            raise Refused(405, {"error": {"code": "MethodNotAllowed", "message": "The JSON-RPC endpoint takes POST"}},
                          [(b"allow", b"POST")])
        await self._rpc(service, scope, receive, send)

    async def _get(self, scope: dict, send: Callable, body: Callable[[], dict]) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise Refused(405, {"error": {"code": "MethodNotAllowed", "message": "Use GET"}}, [(b"allow", b"GET, HEAD")])
        await _send_json(send, 200, body(), [])

    # --- JSON-RPC --------------------------------------------------------------------------------
    async def _rpc(self, service: AgentService, scope: dict, receive: Callable, send: Callable) -> None:
        self._check_auth(scope)
        content_type = (header_value(scope, b"content-type") or b"").decode("latin-1").split(";")[0].strip().lower()
        if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
            raise Refused(415, errors.error_body(None, errors.CONTENT_TYPE_NOT_SUPPORTED,
                                                 f"Content-Type {content_type!r} is not supported; send application/json",
                                                 True))
        declared = header_value(scope, b"content-length")
        try:
            raw = await read_body(receive, self.max_body, int(declared) if declared and declared.isdigit() else None)
        except BodyTooLarge:
            raise Refused(413, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                             f"Invalid Request: the body exceeds {self.max_body} bytes")) from None
        try:
            message = jsonrpc.parse(raw)
        except jsonrpc.JSONRPCError as exc:
            raise Refused(200, exc.body()) from None
        if isinstance(message, list):
            raise Refused(200, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Invalid Request: A2A takes no batches"))
        if not message.method:
            raise Refused(200, jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST, "Invalid Request: method is required"))
        generation = self._stated_version(scope, message)
        v1 = message.method not in legacy.METHODS if generation is None else generation == "v1.0"
        handler = jsonrpc_binding.METHODS.get(message.method) or legacy.METHODS.get(message.method)
        if handler is None:
            raise Refused(200, errors.error_body(message.id, jsonrpc.METHOD_NOT_FOUND,
                                                 f"Method not found: {message.method}", v1))
        if generation is not None and v1 != (message.method in jsonrpc_binding.METHODS):
            hint = "the v1.0 name (e.g. SendMessage)" if v1 else "the v0.3 name (e.g. message/send)"
            raise Refused(200, errors.error_body(message.id, errors.VERSION_NOT_SUPPORTED,
                                                 f"Method {message.method!r} is not part of the A2A version this request "
                                                 f"states; use {hint}", v1))
        v1 = message.method in jsonrpc_binding.METHODS
        sleep = lambda seconds: sleep_unless_disconnected(receive, seconds)  # noqa: E731
        try:
            if not isinstance(message.params, (dict, type(None))):
                raise errors.invalid_params("params must be an object")
            result = await handler(service, message.params or {}, sleep)
        except errors.A2AError as exc:
            raise Refused(200, errors.error_body(message.id, exc.code, exc.message, v1, exc.metadata)) from None
        except ClientGone:
            raise
        except Exception:
            log.exception("A2A agent %s failed on %s", service.agent.name, message.method)
            raise Refused(200, errors.error_body(message.id, jsonrpc.INTERNAL_ERROR, "Internal error", v1)) from None
        if message.method in jsonrpc_binding.STREAMING or message.method in legacy.STREAMING:
            await _stream(send, message.id, result, v1)
        else:
            await _send_json(send, 200, jsonrpc.result(message.id, result), [])

    def _check_auth(self, scope: dict) -> None:
        if self.keys is None:
            return
        if header_value(scope, b"api-key") in self.keys or header_value(scope, b"authorization") in self.bearers:
            return
        raise Refused(401, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                         "Unauthorized: send one of the mock's keys as api-key or Authorization: Bearer"),
                      [(b"www-authenticate", b'Bearer realm="aigw-mock-a2a"')])

    def _stated_version(self, scope: dict, message: jsonrpc.Message) -> str | None:
        """The generation ("v1.0"/"v0.3") the request states, None when it states none; -32009 if unsupported."""
        stated = (header_value(scope, b"a2a-version") or b"").decode("latin-1").strip()
        if not stated:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            stated = (query.get("A2A-Version") or query.get("a2a-version") or [""])[0].strip()
        if not stated:
            return None  # absent or empty means 0.3; this endpoint then takes both generations (TCK VER-SERVER-003)
        generation = SUPPORTED_VERSIONS.get(".".join(stated.split(".")[:2]))  # patch versions are ignored
        if generation is None:
            v1 = message.method not in legacy.METHODS
            raise Refused(200, errors.error_body(
                message.id, errors.VERSION_NOT_SUPPORTED,
                f"A2A-Version {stated!r} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}", v1,
                {"requestedVersion": stated}))
        return generation


async def _stream(send: Callable, request_id: jsonrpc.Id, events: AsyncIterator[dict], v1: bool) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                            (b"x-accel-buffering", b"no")]})
    try:
        async for event in events:
            frame = encode_event(orjson.dumps(jsonrpc.result(request_id, event)))
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    except ClientGone:
        return
    except errors.A2AError as exc:
        body = errors.error_body(request_id, exc.code, exc.message, v1, exc.metadata)
        await send({"type": "http.response.body", "body": encode_event(orjson.dumps(body)), "more_body": True})
    except Exception:
        log.exception("A2A stream failed")
        body = errors.error_body(request_id, jsonrpc.INTERNAL_ERROR, "Internal error", v1)
        await send({"type": "http.response.body", "body": encode_event(orjson.dumps(body)), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_json(send: Callable, status: int, payload: Any, headers: list[tuple[bytes, bytes]]) -> None:
    await send_bytes(send, status, orjson.dumps(payload), headers)


def _not_found(message: str) -> dict[str, Any]:
    return {"error": {"code": "NotFound", "message": message}}


def _base_url(scope: dict) -> str:
    host = header_value(scope, b"host")
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}".encode()
    scheme = "https" if scope.get("scheme") == "https" else "http"
    return f"{scheme}://{host.decode('latin-1')}{scope.get('root_path', '')}"


def build(config: Any, clock: Clock) -> A2AApp:
    """The app for a ``MockConfig`` (its ``a2a`` section, seed, auth and body limit) and the mock's clock."""
    keys = config.auth.keys if config.auth.mode == "keys" else None
    return A2AApp(config.a2a, config.seed, clock, keys, config.max_body_bytes)
