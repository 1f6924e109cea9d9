"""``aigw mock --replay CASSETTE``: serve recorded exchanges back, byte for byte.

A request is matched on its canonical key (``cassette.Rules.key``: method, path, sorted query,
body with sorted keys minus ignored and redacted fields). Several recordings of one key are served
in recorded order, the last one repeating, so a conversation recorded turn by turn replays the same.
A streamed response is replayed chunk by chunk at the times recorded — divided by ``speed``, or all
at once with no timing — measured from the request's arrival so sleeps never accumulate drift.

A miss is never a 500: either a 404 whose OpenAI-shaped body names the request key and the nearest
recorded key (and the fields that differ), or, with ``on_miss="generate"``, the normal mock answers.
"""

import asyncio
import difflib
import time
from typing import Any, Callable

import orjson

from aigw.mocks.asgi import declared_length, BodyTooLarge, ClientGone, read_body, send_bytes, send_json, sleep_or_gone, watch_disconnect
from aigw.mocks.cassette import Cassette, CassetteOptions, Exchange, Rules, load
from aigw.protocol import errors

REPLAY_HEADER = b"x-aigw-replay"
# Framing headers the server computes itself; a hand-edited cassette must not duplicate them.
NOT_REPLAYED = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding", "date", "server"})
SHOWN_KEY_CHARS = 600


