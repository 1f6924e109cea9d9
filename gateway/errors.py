"""Errors the gateway itself answers with, in API Management's own body shape.

APIM's gateway-generated errors are ``{"statusCode": 429, "message": "..."}`` (facts file §2); a
policy raises GatewayError and the pipeline turns it into that response after the on-error section.
"""

from aigw.gateway.context import Response
from aigw.protocol.errors import apim_error

import orjson


class GatewayError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, reason: str | None = None,
                 body: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
        self.reason = reason or message
        self.body = body

    def response(self) -> Response:
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in self.headers.items()]
        body = self.body if self.body is not None else apim_error(self.status, self.message)
        return Response(self.status, headers, orjson.dumps(body), source="gateway")


class UpstreamError(Exception):
    """The backend could not be reached or broke off; ``reason`` feeds circuit-breaker errorReasons.

    ``detail`` may reach the client, so it names the backend by its id only — never its address, which
    the transport's own message (``internal``, for the gateway's log) carries."""

    def __init__(self, reason: str, detail: str, internal: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.internal = reason, detail, internal or detail
