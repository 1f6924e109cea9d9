"""Defects of the model API itself (the mock behind the middleware): single answers, streams, rate-limit
headers, answers to bad input."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator

import orjson

from aigw.protocol import sse
from broken.wire import MODEL_API, Defect, json_of, rewrite_chunks, rewrite_json, rewrite_stream


# -- schema: single JSON answers ------------------------------------------------------------------------


class UsageTotalOffByOne(Defect):
    """usage.total_tokens is prompt + completion + 1."""

    def response(self, scope, body, wire):
        def change(value):
            if isinstance(value.get("usage"), dict) and isinstance(value["usage"].get("total_tokens"), int):
                value["usage"]["total_tokens"] += 1
        rewrite_json(wire, change)


class CompletionOverMaxTokens(Defect):
    """Reports more completion tokens than the request's max_tokens allows (total kept consistent)."""

    def response(self, scope, body, wire):
        request = json_of(body) or {}
        cap = request.get("max_completion_tokens", request.get("max_tokens")) if isinstance(request, dict) else None

        def change(value):
            usage = value.get("usage")
            if isinstance(cap, int) and not isinstance(cap, bool) and isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
                usage["completion_tokens"] = cap * max(len(value.get("choices") or []), 1) + 5
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        rewrite_json(wire, change)


class CreatedInMilliseconds(Defect):
    """``created`` in milliseconds (a JavaScript vendor's Date.now())."""

    def response(self, scope, body, wire):
        def change(value):
            if isinstance(value.get("created"), int):
                value["created"] *= 1000
        rewrite_json(wire, change)


class JsonServedAsTextPlain(Defect):
    """JSON answers labelled ``Content-Type: text/plain``."""

    def response(self, scope, body, wire):
        if wire.media == b"application/json":
            wire.set_header(b"content-type", b"text/plain; charset=utf-8")


class NoRequestId(Defect):
    """Answers without the ``apim-request-id`` header."""

    def response(self, scope, body, wire):
        wire.set_header(b"apim-request-id", None)


class UnknownFieldsIgnored(Defect):
    """No validation of unknown arguments: fields the API does not define are dropped, the request answered."""

    def request(self, scope, headers, body):
        from aigw.protocol.spec import load_schema

        value = json_of(body)
        if isinstance(value, dict) and scope["path"].endswith("/chat/completions"):
            known = set(load_schema("chat-completion-request")["properties"])
            body = orjson.dumps({k: v for k, v in value.items() if k in known})
        return headers, body


class ToolArgumentsNotJson(Defect):
    """Tool-call (and legacy function-call) arguments written with single quotes: not JSON."""

    def response(self, scope, body, wire):
        def change(value):
            for choice in value.get("choices") or []:
                message = (choice or {}).get("message") or {}
                calls = [c.get("function") or {} for c in message.get("tool_calls") or []] + [message.get("function_call") or {}]
                for function in calls:
                    if isinstance(function.get("arguments"), str):
                        function["arguments"] = function["arguments"].replace('"', "'")
        rewrite_json(wire, change)


class JsonModeFenced(Defect):
    """JSON mode answers wrapped in a Markdown code fence, as chatty models do."""

    def response(self, scope, body, wire):
        request = json_of(body)
        mode = (request.get("response_format") or {}).get("type") if isinstance(request, dict) and isinstance(
            request.get("response_format"), dict) else None

        def change(value):
            for choice in value.get("choices") or []:
                message = (choice or {}).get("message") or {}
                if isinstance(message.get("content"), str):
                    message["content"] = f"```json\n{message['content']}\n```"
        if mode in ("json_object", "json_schema"):
            rewrite_json(wire, change)


class OnlyOneChoice(Defect):
    """``n`` ignored: one choice, whatever was asked."""

    def response(self, scope, body, wire):
        def change(value):
            if isinstance(value.get("choices"), list) and value.get("object") == "chat.completion":
                value["choices"] = value["choices"][:1]
        rewrite_json(wire, change)


# -- streaming ------------------------------------------------------------------------------------------


class StreamWithoutDone(Defect):
    """The stream ends without ``data: [DONE]``."""

    def response(self, scope, body, wire):
        rewrite_stream(wire, lambda data: None if data.strip() == b"[DONE]" else data)


class DoneWithoutDataField(Defect):
    """The final event is a bare ``[DONE]`` line instead of ``data: [DONE]``."""

    def response(self, scope, body, wire):
        if wire.media == b"text/event-stream":
            wire.body = wire.body.replace(sse.DONE_EVENT, b"[DONE]\n\n")


class ChunkIdsChange(Defect):
    """Every chunk of one answer carries a different id."""

    def response(self, scope, body, wire):
        counter = itertools.count()

        def change(chunk):
            if isinstance(chunk.get("id"), str):
                chunk["id"] = f"{chunk['id']}{next(counter)}"
            return chunk
        rewrite_chunks(wire, change)


class NoRoleInFirstDelta(Defect):
    """Deltas never carry ``role``."""

    def response(self, scope, body, wire):
        def change(chunk):
            for choice in chunk.get("choices") or []:
                if isinstance(choice, dict) and isinstance(choice.get("delta"), dict):
                    choice["delta"].pop("role", None)
            return chunk
        rewrite_chunks(wire, change)


class UsageChunkDropped(Defect):
    """``stream_options.include_usage`` is ignored: the usage chunk never comes."""

    def response(self, scope, body, wire):
        rewrite_chunks(wire, lambda chunk: None if chunk.get("choices") == [] and chunk.get("usage") else chunk)


