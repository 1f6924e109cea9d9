"""How deeply a parsed JSON value nests, found without recursion.

Why: orjson parses up to 1,024 levels but serialises only up to 254, and every service here serialises
what it parsed (request hashing, cassette keys, partition ids, the body re-sent upstream). A request
nested 253–1,022 levels deep therefore parsed fine and then failed as a 500 — and three such 500s
tripped every circuit breaker behind the gateway. Refusing depth above ``MAX_DEPTH`` with a 400 that
names where (``param``) keeps such input a client error everywhere. No real request comes close: the
deepest legitimate nesting is a JSON Schema in ``tools[].function.parameters`` or ``response_format``,
a few levels of ``properties`` deep.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 128
PARAM_PARTS = 4  # how much of the path to the too-deep place a ``param`` names


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """None when ``value`` nests at most ``limit`` containers deep; else where it goes deeper, in OpenAI's
    ``param`` style (``tools[0].function.parameters``: the first few steps of the path)."""
    stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
    while stack:
        current, depth, path = stack.pop()
        if depth > limit:
            return _param(path)
        if isinstance(current, dict):
            stack.extend((child, depth + 1, path + (key,) if len(path) < PARAM_PARTS else path)
                         for key, child in current.items() if isinstance(child, (dict, list)))
        elif isinstance(current, list):
            stack.extend((child, depth + 1, path + (index,) if len(path) < PARAM_PARTS else path)
                         for index, child in enumerate(current) if isinstance(child, (dict, list)))
    return None


def _param(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def message(param: str, limit: int = MAX_DEPTH) -> str:
    return f"The JSON body nests more than {limit} levels deep at '{param}'. Flatten it."
