"""Routing and plumbing policies: set-backend-service, set-header, retry, forward-request."""

import ast
import random
import time
from collections import deque
from typing import Literal

from pydantic import Field, field_validator

from aigw.gateway.context import Context
from aigw.gateway.durations import parse_duration
from aigw.gateway.expressions import compile_expression
from aigw.gateway.policies.base import BACKEND, INBOUND, ON_ERROR, OUTBOUND, Policy, PolicyConfig


class SetBackendService(Policy):
    """``<set-backend-service backend-id="pool-1"/>``: route this request to a backend or pool."""

    name = "set-backend-service"
    sections = frozenset({INBOUND, BACKEND})

    class Config(PolicyConfig):
        backend_id: str = Field(min_length=1)

    async def inbound(self, ctx: Context) -> None:
        ctx.backend_id = self.config.backend_id


class SetHeader(Policy):
    """``<set-header name="x" exists-action="override"><value>...</value></set-header>``."""

    name = "set-header"
    sections = frozenset({INBOUND, OUTBOUND, ON_ERROR})

    class Config(PolicyConfig):
        name: str = Field(min_length=1)
        value: str = ""
        exists_action: Literal["override", "skip", "append", "delete"] = "override"

    def __init__(self, config, services) -> None:
        super().__init__(config, services)
        self._value = compile_expression(config.value)
        self._key = config.name.lower().encode("latin-1")

    async def inbound(self, ctx: Context) -> None:
        headers = ctx.request.headers
        ctx.request.headers = self._apply(headers, ctx)

    async def outbound(self, ctx: Context) -> None:
        if ctx.response is not None:
            ctx.response.headers = self._apply(ctx.response.headers, ctx)

    on_error = outbound

    def _apply(self, headers, ctx):
        present = any(k == self._key for k, _ in headers)
        action = self.config.exists_action
        if action == "delete":
            return [(k, v) for k, v in headers if k != self._key]
        if action == "skip" and present:
            return headers
        value = self._value(ctx).encode("latin-1")
        if action == "append":
            return headers + [(self._key, value)]
        return [(k, v) for k, v in headers if k != self._key] + [(self._key, value)]


