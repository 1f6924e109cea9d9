"""The per-request context every policy reads and writes, like APIM's ``context`` object."""

import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable
from urllib.parse import parse_qs

import orjson

Headers = list[tuple[bytes, bytes]]


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive) in raw ASGI headers."""
    wanted = name.lower().encode()
    for key, value in headers:
        if key == wanted:
            return value.decode("latin-1")
    return None


@dataclass
class Request:
    method: str
    path: str  # full path as received
    suffix: str  # path after the API's prefix
    query_string: bytes
    headers: Headers
    body: bytes
    client_ip: str  # the peer, or the client a trusted proxy forwarded for (aigw.gateway.client_address)
    via_trusted_proxy: bool = False  # X-Forwarded-Proto/-Host may be believed
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)
    _query: dict[str, list[str]] | None = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def query(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (parsed once per request, as ``parse_qs`` does)."""
        if self._query is None:
            self._query = parse_query(self.query_string)
        values = self._query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (parsed once)."""
        if not self._parsed:
            self._parsed = True
            try:
                self._json = orjson.loads(self.body) if self.body else None
            except orjson.JSONDecodeError:
                self._json = None
        return self._json

    def replace_json(self, value: Any) -> None:
        """Change the body sent upstream (e.g. to add stream_options.include_usage)."""
        self._json, self._parsed = value, True
        self.body = orjson.dumps(value)


def parse_query(raw: bytes) -> dict[str, list[str]]:
    """``urllib.parse.parse_qs`` of the query string, without its cost in the common case: with no
    ``%`` escape and no ``+`` there is nothing to unquote, so splitting gives the same answer (blank
    values and names without ``=`` dropped, like ``parse_qs``)."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qs(text)
    params: dict[str, list[str]] = {}
    for part in text.split("&"):
        name, equals, value = part.partition("=")
        if equals and value:
            params.setdefault(name, []).append(value)
    return params


@dataclass
class Response:
    status: int
    headers: Headers
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    source: str = "backend"  # backend | gateway | cache

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def set_header(self, name: str, value: str) -> None:
        key = name.lower().encode()
        self.headers = [(k, v) for k, v in self.headers if k != key] + [(key, value.encode("latin-1"))]

    def json(self) -> Any:
        if self.body is None:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def is_stream(self) -> bool:
        return self.stream is not None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Context:
    request_id: str
    request: Request
    api: Any  # config.Api
    operation: str | None  # chat | completions | embeddings | models | mcp | a2a | None
    deployment: str | None = None
    subscription: Any = None  # config.Subscription
    product: Any = None  # config.Product
    variables: dict[str, Any] = field(default_factory=dict)
    response: Response | None = None
    backend_id: str | None = None  # set-backend-service or the API default
    served_by: str | None = None  # the concrete backend that answered
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)
    usage: Usage | None = None  # from the response body or the stream
    extra_headers: Headers = field(default_factory=list)  # added to the client response
    # Called with (ctx) once the response (or stream) has been fully delivered.
    on_complete: list[Callable[["Context"], Any]] = field(default_factory=list)
    # Awaited with (ctx) once ctx.response holds the backend's (or a cache's) answer and, for a buffered
    # answer, ctx.usage is filled; before the outbound section. Lets inbound policies (token limits)
    # reconcile and set response headers and variables. Hooks must not raise.
    on_response: list[Callable[["Context"], Any]] = field(default_factory=list)
    # Called with (ctx, event_json) for every SSE data event of a streamed response.
    stream_observers: list[Callable[["Context", dict], None]] = field(default_factory=list)
    strip_usage_chunk: bool = False  # the client did not ask for include_usage; we injected it
    error: BaseException | None = None

    @property
    def is_streaming_request(self) -> bool:
        body = self.request.json()
        return isinstance(body, dict) and body.get("stream") is True