class UsageChunkUnasked(Defect):
    """A gateway bug: include_usage is injected upstream (to count tokens) and the extra chunk not stripped."""

    def request(self, scope, headers, body):
        value = json_of(body)
        if isinstance(value, dict) and value.get("stream") is True:
            value["stream_options"] = {**(value.get("stream_options") or {}), "include_usage": True}
            body = orjson.dumps(value)
        return headers, body


@dataclass
class SecondDeltaDropped(Defect):
    """Re-chunking loses a delta: each choice's second content fragment never reaches the client."""

    def response(self, scope, body, wire):
        seen: dict[int, int] = {}

        def change(chunk):
            for choice in chunk.get("choices") or []:
                delta = (choice or {}).get("delta") or {}
                if delta.get("content"):
                    seen[choice.get("index")] = seen.get(choice.get("index"), 0) + 1
                    if seen[choice.get("index")] == 2:
                        delta["content"] = ""
            return chunk
        rewrite_chunks(wire, change)


class StreamedToolArgumentsNotJson(Defect):
    """Streamed tool-call argument fragments use single quotes: they concatenate to no JSON."""

    def response(self, scope, body, wire):
        def change(chunk):
            for choice in chunk.get("choices") or []:
                for call in ((choice or {}).get("delta") or {}).get("tool_calls") or []:
                    function = call.get("function") or {}
                    if isinstance(function.get("arguments"), str):
                        function["arguments"] = function["arguments"].replace('"', "'")
            return chunk
        rewrite_chunks(wire, change)


# -- rate limits (the mock's windows on its virtual clock, through --mock-admin) ---------------------------


class RetryAfterMissing(Defect):
    """429 without Retry-After (and without retry-after-ms)."""

    def response(self, scope, body, wire):
        if wire.status == 429:
            wire.set_header(b"retry-after", None)
            wire.set_header(b"retry-after-ms", None)


class RetryAfterTooShort(Defect):
    """Every 429 says "retry after 1 s", whenever the window really ends: the retry is refused again."""

    def response(self, scope, body, wire):
        if wire.status == 429:
            wire.set_header(b"retry-after", b"1")
            wire.set_header(b"retry-after-ms", b"1000")


@dataclass
class RemainingTokensGrow(Defect):
    """x-ratelimit-remaining-tokens grows with every answer instead of shrinking with what was charged."""

    answers: Iterator[int] = field(default_factory=itertools.count)

    def response(self, scope, body, wire):
        value, limit = wire.header(b"x-ratelimit-remaining-tokens"), wire.header(b"x-ratelimit-limit-tokens")
        if wire.status == 200 and value and value.isdigit():
            grown = int(value) + 100 * (next(self.answers) + 1)
            wire.set_header(b"x-ratelimit-remaining-tokens", str(min(grown, int(limit or grown))).encode())


@dataclass
class SpuriousThrottling(Defect):
    """A burst limiter nobody declared: every third request into a window that already holds tokens is
    refused with 429 (and honest-looking headers), although the window has room for it."""

    requests: Iterator[int] = field(default_factory=itertools.count)

    def response(self, scope, body, wire):
        request = json_of(body)
        asked = request.get("max_tokens") if isinstance(request, dict) else None
        if isinstance(asked, int) and isinstance(request.get("n"), int):
            asked *= request["n"]  # the charge covers every choice
        limit, remaining = wire.header(b"x-ratelimit-limit-tokens"), wire.header(b"x-ratelimit-remaining-tokens")
        if wire.status != 200 or not isinstance(asked, int) or not (limit or b"").isdigit() or not (remaining or b"").isdigit():
            return
        charged_before = int(limit) - int(remaining) - asked - len(body) // 4 - 10  # this request's charge is at most that
        if charged_before > 0 and next(self.requests) % 3 == 2:
            wire.status = 429
            wire.body = orjson.dumps({"error": {"code": "429", "message": "Rate limit is exceeded. Try again in 1 seconds."}})
            wire.set_header(b"content-type", b"application/json")
            wire.set_header(b"retry-after", b"1")
            wire.set_header(b"retry-after-ms", b"1000")


# -- robustness -----------------------------------------------------------------------------------------


class ServerErrorOnBadJson(Defect):
    """A body that is not JSON crashes the handler: 500 with an HTML page."""

    def response(self, scope, body, wire):
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            wire.status, wire.body = 500, b"<html><h1>Internal Server Error</h1></html>"
            wire.set_header(b"content-type", b"text/html")


class ErrorBodyNotOpenAIShape(Defect):
    """4xx bodies in a framework's own shape (``{"detail": ...}``) instead of OpenAI's ``{"error": {...}}``."""

    def applies(self, scope):
        return True

    def response(self, scope, body, wire):
        value = json_of(wire.body)
        if 400 <= wire.status < 500 and isinstance(value, dict) and isinstance(value.get("error"), dict):
            wire.body = orjson.dumps({"detail": value["error"].get("message")})


class MethodNotAllowedWithoutAllow(Defect):
    """405 without the Allow header."""

    def applies(self, scope):
        return bool(MODEL_API.search(scope["path"]))

    def response(self, scope, body, wire):
        if wire.status == 405:
            wire.set_header(b"allow", None)


class ContentTypeIgnored(Defect):
    """Any Content-Type is read as JSON: a text/plain or XML-labelled body is answered 200, not 415."""

    def request(self, scope, headers, body):
        return [(k, v) for k, v in headers if k.lower() != b"content-type"] + [(b"content-type", b"application/json")], body
