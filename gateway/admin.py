"""The gateway's admin API (an aigw extension; off unless ``admin.token`` is set in the config).

    POST /_aigw/reset     Authorization: Bearer <admin token>
        → 200 {"status": "reset"}: token and call counters, quotas and cached answers (the store), open
          circuit breakers and remembered failures (backends), semantic-cache vectors — all back to start.

Why: a test run (``aigw check``) must start each group of checks from a known state, not from the
throttled windows, tripped breakers and cached answers an earlier group left behind. Metrics are
counters and are never reset. Answers use API Management's error shape; the token is compared in
constant time. With several gateway replicas on a shared store, the store is cleared once for all of
them, while breakers live in each replica: reset every replica.
"""

from __future__ import annotations

import hmac

import orjson

from aigw.gateway.config import ADMIN_PATH_PREFIX, Admin
from aigw.gateway.context import Headers, Response, header_value
from aigw.gateway.errors import GatewayError
from aigw.gateway.services import Services

RESET_PATH = ADMIN_PATH_PREFIX + "reset"


class AdminApi:
    def __init__(self, admin: Admin, services: Services) -> None:
        self.expected = f"Bearer {admin.token}".encode()
        self.services = services

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(ADMIN_PATH_PREFIX)

    async def answer(self, method: str, path: str, headers: Headers) -> Response:
        if path != RESET_PATH:
            return GatewayError(404, f"Resource not found: the admin API has {RESET_PATH} only.").response()
        if method != "POST":
            error = GatewayError(405, f"Method {method} is not allowed on {RESET_PATH}; use POST.", {"Allow": "POST"})
            return error.response()
        given = (header_value(headers, "authorization") or "").encode("latin-1")
        if not hmac.compare_digest(given, self.expected):
            return GatewayError(401, "Access denied: the admin API needs Authorization: Bearer <admin token>.",
                                {"WWW-Authenticate": 'Bearer realm="aigw-admin"'}).response()
        await self.services.reset()
        return Response(200, [(b"content-type", b"application/json")], orjson.dumps({"status": "reset"}), source="gateway")
