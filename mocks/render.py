"""Render planned choices as the wire formats: chat/completions JSON and SSE chunk streams.

Only formatting lives here; what is said was decided in ``generation``. A stream is returned as a
list of ``(event bytes, paced)``: paced events carry a token and are spaced by the latency profile,
the others (finish, usage, ``[DONE]``) follow immediately.
"""

from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

import orjson

from aigw.mocks import content_filter, textgen
from aigw.mocks.generation import ChoicePlan, token_logprob_entry
from aigw.protocol.sse import DONE_EVENT, encode_event

dumps = orjson.dumps


@dataclass(slots=True)
class Meta:
    id: str
    created: int
    model: str
    system_fingerprint: str
    azure: bool  # add Azure's content-filter annotations
    prompt_filter: dict[str, Any] | None = None
    top_logprobs: int = 0
    seed: int = 0
    choice_filters: dict[int, dict[str, Any]] | None = None  # content_filter_results by choice index


def _choice_filter(meta: Meta, plan: ChoicePlan) -> dict[str, Any]:
    return (meta.choice_filters or {}).get(plan.index, content_filter.SAFE_COMPLETION)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_logprobs(plan: ChoicePlan, meta: Meta) -> dict[str, Any] | None:
    if plan.logprobs is None:
        return None
    return {
        "content": [
            token_logprob_entry(p, lp, meta.top_logprobs, meta.seed + i) for i, (p, lp) in enumerate(zip(plan.pieces, plan.logprobs))
        ],
        "refusal": None,
    }


def chat_json(plans: list[ChoicePlan], meta: Meta, prompt_tokens: int) -> bytes:
    return _envelope(b"chat.completion", plans, [_chat_choice(plan, meta) for plan in plans], meta, prompt_tokens)


def _chat_choice(plan: ChoicePlan, meta: Meta) -> bytes:
    if not plan.tool_calls and plan.logprobs is None:  # the common shape, spliced: what dumps() of the dict gives
        return _CHAT_CHOICE % (plan.index, dumps(plan.content), plan.finish_reason.encode(), _choice_filter_json(meta, plan))
    message: dict[str, Any] = {"role": "assistant", "content": plan.content, "refusal": None}
    if plan.legacy_function:
        call = plan.tool_calls[0]
        message["function_call"] = {"name": call.name, "arguments": call.arguments}
    elif plan.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in plan.tool_calls
        ]
    choice = {"index": plan.index, "message": message, "finish_reason": plan.finish_reason, "logprobs": _chat_logprobs(plan, meta)}
    return dumps(choice)[:-1] + _choice_filter_json(meta, plan) + b"}"


_CHAT_CHOICE = (b'{"index":%d,"message":{"role":"assistant","content":%s,"refusal":null},"finish_reason":"%s",'
                b'"logprobs":null%s}')


def _choice_filter_json(meta: Meta, plan: ChoicePlan) -> bytes:
    """Azure's annotation of a choice, as the choice's last member (nothing on the OpenAI-style routes)."""
    return b',"content_filter_results":' + dumps(_choice_filter(meta, plan)) if meta.azure else b""


def _envelope(object_name: bytes, plans: list[ChoicePlan], choices: list[bytes], meta: Meta, prompt_tokens: int) -> bytes:
    """The response around its serialised choices, shared by chat and legacy completions.

    Spliced from serialised parts rather than dumped from one dict: on a new prompt the nested dicts
    (usage details, annotations) cost more to build than the answer did to plan.
    """
    completion_tokens = sum(p.completion_tokens for p in plans)
    prompt_filter = (b',"prompt_filter_results":[{"prompt_index":0,"content_filter_results":' + dumps(meta.prompt_filter)
                     + b"}]") if meta.azure else b""
    return _ENVELOPE % (dumps(meta.id), object_name, meta.created, dumps(meta.model), dumps(meta.system_fingerprint),
                        b",".join(choices), _USAGE % (prompt_tokens, completion_tokens, prompt_tokens + completion_tokens),
                        prompt_filter)


_ENVELOPE = b'{"id":%s,"object":"%s","created":%d,"model":%s,"system_fingerprint":%s,"choices":[%s],"usage":%s%s}'
_USAGE = dumps(usage(0, 0)).replace(b'"prompt_tokens":0,"completion_tokens":0,"total_tokens":0',
                                    b'"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d', 1)


def _chunk_head(object_name: bytes, meta: Meta, include_usage: bool) -> bytes:
    """``data: {"id":…,"system_fingerprint":…[,"usage":null]``: the same in every chunk of a stream, so it
    is serialised once and spliced in front of each chunk's choices."""
    return (b'data: {"id":' + dumps(meta.id) + b',"object":"' + object_name + b'","created":' + str(meta.created).encode()
            + b',"model":' + dumps(meta.model) + b',"system_fingerprint":' + dumps(meta.system_fingerprint)
            + (b',"usage":null' if include_usage else b""))


