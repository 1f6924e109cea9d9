"""``llm-semantic-cache-lookup`` (inbound) and ``llm-semantic-cache-store`` (outbound), with the
``azure-openai-semantic-cache-*`` aliases: answer a prompt from earlier answers to the same or a similar one.

YAML (APIM's attributes, plus ours marked)::

    inbound:
      - llm-semantic-cache-lookup:
          score-threshold: 0.05            # a cosine *distance*: smaller = more similar (APIM suggests ~0.05)
          embeddings-backend-id: embeddings
          embeddings-backend-auth: system-assigned   # accepted; the backend's own auth is used
          ignore-system-messages: true
          max-message-count: 10            # longer dialogs are not cached
          vary-by: ["@(context.Subscription.Id)"]
          embeddings-deployment: text-embedding-3-small   # ours: when the backend URL is not the endpoint
          embeddings-dimensions: 256       # ours: shorter vectors (text-embedding-3 models only)
          embeddings-timeout: 2            # ours: seconds (small: a slow embeddings call delays every miss)
          max-bytes: 268435456             # ours: one budget for answers and vectors of every partition (LRU)
          max-entries-per-partition: 100000   # ours: the oldest entry of a full partition is evicted
    outbound:
      - llm-semantic-cache-store: {duration: 3600}

Lookup order: not cacheable → ``bypass``; exact tier (same normalised prompt in the same partition, one
store read) → semantic tier (embed the prompt, nearest vector within ``score-threshold``) → miss. Every
response of a chat/completions request that the lookup saw says which in the ``x-aigw-cache`` header
(``hit`` | ``miss`` | ``bypass``), with ``x-aigw-cache-tier`` (``exact`` | ``semantic``) and
``x-aigw-cache-distance`` (the cosine distance, ``0.0000`` for exact) on hits; ``services.metrics.cache``
counts ``hit`` / ``miss`` / ``bypass`` / ``error`` / ``skipped`` per API (``skipped``: the embeddings
backend is known to be failing, so the semantic tier was not even tried — a dead embeddings backend
costs nothing per request). A cache or embeddings failure is logged (once per interval, with a count)
and is a miss: it never fails the request. An answer is served only to a request it fully satisfies:
same or larger completion cap than it used if it finished, exactly its cap if it was cut short
(``CachedAnswer.satisfies``). The store policy keeps only 200 answers from the backend;
streamed answers are assembled as they pass and stored once the stream completed cleanly.

Not cached (``bypass``): requests with more than one choice (``n``), logprobs, non-text content parts
(images, audio), prompts given as tokens or several prompts, and dialogs over ``max-message-count``
(counted after system messages are dropped when ``ignore-system-messages`` is set). Answers with tool
calls or a content-filter finish are not stored.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import Field, field_validator

from aigw.gateway.cache.embeddings import EmbeddingsClient, EmbeddingsError, EmbeddingsSkipped
from aigw.gateway.cache.replay import StreamAssembler, replay
from aigw.gateway.cache.semantic import CachedAnswer, SemanticCache, answer_key, partition_id
from aigw.protocol.spec import check
from aigw.gateway.context import Context
from aigw.gateway.expressions import compile_expression
from aigw.gateway.policies.base import INBOUND, OUTBOUND, Policy, PolicyConfig
from aigw.protocol.log_limit import LogLimiter

REQUEST_SCHEMAS = {"chat": "chat-completion-request", "completions": "completion-request"}
log = logging.getLogger("aigw.gateway")
quiet = LogLimiter(log)
CACHE_HEADER = b"x-aigw-cache"
TIER_HEADER = b"x-aigw-cache-tier"
DISTANCE_HEADER = b"x-aigw-cache-distance"
STATE_VARIABLE = "aigw.semantic-cache"  # hands the lookup's miss to the store policy
# Request fields that change what an answer looks like: part of the partition, so they never mix.
SHAPING_FIELDS = ("tools", "tool_choice", "functions", "function_call", "response_format", "echo", "suffix", "seed")


@dataclass
class _Pending:
    """A lookup miss waiting for the backend's answer."""

    cache: SemanticCache
    partition: str
    key: str
    vector: np.ndarray | None
    operation: str
    prompt: Any  # messages or prompt, for estimating usage of a stream without a usage chunk
    cap: int | None  # the request's completion cap, recorded with the answer


