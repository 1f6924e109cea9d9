"""Cached answers on the wire: replay one as JSON or as a well-formed SSE stream, and assemble a stream.

A client that asked ``stream: true`` must get a stream from the cache too, whichever way the answer was
first produced. Answers are stored as the JSON body (a streamed answer is assembled into one), and a
stream is synthesised from it the way the backend frames one: a role chunk, content chunks, a finish
chunk, a usage chunk only when ``stream_options.include_usage`` asked for it, then ``[DONE]``.
"""

from __future__ import annotations

import re
from typing import Any, AsyncIterator

import orjson

from aigw.gateway.context import Response
from aigw.protocol.sse import DONE_EVENT, encode_event

JSON_HEADERS = [(b"content-type", b"application/json")]
STREAM_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
_PIECE = re.compile(r"\S+\s*|\s+")
WORDS_PER_CHUNK = 4


def replay(operation: str, body: bytes, stream: bool, include_usage: bool) -> Response:
    """The client's response for a cached answer (``source="cache"``: the backend is skipped)."""
    if not stream:
        return Response(200, list(JSON_HEADERS), body=body, source="cache")
    answer = orjson.loads(body)
    events = chat_events(answer, include_usage) if operation == "chat" else completion_events(answer, include_usage)
    return Response(200, list(STREAM_HEADERS), stream=_iterate(events), source="cache")


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def _pieces(text: str) -> list[str]:
    words = _PIECE.findall(text)
    return ["".join(words[i: i + WORDS_PER_CHUNK]) for i in range(0, len(words), WORDS_PER_CHUNK)]


def _head(answer: dict, object_name: str) -> dict[str, Any]:
    head = {"id": answer.get("id") or "cache", "object": object_name, "created": answer.get("created") or 0,
            "model": answer.get("model") or ""}
    if isinstance(answer.get("system_fingerprint"), str):
        head["system_fingerprint"] = answer["system_fingerprint"]
    return head


def chat_events(answer: dict, include_usage: bool) -> list[bytes]:
    head = _head(answer, "chat.completion.chunk")
    choice = answer["choices"][0]
    message = choice.get("message") or {}
    events = [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]
    if message.get("refusal"):
        events.append({"index": 0, "delta": {"refusal": message["refusal"]}, "logprobs": None, "finish_reason": None})
    for piece in _pieces(message.get("content") or ""):
        events.append({"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None})
    events.append({"index": 0, "delta": {}, "logprobs": None, "finish_reason": choice.get("finish_reason") or "stop"})
    return _frame(head, events, answer.get("usage"), include_usage)


def completion_events(answer: dict, include_usage: bool) -> list[bytes]:
    head = _head(answer, "text_completion")
    choice = answer["choices"][0]
    events = [{"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
              for piece in _pieces(choice.get("text") or "")]
    events.append({"index": 0, "text": "", "logprobs": None, "finish_reason": choice.get("finish_reason") or "stop"})
    return _frame(head, events, answer.get("usage"), include_usage)


def _frame(head: dict, choices: list[dict], usage: Any, include_usage: bool) -> list[bytes]:
    if include_usage:
        head = {**head, "usage": None}
    out = [encode_event(orjson.dumps({**head, "choices": [choice]})) for choice in choices]
    if include_usage:
        out.append(encode_event(orjson.dumps({**head, "choices": [], "usage": usage})))
    out.append(DONE_EVENT)
    return out


class StreamAssembler:
    """Collects a streamed answer's chunks (as ``ctx.stream_observers`` sees them) into one JSON body.

    Only single-choice text answers are assembled; anything else (tool calls, several choices, a
    content-filtered finish) leaves ``body()`` None so it is not cached.
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.head: dict[str, Any] = {}
        self.parts: list[str] = []
        self.refusal: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.cacheable = True

    def observe(self, _ctx, event: dict) -> None:
        if not isinstance(event, dict):
            return
        if not self.head and event.get("id"):
            self.head = {k: event[k] for k in ("id", "created", "model", "system_fingerprint") if event.get(k) is not None}
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                self.cacheable = False
                continue
            if self.operation == "chat":
                delta = choice.get("delta") or {}
                if delta.get("tool_calls") or delta.get("function_call"):
                    self.cacheable = False
                if isinstance(delta.get("content"), str):
                    self.parts.append(delta["content"])
                if isinstance(delta.get("refusal"), str):
                    self.refusal.append(delta["refusal"])
            elif isinstance(choice.get("text"), str):
                self.parts.append(choice["text"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def body(self, usage: dict) -> bytes | None:
        """The assembled JSON answer, or None when the stream did not finish cleanly or is not cacheable."""
        if not self.cacheable or self.finish_reason not in ("stop", "length") or not self.head:
            return None
        text = "".join(self.parts)
        if self.operation == "chat":
            message = {"role": "assistant", "content": text, "refusal": "".join(self.refusal) or None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}
            answer = {**self.head, "object": "chat.completion", "choices": [choice], "usage": self.usage or usage}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": self.finish_reason}
            answer = {**self.head, "object": "text_completion", "choices": [choice], "usage": self.usage or usage}
        return orjson.dumps(answer)

    @property
    def text(self) -> str:
        return "".join(self.parts)