class Stream:
    """A rendered SSE stream: the events ``streaming.stream_events`` sends, each flagged *paced* when it
    carries a token (a latency profile spaces those).

    Most events are one per token and differ only in the token's JSON string, so such a run is kept as
    ``(before, strings, after)``: the whole body is then one join, and the events themselves are only built
    when something sends them apart (a latency profile, a reset in the middle of the stream).
    """

    __slots__ = ("_segments",)

    def __init__(self) -> None:
        self._segments: list[tuple] = []  # (event, paced) or (before, strings, after) for a run of paced events

    def add(self, event: bytes, paced: bool) -> None:
        self._segments.append((event, paced))

    def add_run(self, before: bytes, strings: list[bytes], after: bytes) -> None:
        if strings:
            self._segments.append((before, strings, after))

    def body(self) -> bytes:
        parts: list[bytes] = []
        for segment in self._segments:
            if len(segment) == 2:
                parts.append(segment[0])
            else:
                before, strings, after = segment
                parts += (before, (after + before).join(strings), after)
        return b"".join(parts)

    def events(self) -> list[tuple[bytes, bool]]:
        out: list[tuple[bytes, bool]] = []
        for segment in self._segments:
            if len(segment) == 2:
                out.append(segment)
            else:
                before, strings, after = segment
                out += ((before + string + after, True) for string in strings)
        return out


def chat_stream(plans: list[ChoicePlan], meta: Meta, prompt_tokens: int, include_usage: bool) -> Stream:
    head = _chunk_head(b"chat.completion.chunk", meta, include_usage)
    stream = Stream()
    if meta.azure:
        # Azure's first chunk: no choices, the prompt's filter results (facts file §1). Azure leaves
        # id/object/model empty there; we fill them so the chunk also meets the official chunk schema.
        stream.add(head + b',"choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":'
                   + dumps(meta.prompt_filter) + b"}]}\n\n", False)
    head += b',"choices":['
    per_choice = [_choice_deltas(plan, meta, head) for plan in plans]
    if len(per_choice) == 1:
        for delta in per_choice[0]:
            if type(delta) is bytes:
                stream.add(delta, True)
            else:
                stream.add_run(*delta)
    else:  # several choices take turns, token by token
        per_choice = [[event for delta in deltas for event in _expanded(delta)] for deltas in per_choice]
        for step in zip_longest(*per_choice):
            for event in step:
                if event is not None:
                    stream.add(event, True)
    for plan in plans:
        # A filtered choice's last chunk says why it stopped: Azure's annotation with ``filtered: true``.
        verdict = b',"content_filter_results":' + dumps(_choice_filter(meta, plan)) if meta.azure and plan.finish_reason == "content_filter" else b""
        stream.add(head + b'{"index":%d,"delta":{},"logprobs":null,"finish_reason":"%s"%s}]}\n\n'
                   % (plan.index, plan.finish_reason.encode(), verdict), False)
    if include_usage:
        completion_tokens = sum(p.completion_tokens for p in plans)
        stream.add(_chunk_head(b"chat.completion.chunk", meta, False) + b',"choices":[],"usage":'
                   + _USAGE % (prompt_tokens, completion_tokens, prompt_tokens + completion_tokens) + b"}\n\n", False)
    stream.add(DONE_EVENT, False)
    return stream


def _expanded(delta) -> list[bytes]:
    """One event, or the events of a run (before, strings, after)."""
    if type(delta) is bytes:
        return [delta]
    before, strings, after = delta
    return [before + string + after for string in strings]


_SAFE_SUFFIX = b',"content_filter_results":' + dumps(content_filter.SAFE_COMPLETION)
_TAIL = b"]}\n\n"  # closes a chunk's choices, the chunk and the event
# Generated prose repeats a few hundred one-token pieces: their JSON strings are made once.
_PROSE_JSON = {piece: dumps(piece) for word in textgen.PROSE_WORDS for piece in (word, " " + word, ".")}


