"""Get a server process ready to serve: tokenizers built, start-up objects out of the GC's way.

Why: with CPython's defaults the garbage collector cost ~30 µs of a ~150 µs proxied request
(bench/gateway.py layout, 64 connections). 64 requests in flight keep more than 700 young objects
alive, so a generation-0 collection ran every ~17 requests, and each full collection walked every
start-up object (tokenizer tables, pydantic models, imported modules) for ~25 ms — a latency spike
each time. Request objects are freed by reference counting as soon as a request ends (measured: two
young collections in 38,000 requests at the threshold below), so a higher threshold only delays
collecting reference cycles — an error path's exception and traceback — by a few thousand
allocations. Used by the gateway and the mock alike.
"""

import gc

from aigw.protocol.server_limits import raise_fd_limit
from aigw.protocol.tokens import preload

GC_YOUNG_THRESHOLD = 10_000


def prepare_process() -> None:
    """Call once everything long-lived exists, right before serving."""
    raise_fd_limit()  # one descriptor per connection: take what the hard limit allows
    preload()  # the apps' lifespans preload too; this makes the tables part of what is frozen
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
