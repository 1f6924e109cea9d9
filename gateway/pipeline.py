"""The policy pipeline: inbound → backend → outbound, and on-error when anything fails.

Policies are instantiated once per scope (global, product, API, operation) and chained per request
in APIM's ``<base/>`` order. A policy ends a request early by raising GatewayError (limits, auth:
the on-error section runs, then the error is sent) or by setting ``ctx.response`` (a cache hit:
backend is skipped, outbound still runs).
"""

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field

from aigw.gateway.config import SECTIONS, GatewayConfig, Policies
from aigw.gateway.context import Context, Response, Usage
from aigw.gateway.errors import GatewayError, UpstreamError
from aigw.gateway.policies import registry
from aigw.gateway.policies.basic import ForwardRequest, RetryPolicy, SetBackendService
from aigw.gateway.services import Services
from aigw.protocol.log_limit import LogLimiter

log = logging.getLogger("aigw.gateway")
quiet = LogLimiter(log)  # a failing backend is one line per interval, not one per request


@dataclass
class Chain:
    inbound: list = field(default_factory=list)
    backend: list = field(default_factory=list)
    outbound: list = field(default_factory=list)
    on_error: list = field(default_factory=list)

    def extend(self, other: "Chain") -> "Chain":
        return Chain(*(getattr(self, s) + getattr(other, s) for s in ("inbound", "backend", "outbound", "on_error")))

    @functools.cached_property  # chains are built once per scope; these are read on every request
    def retry(self) -> RetryPolicy | None:
        return next((p for p in reversed(self.backend) if isinstance(p, RetryPolicy)), None)

    @functools.cached_property
    def timeout(self) -> float | None:
        forward = next((p for p in reversed(self.backend) if isinstance(p, ForwardRequest)), None)
        return forward.config.timeout if forward else None


def instantiate(policies: Policies, services: Services) -> Chain:
    chain = Chain()
    for section in SECTIONS:
        target = getattr(chain, section.replace("-", "_"))
        for entry in policies.section(section):
            target.append(registry[entry.name](entry.config, services))
    return chain


class PolicyChains:
    """Per-scope chains, combined per (product, api, operation) on first use."""

    def __init__(self, config: GatewayConfig, services: Services) -> None:
        self.global_chain = instantiate(config.policies, services)
        self.products = {p.id: instantiate(p.policies, services) for p in config.products}
        self.apis = {a.id: instantiate(a.policies, services) for a in config.apis}
        self.operations = {(a.id, o.id): instantiate(o.policies, services) for a in config.apis for o in a.operations}
        self._combined: dict[tuple, Chain] = {}

    def for_request(self, product_id: str | None, api_id: str, operation: str | None) -> Chain:
        key = (product_id, api_id, operation)
        chain = self._combined.get(key)
        if chain is None:
            chain = self.global_chain
            if product_id in self.products:
                chain = chain.extend(self.products[product_id])
            chain = chain.extend(self.apis[api_id])
            if (api_id, operation) in self.operations:
                chain = chain.extend(self.operations[(api_id, operation)])
            self._combined[key] = chain
        return chain


async def run(ctx: Context, chain: Chain, services: Services) -> None:
    """Run the sections; on return ``ctx.response`` is what the client gets."""
    try:
        for policy in chain.inbound:
            await policy.inbound(ctx)
            if ctx.response is not None:
                break
        if ctx.response is None:
            for policy in chain.backend:
                if isinstance(policy, SetBackendService):
                    await policy.inbound(ctx)
            await forward_with_retry(ctx, chain, services)
        extract_usage(ctx)
        for hook in ctx.on_response:
            await hook(ctx)
        for policy in chain.outbound:
            await policy.outbound(ctx)
    except GatewayError as error:
        await _on_error(ctx, chain, error, error.response())
    except Exception as error:  # a bug in a policy: a clean 500, the traceback in the log only
        log.exception("policy pipeline failed for %s %s", ctx.request.method, ctx.request.path)
        await _on_error(ctx, chain, error, GatewayError(500, "Internal server error in the gateway.").response())


async def _on_error(ctx: Context, chain: Chain, error: BaseException, response: Response) -> None:
    ctx.error, ctx.response = error, response
    for policy in chain.on_error:
        try:
            await policy.on_error(ctx)
        except Exception:
            log.exception("on-error policy %s failed", getattr(policy, "name", policy))