def _choice_deltas(plan: ChoicePlan, meta: Meta, head: bytes) -> list:
    """The events of one plan's per-token deltas (``head`` in front of each): role first, then content or
    tool-call arguments. Plain content comes as one run, ``(before, JSON strings, after)``."""
    index = plan.index
    if plan.legacy_function:
        call = plan.tool_calls[0]
        first = {"index": index, "delta": {"role": "assistant", "content": None, "refusal": None,
                                           "function_call": {"name": call.name, "arguments": ""}},
                 "logprobs": None, "finish_reason": None}
        return [head + dumps(first) + _TAIL] + [
            head + b'{"index":%d,"delta":{"function_call":{"arguments":%s}},"logprobs":null,"finish_reason":null}' % (index, dumps(p))
            + _TAIL for p in call.arguments_pieces
        ]
    if plan.tool_calls:
        call = plan.tool_calls[0]
        first = {"index": index, "delta": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}]},
            "logprobs": None, "finish_reason": None}
        return [head + dumps(first) + _TAIL] + [
            head + b'{"index":%d,"delta":{"tool_calls":[{"index":0,"function":{"arguments":%s}}]},"logprobs":null,"finish_reason":null}'
            % (index, dumps(p)) + _TAIL for p in call.arguments_pieces
        ]
    out = [head + b'{"index":%d,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}' % index
           + _TAIL]
    # Each content chunk carries the choice's annotation; the kept part of a filtered choice passed the filter.
    if not meta.azure:
        safe = b""
    elif plan.finish_reason == "content_filter" or plan.index not in (meta.choice_filters or {}):
        safe = _SAFE_SUFFIX
    else:
        safe = b',"content_filter_results":' + dumps(meta.choice_filters[plan.index])
    if plan.logprobs is None:
        # One event per token: the same bytes around each piece's JSON string.
        before = head + b'{"index":%d,"delta":{"content":' % index
        after = b'},"logprobs":null,"finish_reason":null' + safe + b"}" + _TAIL
        known = _PROSE_JSON.get
        out.append((before, [known(piece) or dumps(piece) for piece in plan.pieces], after))
        return out
    for i, piece in enumerate(plan.pieces):
        logprobs = {"content": [token_logprob_entry(piece, plan.logprobs[i], meta.top_logprobs, meta.seed + i)], "refusal": None}
        out.append(head + b'{"index":%d,"delta":{"content":%s},"logprobs":%s,"finish_reason":null%s}' % (index, dumps(piece), dumps(logprobs), safe)
                   + _TAIL)
    return out


def completion_json(plans: list[ChoicePlan], meta: Meta, prompt_tokens: int, echoes: list[str]) -> bytes:
    choices = []
    for plan, echo in zip(plans, echoes):
        choice: dict[str, Any] = {
            "index": plan.index,
            "text": echo + "".join(plan.pieces),
            "finish_reason": plan.finish_reason,
            "logprobs": _legacy_logprobs(plan, meta),
        }
        choices.append(dumps(choice)[:-1] + _choice_filter_json(meta, plan) + b"}")
    return _envelope(b"text_completion", plans, choices, meta, prompt_tokens)


def _legacy_logprobs(plan: ChoicePlan, meta: Meta) -> dict[str, Any] | None:
    if plan.logprobs is None:
        return None
    offsets, position = [], 0
    for piece in plan.pieces:
        offsets.append(position)
        position += len(piece)
    return {
        "tokens": list(plan.pieces),
        "token_logprobs": list(plan.logprobs),
        "top_logprobs": [
            {e["token"]: e["logprob"] for e in token_logprob_entry(p, lp, meta.top_logprobs, meta.seed + i)["top_logprobs"]}
            for i, (p, lp) in enumerate(zip(plan.pieces, plan.logprobs))
        ],
        "text_offset": offsets,
    }


def completion_stream(plans: list[ChoicePlan], meta: Meta, prompt_tokens: int, include_usage: bool, echoes: list[str]) -> Stream:
    head = {"id": meta.id, "object": "text_completion", "created": meta.created, "model": meta.model,
            "system_fingerprint": meta.system_fingerprint}
    if include_usage:
        head["usage"] = None
    events: list[tuple[bytes, bool]] = []
    per_choice = [[echo] + plan.pieces if echo else list(plan.pieces) for plan, echo in zip(plans, echoes)]
    for step in zip_longest(*per_choice):
        for plan, piece in zip(plans, step):
            if piece is not None:
                events.append((encode_event(dumps({**head, "choices": [{"index": plan.index, "text": piece, "logprobs": None, "finish_reason": None}]})), True))
    for plan in plans:
        choice = {"index": plan.index, "text": "", "logprobs": None, "finish_reason": plan.finish_reason}
        if meta.azure and plan.finish_reason == "content_filter":
            choice["content_filter_results"] = _choice_filter(meta, plan)
        events.append((encode_event(dumps({**head, "choices": [choice]})), False))
    if include_usage:
        events.append((encode_event(dumps({**head, "choices": [], "usage": usage(prompt_tokens, sum(p.completion_tokens for p in plans))})), False))
    events.append((DONE_EVENT, False))
    stream = Stream()
    for event, paced in events:
        stream.add(event, paced)
    return stream
