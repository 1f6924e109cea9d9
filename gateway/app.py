"""The gateway as an ASGI application: route, authenticate, run the policy pipeline, send.

Raw ASGI on the hot path (the facts file measured Starlette's request objects as a large share of a
proxied request's cost). Gateway endpoints: ``/status-0123456789abcdef`` (APIM's health probe) and
``/metrics`` (Prometheus). Every response carries ``apim-request-id``. Shutdown drains in-flight
requests, streams included, before closing upstream connections. With ``admin.token`` configured,
``/_aigw/reset`` is the admin API (``aigw.gateway.admin``).
"""

import asyncio
import logging
import time
from typing import Any, Callable

import orjson

from aigw.gateway import passthrough, pipeline
from aigw.gateway.admin import AdminApi
from aigw.gateway.client_address import ClientAddress
from aigw.gateway.config import GatewayConfig
from aigw.gateway.context import Context, Request, Response, Usage, header_value
from aigw.gateway.errors import GatewayError
from aigw.gateway.paths import PathRefused, canonical_path, raw_path_of
from aigw.gateway.routing import ApiRouter, operation_of
from aigw.gateway.services import Services
from aigw.protocol import errors as wire_errors
from aigw.protocol.ids import request_id
from aigw.protocol.json_depth import message as depth_message
from aigw.protocol.json_depth import too_deep
from aigw.protocol.lifespan import preload_tokenizers, serve_lifespan
from aigw.protocol.sse import encode_error_event

log = logging.getLogger("aigw.gateway")
HEALTH_PATH = "/status-0123456789abcdef"
DRAIN_SECONDS = 30.0


