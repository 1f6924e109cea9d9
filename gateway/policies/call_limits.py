"""``rate-limit-by-key`` and ``quota-by-key``: limits on calls per counter key.

APIM semantics: ``rate-limit-by-key calls="N" renewal-period="S"`` answers 429 with Retry-After
once N calls were made in the period; ``quota-by-key calls="N" renewal-period="S"`` answers 403 when
the quota is spent. Both count in fixed windows through the store's atomic reserve (a refused call
is not counted), read the time from ``services.clock`` (so tests can move it), and name their
counters by their settings, so counts survive restarts and are shared by replicas on a shared store.
"""

import hashlib
import math
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from aigw.gateway.context import Context
from aigw.gateway.durations import parse_duration
from aigw.gateway.errors import GatewayError
from aigw.gateway.expressions import compile_expression
from aigw.gateway.passthrough import metered
from aigw.gateway.policies.base import INBOUND, Policy, PolicyConfig
from aigw.gateway.policies.llm_token_limit import check_header_name, timespan
from aigw.gateway.windows import fixed_window

Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _KeyedConfig(PolicyConfig):
    calls: int = Field(gt=0)
    renewal_period: Seconds = Field(gt=0, description="seconds (or an ISO 8601 duration)")
    counter_key: str = Field(min_length=1)
    increment_count: int = Field(1, ge=1, description="calls charged per request")

    @field_validator("counter_key")
    @classmethod
    def _expression(cls, value: str) -> str:
        compile_expression(value)  # a bad expression is a config error, not a crash at start-up
        return value


class _KeyedLimit(Policy):
    sections = frozenset({INBOUND})

    def __init__(self, config, services) -> None:
        super().__init__(config, services)
        self.key_of = compile_expression(config.counter_key)
        identity = f"{config.counter_key}|{config.calls}|{config.renewal_period}"
        self.scope = f"{self.name}:{hashlib.sha1(identity.encode()).hexdigest()[:12]}"

    async def _charge(self, ctx: Context) -> tuple[bool, float, int]:
        now = self.services.clock()
        start, end = fixed_window(now, self.config.renewal_period)
        key = f"{self.scope}:{self.key_of(ctx)}"
        amount = min(self.config.increment_count, self.config.calls)
        reservation = await self.services.store.reserve(key, amount, self.config.calls, start, end)
        return reservation.admitted, end - now, reservation.remaining


class RateLimitByKey(_KeyedLimit):
    name = "rate-limit-by-key"

    class Config(_KeyedConfig):
        retry_after_header_name: str = "Retry-After"
        retry_after_variable_name: str | None = None
        remaining_calls_header_name: str | None = None
        remaining_calls_variable_name: str | None = None
        total_calls_header_name: str | None = None

        @field_validator("retry_after_header_name", "remaining_calls_header_name", "total_calls_header_name")
        @classmethod
        def _header_names(cls, value: str | None) -> str | None:
            return check_header_name(value)

    async def inbound(self, ctx: Context) -> None:
        if not metered(ctx):  # MCP/A2A: only POSTs count (aigw.gateway.passthrough)
            return
        config = self.config
        admitted, wait, remaining = await self._charge(ctx)
        if config.remaining_calls_header_name:
            ctx.extra_headers.append((config.remaining_calls_header_name.lower().encode(), str(remaining).encode()))
        if config.remaining_calls_variable_name:
            ctx.variables[config.remaining_calls_variable_name] = remaining
        if config.total_calls_header_name:
            ctx.extra_headers.append((config.total_calls_header_name.lower().encode(), str(config.calls).encode()))
        if not admitted:
            seconds = max(1, math.ceil(wait))
            if config.retry_after_variable_name:
                ctx.variables[config.retry_after_variable_name] = seconds
            raise GatewayError(429, f"Rate limit is exceeded. Try again in {seconds} seconds.",
                               {config.retry_after_header_name: str(seconds)}, reason="rate-limit-by-key")


class QuotaByKey(_KeyedLimit):
    name = "quota-by-key"

    class Config(_KeyedConfig):
        pass

    async def inbound(self, ctx: Context) -> None:
        if not metered(ctx):
            return
        admitted, wait, _ = await self._charge(ctx)
        if not admitted:
            raise GatewayError(403, f"Out of call volume quota. Quota will be replenished in {timespan(wait)}.",
                               reason="quota-by-key")