class SemanticCacheLookup(Policy):
    name = "llm-semantic-cache-lookup"
    sections = frozenset({INBOUND})

    class Config(PolicyConfig):
        score_threshold: float = Field(ge=0.0, le=1.0)
        embeddings_backend_id: str = Field(min_length=1)
        embeddings_backend_auth: Literal["system-assigned"] | None = None
        ignore_system_messages: bool = False
        max_message_count: int | None = Field(None, ge=1)
        vary_by: list[str] = Field(default_factory=list)
        embeddings_deployment: str | None = None
        embeddings_api_version: str = "2024-10-21"
        embeddings_dimensions: int | None = Field(None, ge=1, le=3072)
        embeddings_timeout: float = Field(2.0, gt=0)
        max_bytes: int = Field(256 * 2**20, ge=1024 * 1024)
        max_entries_per_partition: int = Field(100_000, ge=1)
        max_partitions: int = Field(10_000, ge=1)

        @field_validator("vary_by", mode="before")
        @classmethod
        def _vary_by(cls, value: Any) -> Any:
            values = [value] if isinstance(value, str) else value
            for expression in values or ():
                compile_expression(str(expression))  # a bad expression is a config error
            return values

    def __init__(self, config: Config, services) -> None:
        super().__init__(config, services)
        self.vary_by = [compile_expression(expression) for expression in config.vary_by]
        self.embeddings = EmbeddingsClient(services, config.embeddings_backend_id, config.embeddings_deployment,
                                           config.embeddings_api_version, config.embeddings_dimensions,
                                           config.embeddings_timeout)
        self.cache = SemanticCache(services.store, lambda: services.clock(), config.max_bytes,
                                   config.max_entries_per_partition, config.max_partitions)
        services.extras.setdefault("semantic-caches", []).append(self.cache)  # metrics read their sizes
        services.on_reset.append(self.cache.clear)  # the answers themselves live in the store

    async def inbound(self, ctx: Context) -> None:
        if ctx.operation not in ("chat", "completions") or ctx.request.method != "POST":
            return
        try:
            await self._lookup(ctx)
        except Exception as error:  # never fail the request because of the cache
            quiet.log(logging.ERROR, f"lookup-{type(error).__name__}", "semantic cache lookup failed (%r); treating it "
                      "as a miss", error, exc_info=True)
            ctx.variables.pop(STATE_VARIABLE, None)
            self._report(ctx, "error", header="miss")

    async def _lookup(self, ctx: Context) -> None:
        body = ctx.request.json()
        if check(REQUEST_SCHEMAS[ctx.operation], body):
            return self._report(ctx, "bypass")  # the backend must see (and reject) an invalid request
        prompt = cacheable_prompt(body, ctx.operation, self.config.ignore_system_messages)
        if prompt is None or (self.config.max_message_count is not None and prompt.count > self.config.max_message_count):
            return self._report(ctx, "bypass")
        # The query (api-version, ...) is part of what was asked: a request the backend would reject
        # must never be answered from a cache filled by ones it accepted.
        partition = partition_id(ctx.api.id, ctx.operation, ctx.deployment or str(body.get("model") or ""),
                                 ctx.request.query_string.decode("latin-1"),
                                 *(orjson.dumps(body.get(f), option=orjson.OPT_SORT_KEYS).decode() for f in SHAPING_FIELDS),
                                 *(vary(ctx) for vary in self.vary_by))
        key = answer_key(partition, prompt.normalized)
        hit = await self.cache.exact(key)
        vector, result = None, "miss"
        if hit is None:
            try:
                vector = await self.embeddings.embed(prompt.text)
            except EmbeddingsSkipped:  # known to be failing: no call, no wait, no log line
                result = "skipped"
            except EmbeddingsError as error:  # the exact tier still works; the semantic one sits this out
                quiet.warning(f"embeddings-{self.config.embeddings_backend_id}", "semantic cache: %s; treating it as "
                              "a miss", error)
                result = "error"
            else:
                hit = await self.cache.semantic(partition, vector, self.config.score_threshold)
        cap = completion_cap(body)
        if hit is not None and not hit.answer.satisfies(cap):
            hit = None  # cut short for a smaller cap, or longer than this request allows
        if hit is None:
            ctx.variables[STATE_VARIABLE] = _Pending(self.cache, partition, key, vector, ctx.operation, prompt.raw, cap)
            return self._report(ctx, result, header="miss")
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        ctx.response = replay(hit.answer.operation, hit.answer.body, ctx.is_streaming_request, include_usage)
        ctx.extra_headers += [(TIER_HEADER, hit.tier.encode()), (DISTANCE_HEADER, f"{hit.distance:.4f}".encode())]
        self._report(ctx, "hit")

    def _report(self, ctx: Context, result: str, header: str | None = None) -> None:
        ctx.extra_headers.append((CACHE_HEADER, (header or result).encode()))
        metrics = self.services.metrics
        if metrics is not None and hasattr(metrics, "cache"):
            metrics.cache(result, ctx.api.id)


