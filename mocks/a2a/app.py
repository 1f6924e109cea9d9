"""The A2A mount: agent cards, an agent index and each agent's two bindings, as raw ASGI.

Paths (mounted at ``/.well-known/agent-card.json`` and ``/a2a`` by ``aigw.mocks.mounts``):

    GET  /.well-known/agent-card.json            the default agent's card
    GET  /a2a                                    every agent with its card and endpoint URLs
    GET  /a2a/{agent}/.well-known/agent-card.json
    POST /a2a/{agent}                            JSON-RPC: v1.0 method names and v0.3 ones
    *    /a2a/{agent}/message:send, /tasks/{id}, … HTTP+JSON (v1.0 REST paths, ``protocol.a2a_rest``)

Cards carry ``Cache-Control: public, max-age`` (``a2a.card_max_age``), a strong ``ETag`` and
``Last-Modified``, and answer ``If-None-Match`` / ``If-Modified-Since`` with 304 (CARD-CACHE-001..003).

Request checks, each answered in the binding's own terms (JSON-RPC error object / AIP-193 status):
credentials (401 + ``WWW-Authenticate`` when ``auth.mode`` is ``keys``), ``Content-Type`` (-32005 /
415), size (-32600 / 413), JSON (-32700 / 400), envelope (-32600), ``A2A-Version`` (-32009; for
JSON-RPC absent or empty means 0.3 and admits both generations of method names, a stated version must
be 0.3 or 1.0 — patch ignored — and must match the method's generation; the REST paths are v1.0's, so
there a stated version must be 1.x), method (-32601 / 404 or 405), required extensions (-32008 unless
the ``A2A-Extensions`` header names them; the ones honoured are echoed in that response header),
params (-32602 / 400). Streaming answers ``text/event-stream``: one JSON-RPC response, or one bare
``StreamResponse``, per event. Anything unexpected is -32603 / 500 with the binding's error body —
never a traceback.
"""

import hashlib
import logging
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, AsyncIterator, Callable
from urllib.parse import parse_qs

import orjson

