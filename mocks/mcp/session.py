"""MCP sessions and their SSE streams.

A session is what ``initialize`` creates and ``Mcp-Session-Id`` names: the negotiated version, the
client's capabilities, its log level and subscriptions, the server→client requests awaiting an
answer, and its streams. Each stream keeps its events so a client that lost the connection resumes
with ``GET`` + ``Last-Event-ID`` (event ids are ``<stream>-<seq>``) and misses nothing.
Session ids come from a random stream seeded by (seed, server), so a replayed test sees the same ids.
"""

import asyncio
import random
from collections import OrderedDict
from typing import Any, AsyncIterator

import orjson

from aigw.mocks.clock import Clock

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
KEPT_STREAMS = 32  # finished streams kept per session for resumption


class Stream:
    """The events of one SSE stream (a POST's answer, or the session's GET stream)."""

    def __init__(self, number: int, related_id: Any = None) -> None:
        self.number = number
        self.related_id = related_id  # the request this stream answers (None for the GET stream)
        self.events: list[bytes] = []  # framed SSE events; index = seq
        self.finished = False
        self.retry_ms: int | None = None
        self._owner: object | None = None  # the connection currently writing this stream
        self._changed = asyncio.Event()

    def event_id(self, seq: int) -> str:
        return f"{self.number}-{seq}"

    def prime(self, retry_ms: int | None) -> None:
        """An event with an id and empty data first, so a client can resume from the very start (SEP-1699)."""
        retry = f"retry: {retry_ms}\n".encode() if retry_ms else b""
        self._append(b"id: " + self.event_id(len(self.events)).encode() + b"\n" + retry + b"data: \n\n")

    def push(self, message: dict[str, Any]) -> None:
        seq = len(self.events)
        self._append(b"id: " + self.event_id(seq).encode() + b"\nevent: message\ndata: " + orjson.dumps(message) + b"\n\n")

    def finish(self) -> None:
        self.finished = True
        self._wake()

    def cut(self, retry_ms: int) -> None:
        """End the current connection (not the stream): the client reconnects after ``retry_ms``."""
        self.retry_ms = retry_ms
        self._owner = None
        self._wake()

    def _append(self, event: bytes) -> None:
        self.events.append(event)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int) -> AsyncIterator[bytes]:
        """Events after seq ``after`` as they come, until the stream finishes or another reader takes over."""
        owner = object()
        self._owner = owner
        position = after + 1
        while True:
            while position < len(self.events):
                yield self.events[position]
                position += 1
            if self.finished or self._owner is not owner:
                if self._owner is not owner and self.retry_ms:
                    yield f"retry: {self.retry_ms}\n\n".encode()
                return
            await self._changed.wait()


class Session:
    def __init__(self, session_id: str, version: str, client: dict[str, Any], capabilities: dict[str, Any], now: float):
        self.id = session_id
        self.version = version
        self.client_info = client
        self.client_capabilities = capabilities
        self.log_level: str | None = None  # None: every level until the client sets one
        self.subscriptions: set[str] = set()
        self.initialized = False
        self.last_seen = now
        self.streams: OrderedDict[int, Stream] = OrderedDict()
        self.get_stream: Stream | None = None
        self.pending: dict[int, asyncio.Future] = {}  # server→client request id → answer
        self.tasks: dict[Any, asyncio.Task] = {}  # client request id → the task answering it
        self._next_stream = 0
        self._next_request = 0

    def new_stream(self, related_id: Any = None) -> Stream:
        self._next_stream += 1
        stream = Stream(self._next_stream, related_id)
        self.streams[stream.number] = stream
        while len(self.streams) > KEPT_STREAMS:
            oldest = next(iter(self.streams.values()))
            if not oldest.finished:
                break
            self.streams.popitem(last=False)
        return stream

    def find_event(self, last_event_id: str) -> tuple[Stream, int] | None:
        number, _, seq = last_event_id.partition("-")
        if not (number.isdigit() and seq.isdigit()):
            return None
        stream = self.streams.get(int(number))
        return (stream, int(seq)) if stream is not None and int(seq) < len(stream.events) else None

    def next_request_id(self) -> int:
        self._next_request += 1
        return self._next_request

    def wants_log(self, level: str) -> bool:
        return self.log_level is None or LOG_LEVELS.index(level) >= LOG_LEVELS.index(self.log_level)

    def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for future in self.pending.values():
            if not future.done():
                future.cancel()
        for stream in self.streams.values():
            stream.finish()
        if self.get_stream is not None:
            self.get_stream.finish()


class SessionStore:
    """The sessions of one MCP server: seeded ids, idle expiry on the mock clock, a size cap (LRU)."""

    def __init__(self, seed: int, server: str, clock: Clock, ttl_s: float, limit: int) -> None:
        self._rng = random.Random(f"{seed}:mcp:{server}:sessions")
        self._clock, self._ttl, self._limit = clock, ttl_s, limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.created = 0

    def create(self, version: str, client: dict[str, Any], capabilities: dict[str, Any]) -> Session:
        session_id = "%032x" % self._rng.getrandbits(128)
        session = Session(session_id, version, client, capabilities, self._clock.monotonic())
        self._sessions[session_id] = session
        self.created += 1
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)[1].close()
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session, touched; None when unknown or idle past the TTL (it is then removed)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock.monotonic()
        if now - session.last_seen > self._ttl:
            self.remove(session_id)
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def remove(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()
        return session is not None

    def clear(self) -> int:
        count = len(self._sessions)
        for session_id in list(self._sessions):
            self.remove(session_id)
        return count

    def live(self) -> list[Session]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)