class RetryPolicy(Policy):
    """``<retry condition="..." count="2" interval="0" first-fast-retry="true">`` around forwarding.

    ``condition`` accepts APIM's expression on ``context.Response.StatusCode`` (``==``, ``>=``, ``||``,
    ``&&``) or the shorthand ``"429 or 503 or 5xx"``. Transport failures (connection refused, timeout, a
    stream that died before its first byte) are always retried while attempts remain: the request
    never reached a model, so re-sending the buffered body is safe.

    Ours, on top of APIM's attributes: a **retry budget** (Finagle's and Envoy's idea): in any 10 s the
    retries of this policy may add at most ``budget-percent`` of its requests (default 50 %), plus
    ``budget-min-per-second`` (default 10/s) so light traffic always gets its retries. With 30 % of answers
    failing everywhere, the retries needed (30 % + 9 %) fit the budget and ≈97 % of requests succeed; when
    everything fails, retries add 50 % to the load instead of multiplying it by ``count + 1``. And
    **jitter** on every non-zero wait (default ±50 %), so clients retrying together do not return in step.
    """

    name = "retry"
    sections = frozenset({BACKEND})

    class Config(PolicyConfig):
        condition: str = "429 or 5xx"
        count: int = Field(1, ge=0, le=50)
        interval: float = Field(0.0, ge=0)
        max_interval: float | None = Field(None, ge=0)
        delta: float | None = Field(None, ge=0)
        first_fast_retry: bool = False
        jitter: float = Field(0.5, ge=0, le=1, description="ours: each wait is scaled by 1 ± jitter at random")
        budget_percent: float = Field(50.0, ge=0, description="ours: retries per 100 requests in any 10 s")
        budget_min_per_second: float = Field(10.0, ge=0, description="ours: retries always allowed per second")

        @field_validator("interval", "max_interval", "delta", mode="before")
        @classmethod
        def _seconds(cls, value):
            return None if value is None else parse_duration(value)

        @field_validator("condition")
        @classmethod
        def _condition(cls, value: str) -> str:
            compile_condition(value)
            return value

    def __init__(self, config, services) -> None:
        super().__init__(config, services)
        self.matches = compile_condition(config.condition)
        self.budget = RetryBudget(config.budget_percent, config.budget_min_per_second)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), jittered."""
        if attempt == 1 and self.config.first_fast_retry:
            return 0.0
        base = self.config.interval
        if self.config.delta:
            base += self.config.delta * (2 ** (attempt - 1) - 1)
        if self.config.max_interval is not None:
            base = min(base, self.config.max_interval)
        if base and self.config.jitter:
            base *= random.uniform(1 - self.config.jitter, 1 + self.config.jitter)
        return base


class RetryBudget:
    """Retries allowed in a sliding window: ``percent`` of the requests seen plus ``per_second`` × window.

    Counts live in one-second buckets (a deque of at most ``window`` entries), so a check is O(window)."""

    def __init__(self, percent: float, per_second: float, window: int = 10, clock=time.monotonic) -> None:
        self.percent, self.per_second, self.window, self.clock = percent, per_second, window, clock
        self._buckets: deque[list] = deque()  # [second, requests, retries]

    def _bucket(self) -> list:
        second = int(self.clock())
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
            while self._buckets[0][0] <= second - self.window:
                self._buckets.popleft()
        return self._buckets[-1]

    def request(self) -> None:
        self._bucket()[1] += 1

    def spend(self) -> bool:
        """Take one retry if the budget allows it."""
        bucket = self._bucket()
        requests = sum(b[1] for b in self._buckets)
        retries = sum(b[2] for b in self._buckets)
        if retries + 1 > requests * self.percent / 100 + self.per_second * self.window:
            return False
        bucket[2] += 1
        return True


class ForwardRequest(Policy):
    """``<forward-request timeout="120"/>``: the whole request's upstream budget in seconds, retries included
    (each attempt is further bounded by its backend's own ``timeout``): a hung backend costs one attempt's
    timeout and a failover, never the client's whole patience times the retry count."""

    name = "forward-request"
    sections = frozenset({BACKEND})

    class Config(PolicyConfig):
        timeout: float | None = Field(None, gt=0)
        buffer_response: bool = True


def compile_condition(text: str):
    """``status -> bool`` for a retry condition; ValueError with the reason for anything else."""
    source = text.strip()
    if source.startswith("@(") and source.endswith(")"):
        source = source[2:-1]
    source = source.replace("context.Response.StatusCode", "s").replace("||", " or ").replace("&&", " and ")
    words = []
    for word in source.split():
        lowered = word.lower()
        if len(lowered) == 3 and lowered[0] in "12345" and lowered.endswith("xx"):
            base = int(lowered[0]) * 100
            words.append(f"({base} <= s <= {base + 99})")
        elif lowered.isdigit():
            words.append(f"s == {lowered}" if _standalone(source) else lowered)
        else:
            words.append(word)
    expression = " ".join(words)
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse retry condition {text!r}") from None
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.Name, ast.Constant, ast.Load,
               ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.UnaryOp, ast.Not)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (isinstance(node, ast.Name) and node.id != "s") or (
            isinstance(node, ast.Constant) and not isinstance(node.value, int)
        ):
            raise ValueError(f"unsupported retry condition {text!r}: use context.Response.StatusCode comparisons, "
                             "|| and &&, or a list like '429 or 503 or 5xx'")
    code = compile(tree, "<retry condition>", "eval")
    return lambda status: bool(eval(code, {"__builtins__": {}}, {"s": status}))


def _standalone(source: str) -> bool:
    """True for the shorthand form (bare status codes joined by or/and)."""
    return "s" not in source.replace("s ", " ").split() and not any(op in source for op in ("==", ">", "<", "!="))