async def forward_with_retry(ctx: Context, chain: Chain, services: Services) -> None:
    """Send to the API's backend (or the pool), failing over per the retry policy, its budget and the breakers.

    Time: ``forward-request``'s timeout is the whole request's budget; each attempt gets its backend's
    ``timeout`` or what is left of the budget, whichever is less."""
    backends = services.backends
    backend_id = ctx.backend_id or ctx.api.backend
    retry = chain.retry
    attempts = 1 + (retry.config.count if retry else 0)
    deadline = time.monotonic() + chain.timeout if chain.timeout else None
    if retry is not None:
        retry.budget.request()
    tried: set[str] = set()
    last_error: UpstreamError | None = None
    drop = ctx.api.subscription_key_header.lower().encode() if ctx.api.subscription_required else None
    for attempt in range(attempts):
        if attempt:
            delay = retry.delay(attempt)
            if not retry.budget.spend() or (deadline is not None and time.monotonic() + delay >= deadline):
                break  # no budget or time left: the client gets what the last attempt gave
            if delay:
                await asyncio.sleep(delay)
        backend = backends.choose(backend_id, tried) or (backends.choose(backend_id) if tried else None)
        if backend is None and await backends.settle(backend_id):
            backend = backends.choose(backend_id, tried) or (backends.choose(backend_id) if tried else None)
        if backend is None:
            wait = str(int(backends.retry_after(backend_id) + 0.999))
            if backends.throttled(backend_id):  # busy, not broken: say so as the backends did
                raise GatewayError(429, f"Every backend is throttling requests. Try again in {wait} seconds.",
                                   {"Retry-After": wait}, reason="backends-throttled")
            raise GatewayError(503, "All backends are unavailable (circuit breakers open). Try again later.",
                               {"Retry-After": wait}, reason="backends-unavailable")
        tried.add(backend.id)
        ctx.attempts += 1
        ctx.served_by = backend.id
        seconds = backend.config.timeout if deadline is None else min(backend.config.timeout, deadline - time.monotonic())
        try:
            response = await _attempt(ctx, backend, drop, seconds, services)
        except UpstreamError as error:
            backends.record(backend, None, error.reason, None)
            quiet.warning(f"upstream-{backend.id}-{error.reason}", "upstream %s failed (%s): %s", backend.id,
                          error.reason, error.internal)
            last_error, ctx.response = error, None
            continue
        backends.record(backend, response.status, None, _retry_after(response))
        if retry is not None and attempt + 1 < attempts and retry.matches(response.status):
            if response.stream is not None:
                await response.stream.aclose()
                response = Response(response.status, response.headers, b"", source=response.source)
            last_error = None
            ctx.response = response
            continue
        ctx.response = response
        return
    if ctx.response is not None and last_error is None:
        return  # retries exhausted on a retryable status: the client sees the last backend answer
    status = 504 if last_error and last_error.reason == "timeout" else 502
    raise GatewayError(status, f"Backend unavailable: {last_error.detail if last_error else 'no backend answered'}",
                       reason=last_error.reason if last_error else "no-backend")


async def _attempt(ctx: Context, backend, drop: bytes | None, seconds: float, services: Services) -> Response:
    """One attempt, abandoned (as a timeout) if the backend's readiness probe finds it hung meanwhile."""
    backends = services.backends
    abandoned = backends.started(backend)
    forwarding = asyncio.ensure_future(services.forwarder.forward(ctx, backend, drop, max(seconds, 0.001)))
    watching = asyncio.ensure_future(abandoned.wait())
    try:
        await asyncio.wait({forwarding, watching}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        forwarding.cancel()
        raise
    finally:
        watching.cancel()
        backends.finished(backend)
    if not forwarding.done():
        forwarding.cancel()
        await asyncio.gather(forwarding, return_exceptions=True)
        raise UpstreamError("timeout", f"{backend.id} stopped answering (its readiness probe failed)")
    response = forwarding.result()
    backends.answered(backend)
    return response


def _retry_after(response: Response) -> float | None:
    for name in ("retry-after-ms", "retry-after"):
        value = response.header(name)
        if value:
            try:
                seconds = float(value)
            except ValueError:
                continue
            return seconds / 1000 if name == "retry-after-ms" else seconds
    return None


def extract_usage(ctx: Context) -> None:
    """Token usage of a buffered JSON answer (streams fill ``ctx.usage`` as they pass)."""
    response = ctx.response
    if response is None or response.body is None or response.status != 200 or ctx.usage is not None:
        return
    if b'"usage"' not in response.body:
        return
    body = response.json()
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict):
        ctx.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
