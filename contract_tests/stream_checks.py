"""Judging a streamed chat/completions answer, shared by the groups that receive streams.

The streaming group checks streams for their own sake; caching (a replayed hit must still be a valid
stream) and failover (a stream retried on another backend) need the same verdict. ``analyse_stream``
returns every problem as a sentence a vendor can act on, plus what the stream assembled to, so a
caller can compare it with the non-streamed answer.

The rules (OpenAI's, and Azure's additions, facts file §1): ``Content-Type: text/event-stream``; every
event is ``data: <JSON object>`` or the final ``data: [DONE]``; nothing after ``[DONE]`` and no cut-off
event; each chunk meets the chunk schema; every chunk of the answer has the same ``id``; a choice's
first delta carries ``role``, its last chunk the ``finish_reason``; with
``stream_options.include_usage`` exactly one chunk with empty ``choices`` and the ``usage`` comes last,
and every other chunk has ``usage`` null or absent; without it no chunk carries usage. Azure may open
with a prompt-filter preamble (empty ``choices``, ``prompt_filter_results``): allowed, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from aigw.protocol import sse
from aigw.protocol.spec import check

CHUNK_SCHEMAS = {"chat": "chat-completion-chunk", "completions": "completion-chunk"}


@dataclass
class Assembled:
    """What a stream said, per choice index, once its deltas are concatenated."""

    content: dict[int, str] = field(default_factory=dict)
    tool_arguments: dict[int, str] = field(default_factory=dict)
    finish_reason: dict[int, str | None] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    ids: set[str] = field(default_factory=set)


def analyse_stream(exchange, operation: str = "chat", include_usage: bool = False) -> tuple[list[str], Assembled]:
    """Problems with one buffered stream response (empty list = valid), and its assembled answer."""
    problems: list[str] = []
    assembled = Assembled()
    if exchange.status != 200:
        return [f"a streamed request got {exchange.status}, not 200: {exchange.body[:300]!r}"], assembled
    media = (exchange.header("content-type") or "").split(";")[0].strip().lower()
    if media != "text/event-stream":
        problems.append(f"Content-Type of a stream is {exchange.header('content-type')!r}, not text/event-stream")
    decoder = sse.SSEDecoder()
    try:
        decoder.feed(exchange.body)
    except ValueError as exc:
        return problems + [f"the event stream cannot be decoded: {exc}"], assembled
    if decoder.has_partial_event:
        problems.append("the stream ends in the middle of an event (no blank line after the last data)")
    events = decoder.events
    done_at = [i for i, e in enumerate(events) if e.data.strip() == sse.DONE]
    if not done_at:
        problems.append("the stream has no final `data: [DONE]` event")
    elif len(done_at) > 1 or done_at[0] != len(events) - 1:
        problems.append(f"`data: [DONE]` must be the last event, once (at {done_at} of {len(events)} events)")
    chunks: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        if event.event != "message":
            problems.append(f"event {index} has `event: {event.event}` ({event.data[:200]!r}): a stream of a successful "
                            "answer carries only data events")
            continue
        if event.data.strip() == sse.DONE:
            continue
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            problems.append(f"event {index} is neither JSON nor [DONE]: {event.data[:200]!r}")
            continue
        if not isinstance(chunk, dict):
            problems.append(f"event {index} is JSON but not an object: {event.data[:200]!r}")
            continue
        for issue in check(CHUNK_SCHEMAS[operation], chunk)[:2]:
            problems.append(f"chunk {index} does not match {CHUNK_SCHEMAS[operation]}.json: {issue.message[:300]}")
        chunks.append(chunk)
    problems += _chunk_sequence(chunks, operation, include_usage, assembled)
    return problems, assembled


def _is_preamble(chunk: dict[str, Any]) -> bool:
    return chunk.get("choices") == [] and "prompt_filter_results" in chunk and not chunk.get("usage")


def _chunk_sequence(chunks: list[dict[str, Any]], operation: str, include_usage: bool, out: Assembled) -> list[str]:
    problems: list[str] = []
    body = [c for c in chunks if not _is_preamble(c)]
    if not any(c.get("choices") for c in body):
        problems.append("the stream has no chunk with choices")
    out.ids = {c.get("id") for c in body if isinstance(c.get("id"), str)}
    if len(out.ids) > 1:
        problems.append(f"chunks of one answer carry different ids: {sorted(out.ids)[:4]}")
    usage_chunks = [i for i, c in enumerate(body) if c.get("usage") is not None]
    if include_usage:
        if len(usage_chunks) != 1:
            problems.append(f"stream_options.include_usage asks for exactly one usage chunk; got {len(usage_chunks)}")
        else:
            last = body[usage_chunks[0]]
            if usage_chunks[0] != len(body) - 1:
                problems.append("the usage chunk must be the last chunk before [DONE]")
            if last.get("choices") != []:
                problems.append(f"the usage chunk must have empty choices, has {len(last.get('choices') or [])}")
            out.usage = last.get("usage")
            problems += _usage_arithmetic(out.usage)
    elif usage_chunks:
        problems.append("the client did not ask for usage (stream_options.include_usage) but "
                        f"{len(usage_chunks)} chunk(s) carry a usage object")
    seen_finish: set[int] = set()
    for position, chunk in enumerate(body):
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or not isinstance(choice.get("index"), int):
                continue
            index = choice["index"]
            first = index not in out.content and index not in out.finish_reason
            if index in seen_finish:
                problems.append(f"choice {index} has chunks after its finish_reason chunk (chunk {position})")
            if operation == "chat":
                delta = choice.get("delta") or {}
                if first and delta.get("role") != "assistant":
                    problems.append(f"the first delta of choice {index} does not carry role 'assistant': {delta}")
                if isinstance(delta.get("content"), str):
                    out.content[index] = out.content.get(index, "") + delta["content"]
                for call in delta.get("tool_calls") or []:
                    arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                    if isinstance(arguments, str):
                        out.tool_arguments[index] = out.tool_arguments.get(index, "") + arguments
            elif isinstance(choice.get("text"), str):
                out.content[index] = out.content.get(index, "") + choice["text"]
            out.content.setdefault(index, "")
            out.finish_reason.setdefault(index, None)
            if choice.get("finish_reason") is not None:
                seen_finish.add(index)
                out.finish_reason[index] = choice["finish_reason"]
    missing = sorted(i for i, reason in out.finish_reason.items() if reason is None)
    if missing:
        problems.append(f"choice(s) {missing} never got a chunk with finish_reason")
    return problems


def _usage_arithmetic(usage: Any) -> list[str]:
    if not isinstance(usage, dict):
        return [f"usage is not an object: {usage!r}"]
    prompt, completion, total = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if not all(isinstance(v, int) for v in (prompt, completion, total)):
        return [f"usage counts must be integers: {usage}"]
    if prompt + completion != total:
        return [f"usage total_tokens {total} != prompt_tokens {prompt} + completion_tokens {completion}"]
    return []


def message_of(answer: dict[str, Any], operation: str = "chat") -> tuple[dict[int, str], dict[int, str | None]]:
    """Content and finish_reason per choice of a non-streamed answer, for comparing with a stream."""
    content, finish = {}, {}
    for choice in answer.get("choices") or []:
        index = choice.get("index", 0)
        if operation == "chat":
            content[index] = (choice.get("message") or {}).get("content") or ""
        else:
            content[index] = choice.get("text") or ""
        finish[index] = choice.get("finish_reason")
    return content, finish