class SemanticCacheStore(Policy):
    name = "llm-semantic-cache-store"
    sections = frozenset({OUTBOUND})

    class Config(PolicyConfig):
        duration: float = Field(gt=0, description="seconds an answer stays in the cache")

    async def outbound(self, ctx: Context) -> None:
        pending: _Pending | None = ctx.variables.pop(STATE_VARIABLE, None)
        response = ctx.response
        if pending is None or response is None or response.source != "backend" or response.status != 200:
            return
        try:
            if response.stream is None:
                answer = response.json()
                if _storable(answer, pending.operation):
                    await self._put(pending, response.body, answer)
                return
            assembler = StreamAssembler(pending.operation)
            ctx.stream_observers.append(assembler.observe)
            ctx.on_complete.append(lambda done: self._put_stream(done, pending, assembler))
        except Exception:
            log.exception("semantic cache store failed; the answer is not cached")

    async def _put_stream(self, ctx: Context, pending: _Pending, assembler: StreamAssembler) -> None:
        if ctx.error is not None:
            return
        try:
            usage = assembler.usage or _estimate_usage(pending, assembler.text, assembler.head.get("model") or ctx.deployment)
            body = assembler.body(usage)
            if body is not None:
                await self._put(pending, body, orjson.loads(body))
        except Exception:
            log.exception("semantic cache store failed; the streamed answer is not cached")

    async def _put(self, pending: _Pending, body: bytes, answer: dict) -> None:
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens")
        record = CachedAnswer(pending.operation, body, self.services.clock() + self.config.duration, pending.cap,
                              answer["choices"][0]["finish_reason"], tokens if isinstance(tokens, int) else 0)
        await pending.cache.put(pending.partition, pending.key, pending.vector, record, self.config.duration)


class AzureOpenAiSemanticCacheLookup(SemanticCacheLookup):
    name = "azure-openai-semantic-cache-lookup"


class AzureOpenAiSemanticCacheStore(SemanticCacheStore):
    name = "azure-openai-semantic-cache-store"


@dataclass(frozen=True)
class Prompt:
    text: str  # what is embedded
    normalized: str  # what the exact tier hashes
    count: int  # dialog messages considered
    raw: Any


def cacheable_prompt(body: Any, operation: str, ignore_system_messages: bool) -> Prompt | None:
    """The prompt to cache on, or None when the request is not cacheable (see the module docstring)."""
    if not isinstance(body, dict) or body.get("n") not in (None, 1) or body.get("logprobs"):
        return None
    if operation == "completions":
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            return None
        return Prompt(prompt, _normalize(prompt), 1, prompt)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    texts, canonical = [], []
    for message in messages:
        if not isinstance(message, dict):
            return None
        role = message.get("role")
        if ignore_system_messages and role in ("system", "developer"):
            continue
        content = _text(message.get("content"))
        if content is None:
            return None
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        if extra:  # tool calls and results, names: part of what the exact tier compares
            content += "\n" + orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode()
        texts.append(content)
        canonical.append([role, _normalize(content)])
    if not texts:
        return None
    return Prompt("\n".join(texts), orjson.dumps(canonical).decode(), len(texts), messages)


def _text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                return None  # an image or audio part: the text alone does not say what is asked
            parts.append(part["text"])
        return "\n".join(parts)
    return None


def completion_cap(request: dict) -> int | None:
    """The request's completion cap (``max_completion_tokens``, else ``max_tokens``), None when uncapped."""
    cap = request.get("max_completion_tokens")
    if cap is None:
        cap = request.get("max_tokens")
    return cap if isinstance(cap, int) and not isinstance(cap, bool) else None


def _normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _storable(answer: Any, operation: str) -> bool:
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list) or len(answer["choices"]) != 1:
        return False
    choice = answer["choices"][0]
    if not isinstance(choice, dict) or choice.get("finish_reason") not in ("stop", "length"):
        return False
    if operation == "chat":
        message = choice.get("message")
        return isinstance(message, dict) and not message.get("tool_calls") and not message.get("function_call")
    return isinstance(choice.get("text"), str)


def _estimate_usage(pending: _Pending, text: str, model: str | None) -> dict:
    """Usage for a stream that carried none (the client did not ask for it): counted like the backend would."""
    from aigw.protocol import tokens

    model = model or "gpt-4o"
    if pending.operation == "chat":
        prompt_tokens = tokens.count_chat_prompt(pending.prompt, model)
    else:
        prompt_tokens = tokens.count_prompt(pending.prompt, model)
    completion_tokens = tokens.count_text(text, model)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