class GatewayApp:
    def __init__(self, config: GatewayConfig, services: Services | None = None) -> None:
        self.config = config
        self.services = services or Services.create(config)
        if self.services.metrics is None:
            from aigw.gateway.metrics import Metrics

            self.services.metrics = Metrics(config, self.services.backends)
        self.metrics = self.services.metrics
        self.router = ApiRouter(config.apis)
        self.cards = passthrough.CardRewriter(config)
        self.chains = pipeline.PolicyChains(config, self.services)
        self.metrics.caches = lambda: self.services.extras.get("semantic-caches", ())
        self.addresses = ClientAddress(config.security.trusted_proxies)
        key = config.security.metrics_key
        self._metrics_token = f"Bearer {key}" if key else None
        self.server_limits = config.limits.server_limits()  # read by the uvicorn config builder
        self.subscriptions = {s.key: s for s in config.subscriptions}
        self.products = {p.id: p for p in config.products}
        self.admin = AdminApi(config.admin, self.services) if config.admin.enabled else None
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            self.in_flight += 1
            self._idle.clear()
            try:
                await self.handle(scope, receive, send)
            finally:
                self.in_flight -= 1
                if not self.in_flight:
                    self._idle.set()
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        await serve_lifespan(receive, send, preload_tokenizers, self._drain_and_close)

    async def _drain_and_close(self) -> None:
        """Graceful shutdown: in-flight requests (streams included) finish before upstreams close."""
        try:
            await asyncio.wait_for(self._idle.wait(), DRAIN_SECONDS)
        except asyncio.TimeoutError:
            log.warning("shutdown: %d requests still in flight after %.0f s", self.in_flight, DRAIN_SECONDS)
        for cache in self.services.extras.get("semantic-caches", ()):
            await cache.close()
        await self.services.close()

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        rid = request_id()
        started = time.perf_counter()
        try:  # one canonical path, before anything else looks at it (aigw.gateway.paths)
            path = canonical_path(raw_path_of(scope), self.router.floor)
        except PathRefused as refused:
            self.metrics.observe_request("none", "", 400, "", time.perf_counter() - started)
            error = GatewayError(400, str(refused), body=wire_errors.invalid_request(str(refused), code="invalid_path"))
            return await _send(send, error.response(), rid)
        if path == HEALTH_PATH:
            return await _send(send, Response(200, [(b"content-type", b"text/plain")], b"OK"), rid)
        if path == "/metrics" and self.services.metrics is not None:
            return await _send(send, self._metrics(scope), rid)
        if self.admin is not None and self.admin.handles(path):
            return await _send(send, await self.admin.answer(scope["method"], path, scope["headers"]), rid)
        try:
            ctx = await self._context(scope, path, receive, rid)
        except GatewayError as error:
            self.metrics.observe_request("none", "", error.status, "", time.perf_counter() - started)
            return await _send(send, self._refusal(error, scope, path), rid)
        chain = self.chains.for_request(ctx.product.id if ctx.product else None, ctx.api.id, ctx.operation)
        await pipeline.run(ctx, chain, self.services)
        if ctx.response.source == "gateway" and passthrough.is_passthrough(ctx.api) and \
                passthrough.wants_jsonrpc_errors(ctx.api, ctx.request.method, ctx.request.path):
            ctx.response = passthrough.jsonrpc_error(ctx.response, ctx.request)
        try:
            await self._respond(ctx, send, receive)
        finally:  # after on-complete hooks: the duration covers the whole stream
            self.metrics.request(ctx, time.perf_counter() - started)

    def _metrics(self, scope: dict) -> Response:
        """``/metrics`` names subscriptions and their token totals: with ``security.metrics-key`` set it
        needs ``Authorization: Bearer <key>`` (what Prometheus sends for ``authorization.credentials``)."""
        if self._metrics_token is not None and header_value(scope["headers"], "authorization") != self._metrics_token:
            error = GatewayError(401, "Access denied: /metrics needs Authorization: Bearer <metrics key>.",
                                 {"WWW-Authenticate": 'Bearer realm="aigw-metrics"'})
            return error.response()
        body, content_type = self.services.metrics.exposition()
        return Response(200, [(b"content-type", content_type.encode())], body)

    async def _context(self, scope: dict, path: str, receive: Callable, rid: str) -> Context:
        matched = self.router.match(path)
        if matched is None:
            raise GatewayError(404, "Resource not found")
        api, suffix = matched
        operation, deployment = operation_of(api, suffix)
        if operation is None:  # an LLM API forwards only the operations its policies are written for
            raise GatewayError(404, "Resource not found")
        headers = list(scope["headers"])
        declared = header_value(headers, "content-length")
        if declared and declared.isdigit() and int(declared) > self.config.limits.max_body_bytes:
            raise GatewayError(413, f"Request entity too large: the limit is {self.config.limits.max_body_bytes} bytes.")
        body = await _read_body(receive, self.config.limits.max_body_bytes)
        peer = (scope.get("client") or ("", 0))[0]
        request = Request(scope["method"], path, suffix, scope["query_string"], headers, body,
                          self.addresses.client(peer, headers), self.addresses.trusts(peer))
        if api.kind == "azure-openai" and deployment is not None and not request.query("api-version"):
            # APIM matches an operation only when its required query parameters are present.
            raise GatewayError(404, "Resource not found")
        ctx = Context(rid, request, api, operation, deployment)
        if api.subscription_required:
            try:
                self._authenticate(ctx, optional=passthrough.is_card_read(api, request.method, request.path))
            except GatewayError as error:
                passthrough.refuse_in_kind(error, api, request)
                raise
        if api.kind == "a2a":
            self.cards.prepare(ctx, scope.get("scheme", "http"))
        if api.kind in ("azure-openai", "openai") and request.method == "POST" and body:
            parsed = request.json()
            if not isinstance(parsed, dict):
                raise GatewayError(400, "The request body is not a JSON object.",
                                   body=wire_errors.invalid_request("We could not parse the JSON body of your request: it must be a JSON object."))
            deep = too_deep(parsed)
            if deep is not None:  # the body is re-serialised (cache keys, usage injection): refuse it as a client error
                raise GatewayError(400, depth_message(deep), body=wire_errors.invalid_request(depth_message(deep), param=deep))
            if api.kind == "openai" and ctx.deployment is None:
                ctx.deployment = parsed.get("model") if isinstance(parsed.get("model"), str) else None
        return ctx

    def _refusal(self, error: GatewayError, scope: dict, path: str) -> Response:
        """A refusal before the pipeline (404, 401, 413): MCP and A2A clients get it as JSON-RPC."""
        matched = self.router.match(path)
        if matched and passthrough.wants_jsonrpc_errors(matched[0], scope["method"], path):
            return passthrough.jsonrpc_error(error.response())
        return error.response()

    def _authenticate(self, ctx: Context, optional: bool = False) -> None:
        """``optional``: a request without any key passes anonymously (A2A agent-card discovery)."""
        request = ctx.request
        key = (request.header("ocp-apim-subscription-key") or request.header(ctx.api.subscription_key_header)
               or request.query("subscription-key"))
        if not key and optional:
            return
        if not key:
            raise GatewayError(401, "Access denied due to missing subscription key. Make sure to include subscription key "
                               "when making requests to an API.", {"WWW-Authenticate": 'AzureApiManagementKey realm="aigw"'})
        subscription = self.subscriptions.get(key)
        product = self.products.get(subscription.product) if subscription else None
        if subscription is None or (product.apis and ctx.api.id not in product.apis):
            raise GatewayError(401, "Access denied due to invalid subscription key. Make sure to provide a valid key for "
                               "an active subscription.", {"WWW-Authenticate": 'AzureApiManagementKey realm="aigw"'})
        ctx.subscription, ctx.product = subscription, product

    async def _respond(self, ctx: Context, send: Callable, receive: Callable | None = None) -> None:
        response = ctx.response
        try:
            if response.stream is None:
                await _send(send, response, ctx.request_id, ctx.extra_headers)
            elif receive is not None and passthrough.is_passthrough(ctx.api):
                await self._relay(ctx, response, send, receive)
            else:
                await self._stream(ctx, response, send)
        finally:
            for callback in ctx.on_complete:
                try:
                    result = callback(ctx)
                    if result is not None and asyncio.iscoroutine(result):  # most hooks are plain functions
                        await result
                except Exception:
                    log.exception("on-complete hook failed")

    async def _stream(self, ctx: Context, response: Response, send: Callable) -> None:
        headers = _with_request_id(response.headers, ctx.request_id) + ctx.extra_headers
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        observer = StreamObserver(ctx)
        try:
            async for chunk in response.stream:
                out = observer.feed(chunk)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
        except asyncio.CancelledError:
            await response.stream.aclose()  # hand the upstream connection back before going away
            raise
        except Exception as exc:  # the backend broke off after bytes were sent: say so, never truncate silently
            log.warning("stream from %s failed mid-way: %s", ctx.served_by, exc)
            ctx.error = exc
            error = wire_errors.error_body("The backend stream failed before completion: the response is incomplete.",
                                           code="stream_interrupted", type="server_error")
            await send({"type": "http.response.body", "body": observer.flush() + encode_error_event(orjson.dumps(error)),
                        "more_body": True})
        await send({"type": "http.response.body", "body": observer.flush()})


    async def _relay(self, ctx: Context, response: Response, send: Callable, receive: Callable) -> None:
        """MCP / A2A event streams: bytes on as they come, unparsed, until either side hangs up — an MCP
        GET stream may idle for hours, so the client leaving must end it (and free the upstream)."""
        headers = _with_request_id(response.headers, ctx.request_id) + ctx.extra_headers
        await send({"type": "http.response.start", "status": response.status, "headers": headers})

        async def pump() -> None:
            async for chunk in response.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        pumping, leaving = asyncio.ensure_future(pump()), asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({pumping, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
            if not pumping.done():
                pumping.cancel()
                await asyncio.gather(pumping, return_exceptions=True)
                await response.stream.aclose()
        if pumping.cancelled():
            return  # the client left
        failure = pumping.exception()
        tail = b""
        if failure is not None:  # the backend broke off after bytes were sent: say so where the protocol can
            log.warning("stream from %s failed mid-way: %r", ctx.served_by, failure)
            ctx.error = failure
            tail = passthrough.stream_error_event(ctx.request, type(failure).__name__)
        await send({"type": "http.response.body", "body": tail})


async def _disconnected(receive: Callable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class StreamObserver:
    """Watch an SSE stream event by event: usage for accounting, observers, and stripping the usage
    chunk the gateway injected (``stream_options.include_usage``) when the client did not ask for it.

    Events are cut at the blank line; bytes pass through untouched unless an event is dropped.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self.pending + chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self.pending = data
            return b""
        complete, self.pending = data[: end + 2], data[end + 2:]
        if self.ctx.strip_usage_chunk:
            # The client did not ask for usage: hide the per-chunk "usage":null our injection caused too.
            complete = complete.replace(b',"usage":null', b"").replace(b'"usage":null,', b"")
        if b'"usage":{' not in complete and not self.ctx.stream_observers:
            return complete  # the common case: nothing to look at
        out = []
        for event in complete.split(b"\n\n")[:-1]:
            if self._inspect(event):
                out.append(event + b"\n\n")
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self.pending = self.pending, b""
        return rest

    def _inspect(self, event: bytes) -> bool:
        """True to pass the event on."""
        if not event.startswith(b"data: {"):
            return True
        try:
            payload: Any = orjson.loads(event[6:])
        except orjson.JSONDecodeError:
            return True
        for observer in self.ctx.stream_observers:
            observer(self.ctx, payload)
        usage = payload.get("usage") if isinstance(payload, dict) else None
        if isinstance(usage, dict):
            self.ctx.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
            if self.ctx.strip_usage_chunk and not payload.get("choices"):
                return False
        return True


async def _read_body(receive: Callable, limit: int) -> bytes:
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(499, "Client closed the request.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"Request entity too large: the limit is {limit} bytes.")
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


def _with_request_id(headers, rid: str):
    return [(k, v) for k, v in headers if k != b"apim-request-id"] + [(b"apim-request-id", rid.encode())]


_SET_ON_SEND = frozenset({b"apim-request-id", b"content-length"})  # ours, whatever the response carried


async def _send(send: Callable, response: Response, rid: str, extra=()) -> None:
    body = response.body or b""
    headers = [(k, v) for k, v in response.headers if k not in _SET_ON_SEND]  # one pass on the hot path
    headers.append((b"apim-request-id", rid.encode()))
    headers += extra
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
