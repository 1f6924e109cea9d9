"""Send an SSE stream, paced per token when a latency profile is active.

Without latency every event is written at once in a single body message: that is what a client
would see from a fast server, and it keeps the mock's streams/s high. With latency the first token
waits the time-to-first-token and each later token the inter-token latency — never one long sleep
up front. Injected faults apply here: a slow first byte, a connection reset in the middle.
"""

import asyncio
import random
from typing import Callable

from aigw.mocks.asgi import ClientGone, abort_connection, sleep_or_gone, watch_disconnect
from aigw.mocks.config import LatencyProfile
from aigw.mocks.faults import FaultPlan
from aigw.mocks.render import Stream

STREAM_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                  (b"x-accel-buffering", b"no")]


async def stream_events(
    send: Callable,
    receive: Callable,
    stream: Stream,
    extra: list[tuple[bytes, bytes]],
    profile: LatencyProfile | None,
    timing: random.Random,
    plan: FaultPlan,
) -> None:
    first_delay = plan.first_byte_delay_s
    if profile is not None:
        first_delay += timing.uniform(profile.ttft_ms.min, profile.ttft_ms.max) / 1000
    if profile is None and not first_delay and not plan.reset_mid_stream:  # the whole stream at once
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS + extra})
        await send({"type": "http.response.body", "body": stream.body()})
        return
    events = stream.events()
    gone = asyncio.Event()
    watcher = asyncio.ensure_future(watch_disconnect(receive, gone)) if profile is not None or first_delay else None
    try:
        if first_delay:
            await sleep_or_gone(first_delay, gone)
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS + extra})
        cut_at = _reset_point(events) if plan.reset_mid_stream else None
        if profile is None and cut_at is None:
            await send({"type": "http.response.body", "body": b"".join(event for event, _ in events)})
            return
        pending: list[bytes] = []
        paced_seen = 0
        for index, (event, paced) in enumerate(events):
            if index == cut_at:
                if pending:
                    await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                await asyncio.sleep(0)
                if not abort_connection(send):
                    raise ConnectionResetError("injected reset in the middle of a stream")
                return
            if paced and paced_seen and profile is not None:
                if pending:
                    await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                    pending = []
                await sleep_or_gone(timing.uniform(profile.inter_token_ms.min, profile.inter_token_ms.max) / 1000, gone)
            paced_seen += paced
            pending.append(event)
        await send({"type": "http.response.body", "body": b"".join(pending)})
    except ClientGone:
        return
    finally:
        if watcher is not None:
            watcher.cancel()


def _reset_point(events: list[tuple[bytes, bool]]) -> int:
    """Cut after about half of the token events: bytes were sent, the stream is unfinished."""
    paced = [i for i, (_, p) in enumerate(events) if p]
    return paced[len(paced) // 2] if paced else 1
