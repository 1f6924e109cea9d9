"""What a request will cost in tokens before it is sent, and what a stream cost when its usage never came.

Token limits admit a request against an estimate and later charge what the backend reports. This
module makes the estimate with the real tokenizer (``aigw.protocol.tokens``, the same code the mock
bills with, so estimate and ``usage.prompt_tokens`` agree exactly for plain messages) and keeps the
fallback count for streams that break before their usage chunk: a stream is never left uncounted.

Which model? The gateway routes by *deployment* and does not know which model a deployment serves,
so the body's ``model`` is used when present (the OpenAI-style APIs require it), else the deployment
name (Azure deployments are usually named after their model), and names the tokenizer does not know
fall back to ``o200k_base`` (every model since gpt-4o uses it; see ``encoding_name_for_model``).
"""

import math
from collections import OrderedDict
from typing import Any

from aigw.protocol.tokens import (TokenCountError, count_chat_prompt, count_embedding_input, count_prompt,
                                  count_text)

TOKEN_OPERATIONS = frozenset({"chat", "completions", "embeddings"})
LEGACY_DEFAULT_MAX_TOKENS = 16  # the completions API's documented default for max_tokens
MEMO_ENTRIES = 4096
MEMO_MAX_BODY_BYTES = 16 * 1024  # larger prompts are counted every time (and dominate their own cost anyway)
_memo: OrderedDict[tuple[str, str, bytes], int] = OrderedDict()  # O(1) eviction: popitem(last=False)


def model_of(body: Any, deployment: str | None) -> str:
    """The model name to tokenize for (see the module docstring)."""
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and model.strip():
        return model
    return deployment or "gpt-4o"


def prompt_tokens(operation: str, body: Any, model: str, raw: bytes = b"") -> int:
    """Prompt tokens of a chat, completions or embeddings request whose body bytes are ``raw``.

    The count is a pure function of (operation, model, body bytes), and load repeats requests, so it
    is memoised by them in a bounded first-in-first-out table (as the mock memoises its answers):
    tokenizing even a short chat costs several microseconds, a table hit a fraction of one.
    ``raw`` must be the bytes ``body`` was parsed from (``ctx.request.body``); without it nothing is kept.
    """
    if not raw or len(raw) > MEMO_MAX_BODY_BYTES:
        return _count_prompt(operation, body, model, raw)
    key = (operation, model, raw)
    count = _memo.get(key)
    if count is None:
        count = _count_prompt(operation, body, model, raw)
        if len(_memo) >= MEMO_ENTRIES:
            _memo.popitem(last=False)  # a dict's next(iter()) would walk every slot freed since its last resize
        _memo[key] = count
    return count


def _count_prompt(operation: str, body: Any, model: str, raw: bytes) -> int:
    """The count itself. A body the counters cannot read (the backend will reject it with a 400 anyway)
    is estimated at four characters per token of its raw bytes: a malformed request is still charged,
    never a 500."""
    try:
        if operation == "chat":
            messages = body.get("messages")
            if not isinstance(messages, list):
                raise TokenCountError("messages must be an array")
            tools = body.get("tools") or body.get("functions")
            return count_chat_prompt(messages, model, tools if isinstance(tools, list) else None)
        if operation == "completions":
            return count_prompt(body.get("prompt", ""), model)
        if operation == "embeddings":
            return count_embedding_input(body.get("input", ""), model)
    except (TokenCountError, AttributeError, TypeError):
        pass
    return math.ceil(len(raw) / 4)


def completion_allowance(operation: str, body: Any, default: int) -> int:
    """Completion tokens a request may produce: its cap × the number of choices.

    Chat: ``max_completion_tokens`` (else ``max_tokens``) × ``n``; without a cap, ``default`` × ``n``.
    Legacy completions: ``max_tokens`` (documented default 16) × ``max(n, best_of)`` (``best_of``
    candidates are generated, and billed, server-side). Embeddings produce no completion.
    """
    if operation == "embeddings" or not isinstance(body, dict):
        return 0
    n = _positive_int(body.get("n"), 1)
    if operation == "completions":
        n = max(n, _positive_int(body.get("best_of"), 1))
        return _positive_int(body.get("max_tokens"), LEGACY_DEFAULT_MAX_TOKENS) * n
    cap = body.get("max_completion_tokens")
    if cap is None:
        cap = body.get("max_tokens")
    return _positive_int(cap, default) * n


def _positive_int(value: Any, default: int) -> int:
    if type(value) is int and value > 0:
        return value
    return default


class StreamTally:
    """The completion text of a stream, per choice, as it passes (``ctx.stream_observers``).

    Only consulted when the stream ends without a usage chunk (backend broke off, client left): then
    the streamed deltas are tokenized. One tally per request, shared by every token-limit policy on it.
    """

    __slots__ = ("parts",)
    _ATTRIBUTE = "_aigw_stream_tally"

    def __init__(self) -> None:
        self.parts: dict[int, list[str]] = {}

    @classmethod
    def attach(cls, ctx) -> "StreamTally":
        tally = getattr(ctx, cls._ATTRIBUTE, None)
        if tally is None:
            tally = cls()
            setattr(ctx, cls._ATTRIBUTE, tally)
            ctx.stream_observers.append(tally.observe)
        return tally

    def observe(self, ctx, event: dict) -> None:
        choices = event.get("choices") if isinstance(event, dict) else None
        if not isinstance(choices, list):
            return
        for position, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index") if type(choice.get("index")) is int else position
            pieces = self.parts.setdefault(index, [])
            text = choice.get("text")  # legacy completions
            if isinstance(text, str):
                pieces.append(text)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for key in ("content", "refusal"):
                    if isinstance(delta.get(key), str):
                        pieces.append(delta[key])
                for call in delta.get("tool_calls") or ():
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict):
                        pieces.extend(v for v in (function.get("name"), function.get("arguments")) if isinstance(v, str))

    def completion_tokens(self, model: str) -> int:
        return sum(count_text("".join(pieces), model) for pieces in self.parts.values() if pieces)
