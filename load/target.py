"""Where a load run's embedded target comes from, as far as ``aigw load`` needs to know.

The target itself — three mock regions and the gateway, with the example config arranged for the
scenarios (``/openai`` without the semantic cache, ``/cached/openai`` with it, an MCP API) and the mocks'
own TPM/RPM lifted so every 429 is the gateway's — is built by ``aigw.stack`` (``StackPlan(variant="load")``)
in a child process. ``load`` only receives its URLs (``EmbeddedFactory``), and computes the clock offset
that lets a per-minute token window roll over inside a short run (throttled clients then have something
to recover into); the scenarios are told the same offset.
"""

from __future__ import annotations

import time
from typing import Any, Callable, ContextManager

# clock offset → a context manager yielding the started target's endpoints (``gateway``, ``mocks``: region → URL,
# ``mcp_path``, ``cached_api_path``); ``aigw.stack.run.load_target`` makes one.
EmbeddedFactory = Callable[[float], ContextManager[Any]]


def clock_offset_for(roll_in_s: float, now: float | None = None, window_s: float = 60.0) -> float:
    """The offset (0 ≤ offset < window) that makes the gateway's next window boundary come ``roll_in_s`` from now."""
    now = time.time() if now is None else now
    return (window_s - roll_in_s - (now % window_s)) % window_s
