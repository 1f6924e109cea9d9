"""Reading a chat completion stream as it arrives, for timing: first token, gaps, tokens/s.

Works on the raw geventhttpclient response behind Locust's FastHttpUser (``response._response``) but
imports neither, so the parsing is testable without gevent.
"""

from __future__ import annotations

import time

import orjson

BLOCK = 65536


def read_available(raw) -> bytes:
    """What the socket has now (at least one read): geventhttpclient's read(n) would wait for n bytes,
    which would make first-token times wrong by however long n bytes take to arrive."""
    if not raw._body_buffer and not raw.message_complete and raw._sock is not None:
        data = raw._sock.recv(BLOCK)
        raw.feed(data)
        if not data:
            return b""
    chunk = bytes(raw._body_buffer)
    del raw._body_buffer[:]
    return chunk


class StreamResult:
    """Read an SSE chat stream: when each content delta arrived, the usage, whether it ended with [DONE]."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.token_times: list[float] = []
        self.completion_tokens: int | None = None
        self.done = False
        self.error: str | None = None

    def consume(self, raw, deadline: float) -> None:
        buffer = b""
        while not self.done and time.perf_counter() < deadline:
            chunk = read_available(raw)
            if not chunk:
                if raw.message_complete or raw._sock is None:
                    break
                continue
            now = time.perf_counter()
            buffer += chunk
            *events_, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
            for event in events_:
                self._event(event, now)

    def _event(self, event: bytes, now: float) -> None:
        for line in event.split(b"\n"):
            if line.startswith(b"event: error") or line.startswith(b"event:error"):
                self.error = "the gateway sent event: error mid-stream"
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                self.done = True
                return
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                self.error = "a data line that is not JSON"
                continue
            if payload.get("usage"):
                self.completion_tokens = payload["usage"].get("completion_tokens")
            for choice in payload.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    self.token_times.append(now)

    @property
    def ttft_ms(self) -> float | None:
        return (self.token_times[0] - self.started) * 1000 if self.token_times else None

    @property
    def itl_ms(self) -> float | None:
        times = self.token_times
        return (times[-1] - times[0]) * 1000 / (len(times) - 1) if len(times) > 1 else None

    @property
    def tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else len(self.token_times)

    @property
    def tokens_per_s(self) -> float | None:
        times = self.token_times
        return self.tokens / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
