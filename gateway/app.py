"""The gateway as an ASGI application: route, authenticate, run the policy pipeline, send.

Raw ASGI on the hot path (the facts file measured Starlette's request objects as a large share of a
proxied request's cost). Gateway endpoints: ``/status-0123456789abcdef`` (APIM's health probe) and
``/metrics`` (Prometheus). Every response carries ``apim-request-id``. Shutdown drains in-flight
requests, streams included, before closing upstream connections.
"""

import asyncio
import logging
from typing import Any, Callable

import orjson

from aigw.gateway import pipeline
from aigw.gateway.config import GatewayConfig
from aigw.gateway.context import Context, Request, Response, Usage
from aigw.gateway.errors import GatewayError
from aigw.gateway.routing import ApiRouter, operation_of
from aigw.gateway.services import Services
from aigw.protocol import errors as wire_errors
from aigw.protocol.ids import request_id
from aigw.protocol.sse import encode_error_event

log = logging.getLogger("aigw.gateway")
HEALTH_PATH = "/status-0123456789abcdef"
DRAIN_SECONDS = 30.0


class GatewayApp:
    def __init__(self, config: GatewayConfig, services: Services | None = None) -> None:
        self.config = config
        self.services = services or Services.create(config)
        self.router = ApiRouter(config.apis)
        self.chains = pipeline.PolicyChains(config, self.services)
        self.subscriptions = {s.key: s for s in config.subscriptions}
        self.products = {p.id: p for p in config.products}
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
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await asyncio.wait_for(self._idle.wait(), DRAIN_SECONDS)
                except asyncio.TimeoutError:
                    log.warning("shutdown: %d requests still in flight after %.0f s", self.in_flight, DRAIN_SECONDS)
                await self.services.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        rid = request_id()
        path = scope["path"]
        if path == HEALTH_PATH:
            return await _send(send, Response(200, [(b"content-type", b"text/plain")], b"OK"), rid)
        if path == "/metrics" and self.services.metrics is not None:
            body, content_type = self.services.metrics.exposition()
            return await _send(send, Response(200, [(b"content-type", content_type.encode())], body), rid)
        try:
            ctx = await self._context(scope, receive, rid)
        except GatewayError as error:
            return await _send(send, error.response(), rid)
        chain = self.chains.for_request(ctx.product.id if ctx.product else None, ctx.api.id, ctx.operation)
        await pipeline.run(ctx, chain, self.services)
        await self._respond(ctx, send)

    async def _context(self, scope: dict, receive: Callable, rid: str) -> Context:
        matched = self.router.match(scope["path"])
        if matched is None:
            raise GatewayError(404, "Resource not found")
        api, suffix = matched
        body = await _read_body(receive, self.config.limits.max_body_bytes)
        client = scope.get("client") or ("", 0)
        request = Request(scope["method"], scope["path"], suffix, scope["query_string"], list(scope["headers"]), body, client[0])
        operation, deployment = operation_of(api, suffix)
        ctx = Context(rid, request, api, operation, deployment)
        if api.subscription_required:
            self._authenticate(ctx)
        if api.kind in ("azure-openai", "openai") and request.method == "POST" and body:
            parsed = request.json()
            if not isinstance(parsed, dict):
                raise GatewayError(400, "The request body is not a JSON object.",
                                   body=wire_errors.invalid_request("We could not parse the JSON body of your request: it must be a JSON object."))
            if api.kind == "openai" and ctx.deployment is None:
                ctx.deployment = parsed.get("model") if isinstance(parsed.get("model"), str) else None
        return ctx

    def _authenticate(self, ctx: Context) -> None:
        request = ctx.request
        key = (request.header("ocp-apim-subscription-key") or request.header(ctx.api.subscription_key_header)
               or request.query("subscription-key"))
        if not key:
            raise GatewayError(401, "Access denied due to missing subscription key. Make sure to include subscription key "
                               "when making requests to an API.", {"WWW-Authenticate": 'AzureApiManagementKey realm="aigw"'})
        subscription = self.subscriptions.get(key)
        product = self.products.get(subscription.product) if subscription else None
        if subscription is None or (product.apis and ctx.api.id not in product.apis):
            raise GatewayError(401, "Access denied due to invalid subscription key. Make sure to provide a valid key for "
                               "an active subscription.", {"WWW-Authenticate": 'AzureApiManagementKey realm="aigw"'})
        ctx.subscription, ctx.product = subscription, product

    async def _respond(self, ctx: Context, send: Callable) -> None:
        response = ctx.response
        try:
            if response.stream is None:
                await _send(send, response, ctx.request_id, ctx.extra_headers)
            else:
                await self._stream(ctx, response, send)
        finally:
            for callback in ctx.on_complete:
                try:
                    result = callback(ctx)
                    if asyncio.iscoroutine(result):
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
        except Exception as exc:  # the backend broke off after bytes were sent: say so, never truncate silently
            log.warning("stream from %s failed mid-way: %s", ctx.served_by, exc)
            ctx.error = exc
            error = wire_errors.error_body("The backend stream failed before completion: the response is incomplete.",
                                           code="stream_interrupted", type="server_error")
            await send({"type": "http.response.body", "body": observer.flush() + encode_error_event(orjson.dumps(error)),
                        "more_body": True})
        await send({"type": "http.response.body", "body": observer.flush()})


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


async def _send(send: Callable, response: Response, rid: str, extra=()) -> None:
    body = response.body or b""
    headers = [(k, v) for k, v in _with_request_id(response.headers, rid) if k != b"content-length"]
    headers += list(extra) + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
