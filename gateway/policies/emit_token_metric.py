"""``llm-emit-token-metric`` (alias ``azure-openai-emit-token-metric``): token counts as metrics.

APIM sends Prompt Tokens, Completion Tokens and Total Tokens to Application Insights under a
``namespace`` (default ``API Management``, no expressions) with up to 5 ``<dimension name value/>``
elements. A dimension's value is a string or expression and may be left out only for the default
dimensions (API ID, Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID, Backend
ID), which get their value from the request. Counts come from the response's ``usage``; with
``stream: true`` and no usage in the stream they are estimated: the prompt by tokenizing the request,
the completion by tokenizing the streamed text.

Here the counts go to ``services.metrics`` once the response (or stream) is complete: Prometheus
``aigw_llm_{prompt,completion,total}_tokens_total{namespace, api_id, ...}`` at ``/metrics`` and, when
configured, the OpenTelemetry counters ``aigw.llm.*_tokens``. ``Backend ID`` is the backend that
actually answered (a pool member), else the API's backend or pool. YAML::

    - llm-emit-token-metric:
        namespace: aigw
        dimensions:
          - {name: API ID}
          - {name: Subscription ID}
          - {name: Deployment, value: "@(context.Deployment)"}
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from pydantic import Field, field_validator, model_validator

from aigw.gateway.context import Context, Usage
from aigw.gateway.expressions import compile_expression
from aigw.gateway.metrics import label_name
from aigw.gateway.policies.base import INBOUND, Policy, PolicyConfig
from aigw.protocol import tokens

MAX_DIMENSIONS = 5  # Azure Monitor's custom-metric limit as APIM applies it to this policy


def _backend_id(ctx: Context) -> str:
    return ctx.served_by or ctx.backend_id or ctx.api.backend


DEFAULT_DIMENSIONS: dict[str, Callable[[Context, Any], str]] = {
    "api id": lambda ctx, services: ctx.api.id,
    "operation id": lambda ctx, services: ctx.operation or "",
    "product id": lambda ctx, services: ctx.product.id if ctx.product else "",
    "user id": lambda ctx, services: (ctx.subscription.user or "") if ctx.subscription else "",
    "subscription id": lambda ctx, services: ctx.subscription.id if ctx.subscription else "",
    "location": lambda ctx, services: services.config.region,
    "gateway id": lambda ctx, services: services.config.gateway_id,
    "backend id": lambda ctx, services: _backend_id(ctx),
}
_DEFAULT_NAMES = "API ID, Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID, Backend ID"


class Dimension(PolicyConfig):
    name: str = Field(min_length=1)
    value: str | None = None

    @model_validator(mode="after")
    def _value_or_default(self):
        if self.name.strip().startswith("@("):
            raise ValueError(f"dimension name {self.name!r}: use a fixed name (it becomes a metric label); "
                             "put expressions in value")
        if self.value is None and self.name.strip().lower() not in DEFAULT_DIMENSIONS:
            raise ValueError(f"dimension {self.name!r} needs a value; only the default dimensions may omit it: "
                             f"{_DEFAULT_NAMES}")
        if self.value is not None:
            compile_expression(self.value)
        return self


class EmitTokenMetric(Policy):
    name = "llm-emit-token-metric"
    sections = frozenset({INBOUND})

    class Config(PolicyConfig):
        namespace: str = Field("API Management", min_length=1)
        dimensions: list[Dimension] = Field(min_length=1, description="1 to 5 dimensions")

        @field_validator("namespace")
        @classmethod
        def _literal(cls, value: str) -> str:
            if value.strip().startswith("@("):
                raise ValueError("namespace is a plain string; policy expressions are not allowed (as in APIM)")
            return value

        @field_validator("dimensions")
        @classmethod
        def _at_most_five(cls, value: list[Dimension]) -> list[Dimension]:
            if len(value) > MAX_DIMENSIONS:
                raise ValueError(f"at most {MAX_DIMENSIONS} dimensions per policy (Azure Monitor's custom-metric "
                                 f"limit, as API Management enforces it); got {len(value)}")
            labels: dict[str, str] = {"namespace": "namespace"}
            for dimension in value:
                label = label_name(dimension.name)
                if label in labels:
                    raise ValueError(f"dimensions {labels[label]!r} and {dimension.name!r} both become the metric "
                                     f"label {label!r}; rename one")
                labels[label] = dimension.name
            return value

    def __init__(self, config, services) -> None:
        super().__init__(config, services)
        self.names = tuple(d.name for d in config.dimensions)
        self.getters = tuple(self._getter(d) for d in config.dimensions)

    def _getter(self, dimension: Dimension) -> Callable[[Context], str]:
        if dimension.value is not None:
            return compile_expression(dimension.value)
        default, services = DEFAULT_DIMENSIONS[dimension.name.strip().lower()], self.services
        return lambda ctx: default(ctx, services)  # a closure: cheaper to call than a partial with a keyword

    async def inbound(self, ctx: Context) -> None:
        estimate = None
        body = ctx.request.json()
        if isinstance(body, dict) and body.get("stream") is True and not _asks_for_usage(body):
            estimate = StreamedText()
            ctx.stream_observers.append(estimate.observe)
        ctx.on_complete.append(partial(self.emit, streamed=estimate))

    def emit(self, ctx: Context, streamed: StreamedText | None) -> None:
        usage = ctx.usage
        if usage is None and streamed is not None and ctx.response is not None and ctx.response.is_stream:
            usage = estimate_usage(ctx, streamed)
        metrics = self.services.metrics
        if usage is None or metrics is None:
            return
        dimensions = tuple(zip(self.names, [get(ctx) for get in self.getters]))
        metrics.tokens(self.config.namespace, dimensions, usage.prompt_tokens, usage.completion_tokens)


class EmitTokenMetricAzureOpenAI(EmitTokenMetric):
    """The older name APIM still accepts for Azure OpenAI APIs."""

    name = "azure-openai-emit-token-metric"


class StreamedText:
    """Collects the generated text of a stream, per choice, for an estimate when no usage arrives."""

    def __init__(self) -> None:
        self.parts: dict[int, list[str]] = {}

    def observe(self, ctx: Context, event: dict) -> None:
        if not isinstance(event, dict):
            return
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(text, str) and text:
                self.parts.setdefault(choice.get("index", 0), []).append(text)
            for call in (delta.get("tool_calls") or ()) if isinstance(delta, dict) else ():
                arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                if isinstance(arguments, str) and arguments:
                    self.parts.setdefault(choice.get("index", 0), []).append(arguments)


def estimate_usage(ctx: Context, streamed: StreamedText) -> Usage:
    """Prompt tokens from the request, completion tokens from the streamed text (APIM: "estimated")."""
    body = ctx.request.json()
    body = body if isinstance(body, dict) else {}
    model = body.get("model") if isinstance(body.get("model"), str) else (ctx.deployment or "gpt-4o")
    try:
        if isinstance(body.get("messages"), list):
            prompt = tokens.count_chat_prompt(body["messages"], model, body.get("tools"))
        elif "prompt" in body:
            prompt = tokens.count_prompt(body["prompt"], model)
        else:
            prompt = 0
    except Exception:  # a body the backend accepted but we cannot tokenize: fall back to characters
        prompt = tokens.estimate_tokens_from_chars(ctx.request.body.decode("utf-8", "replace"))
    completion = sum(tokens.count_text("".join(parts), model) for parts in streamed.parts.values())
    return Usage(prompt, completion)


def _asks_for_usage(body: Any) -> bool:
    options = body.get("stream_options") if isinstance(body, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True
