"""``llm-token-limit`` (alias ``azure-openai-token-limit``): tokens per minute and token quotas per key.

APIM semantics (facts file §2, Microsoft's policy reference): ``tokens-per-minute`` over → 429 with
``Retry-After`` seconds; ``token-quota`` per ``token-quota-period`` (Hourly..Yearly, calendar windows
in UTC) over → 403. ``estimate-prompt-tokens="false"`` charges only the usage the backend reports:
a request is admitted while the window still has room, so one request may overshoot and later ones
are refused until the window resets. Streaming requests always estimate their prompt.

Where we are stricter than APIM (Microsoft documents that concurrent requests "can exceed the
limit"): with an estimate, a request *reserves* its prompt tokens plus its completion allowance
(``max_completion_tokens``/``max_tokens`` × ``n``, or ``default-completion-tokens`` × ``n`` when it
sets no cap) in one atomic ``store.reserve``, and the reservation is reconciled with the real usage
once the answer is in (``store.adjust``). Since the reservation bounds what the request can cost,
admitted tokens never exceed the limit, however many requests race; without a cap (or when a prompt
alone is larger than the limit; reservations are clamped to the limit so such a request is admitted
into an empty window rather than never) at most one request's excess is added. Nothing is read and
then written across an await.

A request larger than the whole limit is *not* refused outright, unlike Azure OpenAI's own TPM (which
answers it with a 429 and ``retry-after: 86400``, see ``aigw.mocks.ratelimit``): APIM documents that it
estimates the prompt only and otherwise counts the usage the backend reports, letting a request that
overshoots through and blocking later ones until the window frees up — so a large ``max_tokens`` alone
never makes APIM refuse. Clamping keeps that (the request gets an empty window) without letting it
poison the window: the reservation is reconciled to the real usage, and refunded entirely when the
backend refuses the request (a model-limit 400, a 429).

``default-completion-tokens`` is an aigw extension (default 256): APIM estimates the prompt only,
which is what ``default-completion-tokens: 0`` gives for requests without a cap.

Counters are named by the policy's own settings (counter-key expression, limits, period), so they are
stable across gateway restarts and shared between replicas on a shared store; two declarations with
identical settings share their counters, as APIM documents one counter per key for every scope the
policy is configured at, while differently configured limits never mix.

Streams: ``stream_options.include_usage`` is injected upstream when absent (and the extra usage
chunk stripped from what the client sees); if the stream ends without usage (backend broke off, the
client left) the streamed deltas are tokenized instead. Answers served from a cache are not charged;
backend errors are not charged (Azure does not bill them); both refund the reservation.
"""

import hashlib
import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from pydantic import Field, field_validator, model_validator

from aigw.gateway.context import Context
from aigw.gateway.errors import GatewayError
from aigw.gateway.expressions import compile_expression
from aigw.gateway.policies.base import INBOUND, Policy, PolicyConfig
from aigw.gateway.token_estimate import (MEMO_ENTRIES, MEMO_MAX_BODY_BYTES, TOKEN_OPERATIONS, StreamTally,
                                         completion_allowance, model_of, prompt_tokens)
from aigw.gateway.windows import PERIODS, fixed_window, period_window

log = logging.getLogger("aigw.gateway")

MINUTE = 60.0
_HEADER_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 field-name
_HEADER_FIELDS = ("retry_after_header_name", "remaining_quota_tokens_header_name", "remaining_tokens_header_name",
                  "tokens_consumed_header_name")