from aigw.mocks.a2a import card, errors, jsonrpc_binding, legacy, rest_binding
from aigw.mocks.a2a.config import A2AConfig, Agent
from aigw.mocks.a2a.push import PushDispatcher
from aigw.mocks.a2a.service import AgentService, Call
from aigw.mocks.a2a.tasks import TaskStore
from aigw.mocks.asgi import BodyTooLarge, ClientGone, header_value, read_body, send_bytes, sleep_unless_disconnected
from aigw.mocks.clock import Clock
from aigw.protocol import a2a_rest, jsonrpc
from aigw.protocol.sse import encode_error_event, encode_event

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
        self.push = PushDispatcher(section.push, clock.wall)
        self.last_modified = formatdate(int(time.time()), usegmt=True)  # the cards change only with the config
        self.reset()

    def reset(self) -> None:
        """Every agent back to its config: no tasks, no push configs or deliveries, id sequences from the seed."""
        section, seed = self.section, self.seed
        self.push.reset()
        self.services = {
            agent.name: AgentService(agent, TaskStore(agent.name, seed, self.clock, section.duration(agent),
                                                      section.max_tasks), seed, self.push)
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
            return await self._card(scope, send, card.agent_card(self.section.default, base, bool(self.keys)))
        if path == "/a2a":
            return await self._get(scope, send, lambda: card.agent_index(self.section.agents, base))
        name, _, tail = path.removeprefix("/a2a/").partition("/")
        service = self.services.get(name)
        if service is None:
            raise Refused(404, _not_found(f"No A2A agent named {name!r}; agents: {', '.join(self.services)}"))
        if tail == CARD_PATH[1:]:
            return await self._card(scope, send, card.agent_card(service.agent, base, bool(self.keys)))
        if tail:
            return await self._rest(service, "/" + tail, scope, receive, send)
        if scope["method"] != "POST":
            raise Refused(405, {"error": {"code": "MethodNotAllowed", "message": "The JSON-RPC endpoint takes POST"}},
                          [(b"allow", b"POST")])
        await self._rpc(service, scope, receive, send)

    async def _get(self, scope: dict, send: Callable, body: Callable[[], dict]) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise Refused(405, {"error": {"code": "MethodNotAllowed", "message": "Use GET"}}, [(b"allow", b"GET, HEAD")])
        await _send_json(send, 200, body(), [])

    async def _card(self, scope: dict, send: Callable, value: dict) -> None:
        """An agent card with its caching headers; a matching conditional GET is a 304 without a body."""
        if scope["method"] not in ("GET", "HEAD"):
            raise Refused(405, {"error": {"code": "MethodNotAllowed", "message": "Use GET"}}, [(b"allow", b"GET, HEAD")])
        body = orjson.dumps(value)
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = [(b"cache-control", f"public, max-age={self.section.card_max_age}".encode()),
                   (b"etag", etag.encode()), (b"last-modified", self.last_modified.encode())]
        if _not_modified(scope, etag, self.last_modified):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_bytes(send, 200, body, headers)

    # --- shared by both bindings -----------------------------------------------------------------
    def _extensions(self, agent: Agent, scope: dict) -> list[tuple[bytes, bytes]]:
        """Refuse a request that does not name a required extension; the response header lists the
        requested extensions the agent supports (those it honours)."""
        raw = (header_value(scope, b"a2a-extensions") or b"").decode("latin-1")
        requested = {uri.strip() for uri in raw.split(",") if uri.strip()}
        missing = [e.uri for e in agent.extensions if e.required and e.uri not in requested]
        if missing:
            raise errors.A2AError(errors.EXTENSION_SUPPORT_REQUIRED,
                                  f"Agent {agent.name!r} requires extension(s) {', '.join(missing)}; name them in the "
                                  "A2A-Extensions header", {"extensions": ",".join(missing)})
        active = [e.uri for e in agent.extensions if e.uri in requested]
        return [(b"a2a-extensions", ", ".join(active).encode())] if active else []

    def _call(self, scope: dict, receive: Callable) -> Call:
        return Call(lambda seconds: sleep_unless_disconnected(receive, seconds), _base_url(scope), bool(self.keys))

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
        try:
            if not isinstance(message.params, (dict, type(None))):
                raise errors.invalid_params("params must be an object")
            extra = self._extensions(service.agent, scope)
            result = await handler(service, message.params or {}, self._call(scope, receive))
        except errors.A2AError as exc:
            raise Refused(200, errors.error_body(message.id, exc.code, exc.message, v1, exc.metadata)) from None
        except ClientGone:
            raise
        except Exception:
            log.exception("A2A agent %s failed on %s", service.agent.name, message.method)
            raise Refused(200, errors.error_body(message.id, jsonrpc.INTERNAL_ERROR, "Internal error", v1)) from None
        if message.method in jsonrpc_binding.STREAMING or message.method in legacy.STREAMING:
            await _stream(send, result, lambda event: jsonrpc.result(message.id, event),
                          lambda code, text, meta: errors.error_body(message.id, code, text, v1, meta), extra)
        else:
            await _send_json(send, 200, jsonrpc.result(message.id, result), extra)

    # --- HTTP+JSON -------------------------------------------------------------------------------
    async def _rest(self, service: AgentService, tail: str, scope: dict, receive: Callable, send: Callable) -> None:
        route, path_params, other_method = a2a_rest.match(scope["method"], tail)
        if route is None:
            if other_method:
                raise Refused(405, _rest_error("METHOD_NOT_FOUND", f"{scope['method']} is not allowed on {scope['path']}"))
            raise Refused(*a2a_rest.error_body("METHOD_NOT_FOUND", f"No A2A operation at {scope['path']}; the HTTP+JSON "
                                         f"paths are /a2a/{service.agent.name}/message:send, …/tasks/{{id}}, …"))
        self._check_auth(scope, rest=True)
        self._rest_version(scope)
        body = await self._rest_body(scope, receive)
        operation = route.operation
        try:
            extra = self._extensions(service.agent, scope)
            params = rest_binding.params_for(path_params, rest_binding.query_params(scope.get("query_string", b"")), body)
            result = await jsonrpc_binding.METHODS[operation](service, params, self._call(scope, receive))
        except errors.A2AError as exc:
            raise Refused(*a2a_rest.error_body(errors.REASONS.get(exc.code, "INTERNAL_ERROR"), exc.message, exc.metadata)) from None
        except ClientGone:
            raise
        except Exception:
            log.exception("A2A agent %s failed on %s %s", service.agent.name, scope["method"], scope["path"])
            raise Refused(*a2a_rest.error_body("INTERNAL_ERROR", "Internal error")) from None
        if operation in a2a_rest.STREAMING:
            await _stream(send, result, lambda event: event,
                          lambda code, text, meta: _rest_error(errors.REASONS.get(code, "INTERNAL_ERROR"), text, meta),
                          extra, encode_error_event)
        else:
            await _send_json(send, 200, result, extra)

    def _rest_version(self, scope: dict) -> None:
        stated = (header_value(scope, b"a2a-version") or b"").decode("latin-1").strip()
        if stated and ".".join(stated.split(".")[:2]) != "1.0":
            raise Refused(*a2a_rest.error_body("VERSION_NOT_SUPPORTED", f"A2A-Version {stated!r} is not supported on the "
                                         "HTTP+JSON binding, which serves the v1.0 paths; send A2A-Version: 1.0",
                                         {"requestedVersion": stated}))

    async def _rest_body(self, scope: dict, receive: Callable) -> dict[str, Any]:
        declared = header_value(scope, b"content-length")
        try:
            raw = await read_body(receive, self.max_body, int(declared) if declared and declared.isdigit() else None)
        except BodyTooLarge:
            raise Refused(413, _rest_error("INVALID_REQUEST", f"The body exceeds {self.max_body} bytes")) from None
        if not raw.strip():
            return {}  # bodyless POSTs (:cancel, :subscribe) need no Content-Type
        content_type = (header_value(scope, b"content-type") or b"").decode("latin-1").split(";")[0].strip().lower()
        if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
            raise Refused(*a2a_rest.error_body("CONTENT_TYPE_NOT_SUPPORTED",
                                         f"Content-Type {content_type!r} is not supported; send application/json"))
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Refused(*a2a_rest.error_body("PARSE_ERROR", f"The body is not valid JSON: {exc}")) from None
        if not isinstance(body, dict):
            raise Refused(*a2a_rest.error_body("INVALID_REQUEST", "The body must be a JSON object"))
        return body

    def _check_auth(self, scope: dict, rest: bool = False) -> None:
        if self.keys is None:
            return
        if header_value(scope, b"api-key") in self.keys or header_value(scope, b"authorization") in self.bearers:
            return
        message = "Unauthorized: send one of the mock's keys as api-key or Authorization: Bearer"
        body = ({"error": {"code": 401, "status": "UNAUTHENTICATED", "message": message}} if rest
                else jsonrpc.error(None, jsonrpc.INVALID_REQUEST, message))
        raise Refused(401, body, [(b"www-authenticate", b'Bearer realm="aigw-mock-a2a"')])

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


async def _stream(send: Callable, events: AsyncIterator[dict], frame: Callable[[dict], Any],
                  error: Callable[[int, str, dict | None], Any], headers: list[tuple[bytes, bytes]],
                  error_event: Callable[[bytes], bytes] = encode_event) -> None:
    """Events as SSE, each wrapped by ``frame``; a failure mid-way is the last event, as ``error`` shapes it
    (JSON-RPC: a plain event holding the error response; HTTP+JSON: an ``event: error`` with the status)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                            (b"x-accel-buffering", b"no"), *headers]})
    try:
        async for event in events:
            await send({"type": "http.response.body", "body": encode_event(orjson.dumps(frame(event))), "more_body": True})
    except ClientGone:
        return
    except errors.A2AError as exc:
        body = error(exc.code, exc.message, exc.metadata)
        await send({"type": "http.response.body", "body": error_event(orjson.dumps(body)), "more_body": True})
    except Exception:
        log.exception("A2A stream failed")
        body = error(jsonrpc.INTERNAL_ERROR, "Internal error", None)
        await send({"type": "http.response.body", "body": error_event(orjson.dumps(body)), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_json(send: Callable, status: int, payload: Any, headers: list[tuple[bytes, bytes]]) -> None:
    await send_bytes(send, status, orjson.dumps(payload), headers)


def _not_found(message: str) -> dict[str, Any]:
    return {"error": {"code": "NotFound", "message": message}}


def _rest_error(reason: str, message: str, metadata: dict[str, str] | None = None) -> dict:
    return a2a_rest.error_body(reason, message, metadata)[1]


def _not_modified(scope: dict, etag: str, last_modified: str) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present; else If-Modified-Since at or after Last-Modified."""
    match = header_value(scope, b"if-none-match")
    if match is not None:
        tags = [t.strip().removeprefix("W/") for t in match.decode("latin-1").split(",")]
        return "*" in tags or etag in tags
    since = header_value(scope, b"if-modified-since")
    if since is None:
        return False
    try:
        return parsedate_to_datetime(since.decode("latin-1")) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as RFC 9110 says


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