class Replayer:
    def __init__(self, cassette: Cassette, fallback: Callable, rules: Rules = Rules(), on_miss: str = "error",
                 speed: float | None = 1.0, max_body_bytes: int = 64 * 1024 * 1024) -> None:
        if on_miss not in ("error", "generate"):
            raise ValueError(f"on_miss must be 'error' or 'generate', got {on_miss!r}")
        if speed is not None and speed <= 0:
            raise ValueError(f"the replay speed must be above 0, got {speed}")
        self.cassette = cassette
        self.fallback = fallback
        self.rules = cassette.rules.merged(rules)
        self.on_miss = on_miss
        self.speed = speed
        self.max_body_bytes = max_body_bytes
        self.index: dict[str, list[Exchange]] = {}
        for exchange in cassette.exchanges:
            request = exchange.request
            key = self.rules.key(request.method, request.path, request.query, request.parsed())
            self.index.setdefault(key, []).append(exchange)
        self._served: dict[str, int] = {}

    @classmethod
    def open(cls, options: CassetteOptions, fallback: Callable, max_body_bytes: int) -> "Replayer":
        return cls(load(options.replay), fallback, options.rules, options.on_miss, options.speed, max_body_bytes)

    @property
    def warnings(self) -> list[str]:
        return self.cassette.warnings

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.fallback(scope, receive, send)
        try:
            body = await read_body(receive, self.max_body_bytes, declared_length(scope))
        except BodyTooLarge:
            return await send_json(send, 413, errors.error_body(
                f"Request body too large: the limit is {self.max_body_bytes} bytes.", code="413", type=errors.INVALID_REQUEST), [])
        except ClientGone:
            return
        key = self.rules.key(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), body)
        exchange = self.next_for(key)
        if exchange is not None:
            return await self.play(exchange, receive, send)
        if self.on_miss == "generate" or scope["path"].startswith("/_mock"):
            return await self.fallback(scope, _body_again(body, receive), _marked(send, b"generated"))
        await send_json(send, 404, self.miss_body(key), [(REPLAY_HEADER, b"miss")])

    def next_for(self, key: str) -> Exchange | None:
        recorded = self.index.get(key)
        if not recorded:
            return None
        served = self._served.get(key, 0)
        self._served[key] = served + 1
        return recorded[min(served, len(recorded) - 1)]

    def nearest(self, key: str) -> tuple[str, float] | None:
        """The recorded key most similar to ``key`` (difflib ratio), pruned by the cheap upper bounds."""
        best: tuple[str, float] | None = None
        for candidate in self.index:
            matcher = difflib.SequenceMatcher(None, key, candidate, autojunk=False)
            floor = best[1] if best else -1.0
            if matcher.real_quick_ratio() <= floor or matcher.quick_ratio() <= floor:
                continue
            ratio = matcher.ratio()
            if ratio > floor:
                best = (candidate, ratio)
        return best

    def miss_body(self, key: str) -> dict[str, Any]:
        message = f"No exchange recorded in {self.cassette.path} matches this request. Request key: {_shown(key)}."
        nearest = self.nearest(key)
        if nearest is None:
            message += " The cassette holds no exchanges."
        else:
            candidate, ratio = nearest
            differing = _differences(key, candidate)
            message += (f" Nearest recorded key (similarity {ratio:.2f}"
                        f"{', differs in: ' + ', '.join(differing) if differing else ''}): {_shown(candidate)}.")
        message += " Re-record, ignore fields that vary with --ignore-field, or answer misses with --on-miss generate."
        return errors.error_body(message, code="cassette_miss", type=errors.INVALID_REQUEST)

    async def play(self, exchange: Exchange, receive: Callable, send: Callable) -> None:
        response = exchange.response
        headers = {k: v for k, v in response.headers.items() if k.lower() not in NOT_REPLAYED}
        content_type = headers.pop("content-type", None)
        marker = [(REPLAY_HEADER, f"{exchange.id}".encode())]
        started = time.monotonic()
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(watch_disconnect(receive, gone)) if self.speed is not None else None
        try:
            await self._until(response.ms, started, gone)
            if response.chunks is None:
                return await send_bytes(send, response.status, response.raw(), _asgi(headers) + marker,
                                        (content_type or "application/octet-stream").encode("latin-1", "replace"))
            start_headers = ([(b"content-type", content_type.encode("latin-1", "replace"))] if content_type else [])
            await send({"type": "http.response.start", "status": response.status,
                        "headers": start_headers + _asgi(headers) + marker})
            for chunk in response.chunks:
                await self._until(chunk.ms, started, gone)
                await send({"type": "http.response.body", "body": chunk.raw(), "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except ClientGone:
            return
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _until(self, recorded_ms: float, started: float, gone: asyncio.Event) -> None:
        """Wait until ``recorded_ms`` (scaled by speed) after the request arrived; at once without timing."""
        if self.speed is None:
            return
        delay = recorded_ms / 1000 / self.speed - (time.monotonic() - started)
        if gone.is_set():
            raise ClientGone
        if delay > 0:
            await sleep_or_gone(delay, gone)


def _differences(key: str, other: str) -> list[str]:
    """Which parts differ: method, path/query, or the top-level body fields."""
    mine, theirs = key.split(" ", 2), other.split(" ", 2)
    mine += [""] * (3 - len(mine))
    theirs += [""] * (3 - len(theirs))
    found = []
    if mine[0] != theirs[0]:
        found.append("method")
    path, _, query = mine[1].partition("?")
    other_path, _, other_query = theirs[1].partition("?")
    if path != other_path:
        found.append("path")
    if query != other_query:
        found.append("query")
    if mine[2] != theirs[2]:
        a, b = _json_or_none(mine[2]), _json_or_none(theirs[2])
        if isinstance(a, dict) and isinstance(b, dict):
            found += sorted(name for name in a.keys() | b.keys() if a.get(name, _ABSENT) != b.get(name, _ABSENT))
        else:
            found.append("body")
    return found


_ABSENT = object()


def _json_or_none(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _shown(key: str) -> str:
    return key if len(key) <= SHOWN_KEY_CHARS else key[:SHOWN_KEY_CHARS] + f"… ({len(key)} characters)"


def _asgi(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in headers.items()]


def _body_again(body: bytes, receive: Callable) -> Callable:
    """A ``receive`` that hands the already-read body to the fallback app, then defers to the real one."""
    delivered = False

    async def replay() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _marked(send: Callable, value: bytes) -> Callable:
    async def marking(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": list(message.get("headers", [])) + [(REPLAY_HEADER, value)]}
        await send(message)

    return marking
