"""Helpers for the llm-token-limit unit tests: a clock we move, a MemoryStore, and the pipeline's part.

A test calls ``inbound``, then ``answer`` puts the backend's answer in ``ctx.response`` / ``ctx.usage``
and runs the ``on_response`` hooks (buffered answers) and the ``on_complete`` hooks, as the gateway does.
"""

import asyncio
import datetime as dt
from types import SimpleNamespace

import orjson

from aigw.gateway.context import Context, Request, Response, Usage
from aigw.gateway.policies import registry
from aigw.gateway.services import Services
from aigw.gateway.store import MemoryStore
from aigw.gateway.windows import fixed_window, period_window

MINUTE_START = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.timezone.utc).timestamp()


class Clock:
    def __init__(self, now: float = MINUTE_START + 10) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def services(clock: Clock | None = None) -> Services:
    return Services(config=None, store=MemoryStore(), backends=None, forwarder=None, clock=clock or Clock())


def policy(svc: Services, name: str = "llm-token-limit", **attributes):
    attributes = {"counter-key": "@(context.Subscription.Id)", "estimate-prompt-tokens": True, **attributes}
    cls = registry[name]
    return cls(cls.Config.model_validate(attributes), svc)


def chat_body(text: str = "Tell me about API gateways.", **extra) -> dict:
    return {"messages": [{"role": "user", "content": text}], **extra}


def context(body: dict | None, operation: str = "chat", tenant: str = "tenant-a", method: str = "POST",
            deployment: str = "gpt-4o") -> Context:
    raw = orjson.dumps(body) if body is not None else b""
    request = Request(method, f"/openai/deployments/{deployment}/x", "/x", b"", [], raw, "10.0.0.1")
    return Context("rid", request, SimpleNamespace(id="api"), operation, deployment,
                   subscription=SimpleNamespace(id=tenant, key="k", user=None))


async def answer(ctx: Context, usage: Usage | None, status: int = 200, stream: bool = False, source: str = "backend"):
    """The backend's answer arrives, then the response is delivered."""
    ctx.response = Response(status, [(b"content-type", b"application/json")], body=None if stream else b"{}",
                            stream=_empty() if stream else None, source=source)
    ctx.usage = usage
    for hook in ctx.on_response:
        await hook(ctx)
    for hook in ctx.on_complete:  # as the gateway runs them: plain functions, or ones returning a coroutine
        result = hook(ctx)
        if result is not None:
            await result


async def _empty():
    if False:
        yield b""


def headers(ctx: Context) -> dict[str, str]:
    found = {k.decode(): v.decode() for k, v in ctx.extra_headers}
    if ctx.response is not None:
        found.update({k.decode(): v.decode() for k, v in ctx.response.headers})
    return found


async def used(svc: Services, pol, kind: str = "tpm", tenant: str = "tenant-a", now: float | None = None) -> int:
    now = svc.clock() if now is None else now
    start = fixed_window(now, 60)[0] if kind == "tpm" else period_window(pol.config.token_quota_period, now)[0]
    return await svc.store.peek(f"{pol.scope}:{kind}:{tenant}", start)


def run(coroutine):
    return asyncio.run(coroutine)