class TokenLimitConfig(PolicyConfig):
    counter_key: str = Field(min_length=1)
    tokens_per_minute: int | None = Field(None, gt=0)
    token_quota: int | None = Field(None, gt=0)
    token_quota_period: str | None = None
    estimate_prompt_tokens: bool
    retry_after_header_name: str = "Retry-After"
    retry_after_variable_name: str | None = None
    remaining_quota_tokens_header_name: str | None = None
    remaining_quota_tokens_variable_name: str | None = None
    remaining_tokens_header_name: str | None = None
    remaining_tokens_variable_name: str | None = None
    tokens_consumed_header_name: str | None = None
    tokens_consumed_variable_name: str | None = None
    default_completion_tokens: int = Field(256, ge=0, description="aigw extension: allowance without max_tokens")

    @field_validator("counter_key")
    @classmethod
    def _expression(cls, value: str) -> str:
        compile_expression(value)  # ExpressionError (a ValueError) names the unsupported term
        return value

    @field_validator("token_quota_period", mode="before")
    @classmethod
    def _period(cls, value):
        if value is None:
            return None
        match = next((p for p in PERIODS if isinstance(value, str) and p.lower() == value.strip().lower()), None)
        if match is None:
            raise ValueError(f"token-quota-period must be one of {', '.join(PERIODS)} (got {value!r})")
        return match

    @field_validator(*_HEADER_FIELDS)
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        return check_header_name(value)

    @model_validator(mode="after")
    def _limits(self):
        if self.tokens_per_minute is None and self.token_quota is None:
            raise ValueError("set tokens-per-minute, or token-quota with token-quota-period, or both")
        if self.token_quota is not None and self.token_quota_period is None:
            raise ValueError(f"token-quota needs token-quota-period ({', '.join(PERIODS)})")
        if self.token_quota_period is not None and self.token_quota is None:
            raise ValueError("token-quota-period is set but token-quota is missing")
        return self


@dataclass(slots=True)
class _Counter:
    kind: str  # "quota" | "tpm"
    key: str
    start: float
    end: float
    reserved: int
    remaining: int


@dataclass(slots=True)
class _Charge:
    """One request's admission under one policy instance, until it is settled."""

    operation: str
    model: str
    prompt: int  # estimated prompt tokens (0 without an estimate)
    counters: list[_Counter]
    settled: bool = False
    consumed: int = 0


