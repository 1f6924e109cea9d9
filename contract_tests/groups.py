"""The suite's groups and the ``aigw`` marker that puts a test in one.

``@pytest.mark.aigw(group="streaming", needs=("streaming",))``: the plugin reports the test as "not
applicable" (a skip whose reason starts with ``not applicable:``) when the target does not declare a
capability in ``needs``, and adds a plain marker ``aigw_<group>`` so ``pytest -m aigw_streaming`` selects
a group with pytest's own tools. ``judges=(429, 503)`` says a test handles throttled answers itself
(default: what its group judges, ``JUDGED_STATUSES``); see ``state`` for what happens to the others.
"""

from __future__ import annotations

from typing import Iterable

GROUPS = ("schema", "streaming", "rate_limits", "caching", "failover", "safety", "auth", "metrics", "mcp", "a2a",
          "robustness", "security")

DESCRIPTIONS = {
    "schema": "Schemathesis over specs/openapi.yaml plus usage/id/object/finish_reason checks",
    "streaming": "SSE framing, chunk schema, role/finish/usage chunks, consistent deltas",
    "rate_limits": "429 when a declared limit is exceeded, honest Retry-After, remaining headers",
    "caching": "semantic cache hits, misses and isolation between keys",
    "failover": "backend outages behind the target are invisible or end in 503 + Retry-After",
    "safety": "content-safety verdicts end in 403",
    "auth": "missing or invalid keys end in 401",
    "metrics": "the metrics endpoint counts the tokens the client saw",
    "mcp": "MCP initialize/session rules and JSON-RPC errors",
    "a2a": "A2A agent card and message framing",
    "robustness": "malformed JSON, huge bodies, wrong content types, unknown paths: clear 4xx, never 5xx",
    "security": "path traversal and encodings, keys upstream, limit bypass, header floods, slow headers, deep JSON",
}

NOT_APPLICABLE = "not applicable"
MARKER = "aigw"

# Groups whose checks send model traffic and must not start throttled (see ``state``); rate_limits waits for
# its windows itself, auth/mcp/a2a do not depend on the model API.
SETTLED_GROUPS = frozenset({"schema", "streaming", "caching", "failover", "safety", "metrics", "robustness"})
BULK_GROUPS = frozenset({"schema", "robustness"})  # they send with --fuzz-key (an unthrottled key) when given
# The statuses a group's rules are about: a check failing on any other 429/503 is not judged on it.
JUDGED_STATUSES = {"rate_limits": frozenset({429}), "failover": frozenset({503})}


def group_marker(group: str) -> str:
    """The plain per-group marker name (``aigw_streaming``)."""
    return f"{MARKER}_{group}"


def parse_groups(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"schema,streaming"`` (or repeated values) → validated names; a typo is a clear error."""
    if text is None:
        return ()
    items = [text] if isinstance(text, str) else list(text)
    names = [part.strip().replace("-", "_") for item in items for part in item.split(",") if part.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"groups are: {', '.join(GROUPS)}")
    return tuple(dict.fromkeys(names))


def selected(group: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    return (not include or group in include) and group not in exclude


def not_applicable_reason(capability: str) -> str:
    if capability == "mock_admin":
        return f"{NOT_APPLICABLE}: no mock admin given (--mock-admin URL) to inject faults behind the target"
    return f"{NOT_APPLICABLE}: target does not declare {capability}"
