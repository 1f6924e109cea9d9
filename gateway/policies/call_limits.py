"""``rate-limit-by-key`` and ``quota-by-key``: limits on calls (and bandwidth) per counter key.

APIM semantics: ``rate-limit-by-key calls="N" renewal-period="S"`` answers 429 with Retry-After
once N calls were made in the period; ``quota-by-key calls="N" renewal-period="S"`` answers 403 when
the quota is spent. Both count in fixed windows through the store's atomic reserve.
"""

import math
import time

from pydantic import Field

from aigw.gateway.context import Context
from aigw.gateway.errors import GatewayError
from aigw.gateway.expressions import compile_expression
from aigw.gateway.policies.base import INBOUND, Policy, PolicyConfig
from aigw.gateway.windows import fixed_window


class _KeyedLimit(Policy):
    sections = frozenset({INBOUND})

    def __init__(self, config, services) -> None:
        super().__init__(config, services)
        self.key_of = compile_expression(config.counter_key)
        self.scope = f"{self.name}:{id(self)}"

    async def _charge(self, ctx: Context, limit: int, period: float) -> tuple[bool, float, int]:
        now = time.time()
        start, end = fixed_window(now, period)
        key = f"{self.scope}:{self.key_of(ctx)}"
        reservation = await self.services.store.reserve(key, 1, limit, start, end)
        return reservation.admitted, end - now, reservation.remaining


class RateLimitByKey(_KeyedLimit):
    name = "rate-limit-by-key"

    class Config(PolicyConfig):
        calls: int = Field(gt=0)
        renewal_period: float = Field(gt=0, description="seconds")
        counter_key: str = Field(min_length=1)
        retry_after_header_name: str = "Retry-After"
        remaining_calls_header_name: str | None = None

    async def inbound(self, ctx: Context) -> None:
        admitted, wait, remaining = await self._charge(ctx, self.config.calls, self.config.renewal_period)
        if self.config.remaining_calls_header_name:
            ctx.extra_headers.append((self.config.remaining_calls_header_name.lower().encode(), str(remaining).encode()))
        if not admitted:
            seconds = max(1, math.ceil(wait))
            raise GatewayError(429, f"Rate limit is exceeded. Try again in {seconds} seconds.",
                               {self.config.retry_after_header_name: str(seconds)}, reason="rate-limit-by-key")


class QuotaByKey(_KeyedLimit):
    name = "quota-by-key"

    class Config(PolicyConfig):
        calls: int = Field(gt=0)
        renewal_period: float = Field(gt=0, description="seconds")
        counter_key: str = Field(min_length=1)

    async def inbound(self, ctx: Context) -> None:
        admitted, wait, _ = await self._charge(ctx, self.config.calls, self.config.renewal_period)
        if not admitted:
            raise GatewayError(403, f"Out of call volume quota. Quota will be replenished in {_hms(wait)}.",
                               reason="quota-by-key")


def _hms(seconds: float) -> str:
    seconds = max(0, int(math.ceil(seconds)))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