class LlmTokenLimit(Policy):
    name = "llm-token-limit"
    sections = frozenset({INBOUND})
    Config = TokenLimitConfig

    def __init__(self, config: TokenLimitConfig, services) -> None:
        super().__init__(config, services)
        self.key_of = compile_expression(config.counter_key)
        identity = "|".join(str(v) for v in (config.counter_key, config.tokens_per_minute, config.token_quota,
                                             config.token_quota_period))
        self.scope = f"{self.name}:{hashlib.sha1(identity.encode()).hexdigest()[:12]}"
        # Header names encoded once: the headers are written on every request.
        self._remaining_header = {"tpm": _encoded(config.remaining_tokens_header_name),
                                  "quota": _encoded(config.remaining_quota_tokens_header_name)}
        self._consumed_header = _encoded(config.tokens_consumed_header_name)
        self._header_names = {n for n in self._remaining_header.values() if n}
        # The headers a settled answer carries are fixed by which limits are configured: known up front.
        kinds = [kind for kind, limit in (("quota", config.token_quota), ("tpm", config.tokens_per_minute)) if limit]
        names = [n for n in [self._remaining_header[kind] for kind in kinds] + [self._consumed_header] if n]
        self._answer_header_names, self._answer_names_unique = frozenset(names), len(set(names)) == len(names)
        self._period = (0.0, 0.0)  # the current token-quota window, [start, end)
        self._current: tuple[float, float, list] = (0.0, 0.0, [])  # [start, end) in which _windows' answer holds
        self._admissions: OrderedDict[tuple, tuple] = OrderedDict()  # see _admission
        self._variables = any((config.remaining_tokens_variable_name, config.remaining_quota_tokens_variable_name,
                               config.tokens_consumed_variable_name))

    # -- admission -------------------------------------------------------------------------------

    async def inbound(self, ctx: Context) -> None:
        body = ctx.request.json()
        if ctx.operation not in TOKEN_OPERATIONS or ctx.request.method != "POST" or not isinstance(body, dict):
            return  # listing models, MCP, A2A: nothing to count
        key = (ctx.operation, ctx.deployment, ctx.request.body)
        admission = self._admissions.get(key)
        if admission is None:
            admission = self._admission(ctx.operation, body, ctx.deployment, ctx.request.body)
            if len(ctx.request.body) <= MEMO_MAX_BODY_BYTES:
                if len(self._admissions) >= MEMO_ENTRIES:
                    self._admissions.popitem(last=False)  # O(1); a dict's next(iter()) walks freed slots
                self._admissions[key] = admission
        streaming, model, estimate, prompt, amount = admission
        charge = _Charge(ctx.operation, model, prompt, [])
        await self._admit(ctx, charge, amount, overshoot=not estimate)
        if streaming:
            _ask_for_stream_usage(ctx)
            StreamTally.attach(ctx)
        ctx.on_response.append(partial(self._on_response, charge))
        ctx.on_complete.append(partial(self._on_complete, charge))
        self._publish(ctx, charge, consumed=prompt)

    def _admission(self, operation: str, body: dict, deployment: str | None, raw: bytes) -> tuple:
        """``(streaming, model, estimate?, prompt tokens, tokens to reserve)``: a pure function of the
        operation, deployment and body bytes, so ``inbound`` memoises it by them (load repeats requests)."""
        streaming = body.get("stream") is True and operation != "embeddings"
        model = model_of(body, deployment)
        estimate = self.config.estimate_prompt_tokens or streaming
        if estimate:
            prompt = prompt_tokens(operation, body, model, raw)
            amount = prompt + completion_allowance(operation, body, self.config.default_completion_tokens)
        else:
            # A 1-token floor no request undercuts; with allow_overshoot it admits while used < limit.
            prompt, amount = 0, 1
        return streaming, model, estimate, prompt, amount

    async def _admit(self, ctx: Context, charge: _Charge, amount: int, overshoot: bool) -> None:
        """Reserve in every window (quota first: a spent quota is a 403 whatever the minute says)."""
        store = self.services.store
        now = self.services.clock()
        value = self.key_of(ctx)
        for kind, limit, (start, end) in self._windows(now):
            key = f"{self.scope}:{kind}:{value}"
            reserve = min(amount, limit)
            reservation = await store.reserve(key, reserve, limit, start, end, allow_overshoot=overshoot)
            if reservation.admitted:
                charge.counters.append(_Counter(kind, key, start, end, reserve, reservation.remaining))
                continue
            for counter in charge.counters:  # give back what an earlier window already took
                await store.adjust(counter.key, counter.start, counter.end, -counter.reserved)
                counter.remaining += counter.reserved
                counter.reserved = 0
            charge.counters.append(_Counter(kind, key, start, end, 0, reservation.remaining))
            charge.settled = True
            self._publish(ctx, charge, consumed=None)
            raise self._refusal(ctx, kind, end - now)

    def _windows(self, now: float) -> list[tuple[str, int, tuple[float, float]]]:
        start, end, windows = self._current
        if start <= now < end:  # the same windows until the first of them rolls over
            return windows
        config = self.config
        windows = []
        if config.token_quota is not None:
            period = self._period
            if not period[0] <= now < period[1]:  # calendar arithmetic once per period, not per request
                period = self._period = period_window(config.token_quota_period, now)
            windows.append(("quota", config.token_quota, period))
        if config.tokens_per_minute is not None:
            windows.append(("tpm", config.tokens_per_minute, fixed_window(now, MINUTE)))
        self._current = (max(w[2][0] for w in windows), min(w[2][1] for w in windows), windows)
        return windows

    def _refusal(self, ctx: Context, kind: str, wait: float) -> GatewayError:
        seconds = max(1, math.ceil(wait))
        if self.config.retry_after_variable_name:
            ctx.variables[self.config.retry_after_variable_name] = seconds
        headers = {self.config.retry_after_header_name: str(seconds)}
        if kind == "tpm":
            return GatewayError(429, f"Token limit is exceeded. Try again in {seconds} seconds.", headers,
                                reason=f"{self.name}:tokens-per-minute")
        return GatewayError(403, f"Token quota is exceeded. Quota will be replenished in {timespan(wait)}.", headers,
                            reason=f"{self.name}:token-quota")

    # -- settlement ------------------------------------------------------------------------------

    async def _on_response(self, charge: _Charge, ctx: Context) -> None:
        """A buffered answer: settle now, so its headers and variables carry the real numbers."""
        response = ctx.response
        if response is None or response.is_stream:
            return  # a stream is settled once it has been delivered
        try:
            await self._settle(charge, ctx)
            if self._header_names:
                ctx.extra_headers = [(k, v) for k, v in ctx.extra_headers if k not in self._header_names]
            values = self._header_values(charge, charge.consumed)
            if values:
                if not self._answer_names_unique:  # a name configured twice: the last value wins
                    values = list(dict(values).items())
                names = self._answer_header_names
                response.headers = [(k, v) for k, v in response.headers if k not in names] + values
        except Exception:  # accounting must never fail a request
            log.exception("%s: settling a buffered answer failed", self.name)

    def _on_complete(self, charge: _Charge, ctx: Context):
        """Settle what ``_on_response`` did not (streams, refusals by later policies): a coroutine then, else
        None — a buffered answer is settled already, and an awaitable per request costs more than the check."""
        if charge.settled:
            return None
        return self._settle_after_delivery(charge, ctx)

    async def _settle_after_delivery(self, charge: _Charge, ctx: Context) -> None:
        try:
            await self._settle(charge, ctx)
        except Exception:
            log.exception("%s: settling after delivery failed", self.name)

    async def _settle(self, charge: _Charge, ctx: Context) -> None:
        if charge.settled:
            return
        charge.settled = True  # before any await: settle exactly once
        actual = self._actual(charge, ctx)
        charge.consumed = actual
        for counter in charge.counters:
            delta = actual - counter.reserved
            if delta:
                await self.services.store.adjust(counter.key, counter.start, counter.end, delta)
            counter.remaining = max(0, counter.remaining - delta)
        if self._variables:
            self._set_variables(ctx, charge, actual)

    def _actual(self, charge: _Charge, ctx: Context) -> int:
        """What the request really cost: the reported usage, else a count; nothing for cache hits and errors."""
        response = ctx.response
        if response is not None and response.source == "cache":
            return 0
        if ctx.usage is not None:
            return ctx.usage.total_tokens
        if response is None or response.status != 200:
            return 0
        prompt = charge.prompt or prompt_tokens(charge.operation, ctx.request.json(), charge.model, ctx.request.body)
        if response.is_stream:
            return prompt + StreamTally.attach(ctx).completion_tokens(charge.model)
        return prompt  # a 200 without usage: at least its prompt is charged

    # -- headers and variables -------------------------------------------------------------------

    def _publish(self, ctx: Context, charge: _Charge, consumed: int | None) -> None:
        """Admission-time values: on the client response (streams, refusals) and in the variables."""
        ctx.extra_headers += self._header_values(charge, None)
        if self._variables:
            self._set_variables(ctx, charge, consumed)

    def _header_values(self, charge: _Charge, consumed: int | None) -> list[tuple[bytes, bytes]]:
        """``(lower-case name, value)`` pairs, as ASGI headers."""
        values = []
        for counter in charge.counters:
            name = self._remaining_header[counter.kind]
            if name:
                values.append((name, str(counter.remaining).encode()))
        if consumed is not None and self._consumed_header:
            values.append((self._consumed_header, str(consumed).encode()))
        return values

    def _set_variables(self, ctx: Context, charge: _Charge, consumed: int | None) -> None:
        config = self.config
        for counter in charge.counters:
            name = config.remaining_tokens_variable_name if counter.kind == "tpm" else config.remaining_quota_tokens_variable_name
            if name:
                ctx.variables[name] = counter.remaining
        if consumed is not None and config.tokens_consumed_variable_name:
            ctx.variables[config.tokens_consumed_variable_name] = consumed


class AzureOpenAiTokenLimit(LlmTokenLimit):
    """``azure-openai-token-limit``: the same policy under its Azure OpenAI-specific name."""

    name = "azure-openai-token-limit"


def _ask_for_stream_usage(ctx: Context) -> None:
    """Make the backend report usage at the end of the stream; strip it again if the client did not ask."""
    body = ctx.request.json()
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return
    if options is not None and not isinstance(options, dict):
        return  # invalid: leave it for the backend to reject with its own 400
    ctx.request.replace_json({**body, "stream_options": {**(options or {}), "include_usage": True}})
    ctx.strip_usage_chunk = True


def _encoded(name: str | None) -> bytes | None:
    return name.lower().encode() if name else None


def check_header_name(value: str | None) -> str | None:
    """The name itself, or ValueError: a bad name must fail the config check, not the response."""
    if value is not None and not _HEADER_TOKEN.match(value):
        raise ValueError(f"{value!r} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)")
    return value


def timespan(seconds: float) -> str:
    """.NET TimeSpan text as APIM prints it: ``hh:mm:ss``, with ``d.`` in front past a day."""
    seconds = max(0, math.ceil(seconds))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}.{text}" if days else text
