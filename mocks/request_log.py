"""The last requests the mock received, exactly as they arrived: for checking what a gateway forwards.

A gateway under test promises things about what reaches its backends — only canonical paths under the
API's base, never the client's subscription key, never a path outside what it routes. The only honest
way to check is at the backend, so the mock keeps the raw request line and headers of its last
``CAPACITY`` requests (every surface: model API, MCP, A2A, content safety and the admin API itself)
and ``GET /_mock/requests`` lists them, newest last. Requests carrying the admin token are marked
``admin`` so a checker can tell its own admin calls from anything a gateway let through.

Cheap on the hot path: a request costs one tuple appended to a bounded deque (the scope's own header
list is kept, not copied); the JSON view is built only when asked. Bodies are never kept.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

CAPACITY = 512
MAX_VALUE = 512  # characters of a header value or query string shown


class RequestLog:
    def __init__(self, admin_token: str, capacity: int = CAPACITY) -> None:
        self._entries: deque[tuple] = deque(maxlen=capacity)
        self._admin = f"Bearer {admin_token}".encode()

    def record(self, scope: dict) -> None:
        self._entries.append((time.time(), scope["method"], scope.get("raw_path") or scope["path"].encode("utf-8", "replace"),
                              scope["path"], scope["query_string"], scope["headers"]))

    def clear(self) -> None:
        self._entries.clear()

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        items = list(self._entries)[-limit:] if limit else list(self._entries)
        return [self._view(*item) for item in items]

    def _view(self, at: float, method: str, raw_path: bytes, path: str, query: bytes, headers: list) -> dict[str, Any]:
        shown = [(k.decode("latin-1"), v.decode("latin-1")[:MAX_VALUE]) for k, v in headers[:128]]
        return {"at": at, "method": method, "raw_path": bytes(raw_path).decode("latin-1")[:2048], "path": path[:2048],
                "query": query.decode("latin-1")[:MAX_VALUE], "headers": shown,
                "admin": any(k == b"authorization" and v == self._admin for k, v in headers)}
