"""MCP and A2A APIs: passthrough with the gateway's own subscription keys and call limits.

What the gateway does to this traffic, and only this:

- **MCP** (streamable HTTP): every request, header and answer passes untouched — ``Mcp-Session-Id`` and
  ``MCP-Protocol-Version`` both ways, JSON or SSE answers, 202 for notifications, the long-lived GET
  stream and DELETE. The forwarder relays event streams without waiting for a first byte and bounds
  their silence by the API's ``stream-idle-timeout`` (none on GET streams by default).
- **A2A** (JSON-RPC and HTTP+JSON bindings; gRPC is not carried — HTTP/2 with trailers — so a card's
  gRPC interfaces are dropped): the agent card (``…/.well-known/agent-card.json``, and the result of
  ``GetExtendedAgentCard`` / ``GET …/extendedAgentCard``) is rewritten so every URL clients call is the
  gateway's and its security names the subscription key; cards are readable without a key
  (discovery), a key sent is checked. Cards are the *only* A2A traffic rewritten: everything that
  carries a webhook — push-notification configs (URL, token, credentials) in requests and answers of
  either binding — passes byte for byte, and the agent calls the webhook itself, not through the gateway.
- **Call limits**: ``rate-limit-by-key`` / ``quota-by-key`` count each MCP POST (one JSON-RPC message:
  a request, a notification or a response) and each A2A operation (a JSON-RPC POST, or any HTTP+JSON
  request); opening or resuming an MCP stream (GET), ending a session (DELETE) and reading an agent
  card are not counted. The ``llm-*`` policies do not apply.
- **Errors** the gateway itself answers (401, 403, 429, 413, 502, 503, 504) keep their status and
  headers (``Retry-After``, ``WWW-Authenticate``) but carry a JSON-RPC error object, with API
  Management's ``{"statusCode", "message"}`` as its ``data``: the official MCP SDK surfaces a JSON-RPC
  error body verbatim (it has only a generic message otherwise). Agent-card reads and the HTTP+JSON
  binding, whose clients read the HTTP status, keep APIM's body.
"""

import logging
from typing import Any, Callable

import orjson

from aigw.gateway.config import Api, GatewayConfig
from aigw.gateway.context import Context, Request, Response
from aigw.protocol import a2a_rest, jsonrpc
from aigw.protocol.errors import apim_error
from aigw.protocol.sse import encode_error_event

log = logging.getLogger("aigw.gateway")
PASSTHROUGH_KINDS = frozenset({"mcp", "a2a"})
CARD_SUFFIX = "/.well-known/agent-card.json"
EXTENDED_CARD_METHODS = frozenset({"GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard"})
APIM_KEY_HEADER = "Ocp-Apim-Subscription-Key"
_STALE_AFTER_REWRITE = (b"etag", b"content-md5", b"digest")


def is_passthrough(api: Any) -> bool:
    return getattr(api, "kind", None) in PASSTHROUGH_KINDS


def is_card_read(api: Api, method: str, path: str) -> bool:
    return api.kind == "a2a" and method in ("GET", "HEAD") and path.endswith(CARD_SUFFIX)


def is_rest_call(api: Api, path: str) -> bool:
    """An A2A request of the HTTP+JSON binding (``…/message:send``, ``…/tasks/{id}``, …)."""
    return api.kind == "a2a" and a2a_rest.is_rest_path(path)


def metered(ctx: Context) -> bool:
    """Whether call limits count this request: every LLM call; MCP POSTs; A2A operations (JSON-RPC POSTs
    and HTTP+JSON requests of any method), never an agent-card read."""
    request = ctx.request
    if ctx.operation not in PASSTHROUGH_KINDS:
        return True
    if ctx.api.kind == "a2a" and is_rest_call(ctx.api, request.path):
        return True
    return request.method == "POST"


def public_base(api: Api, request: Request, scheme: str) -> str:
    """The gateway's base URL as this client reached it; ``public-url`` wins over the headers.

    X-Forwarded-Proto/-Host count only from a trusted proxy (``security.trusted-proxies``): otherwise any
    caller could make the card send the next client elsewhere. Set ``public-url`` to be independent of both.
    """
    if api.public_url:
        return api.public_url
    trusted = request.via_trusted_proxy
    proto = (trusted and _first(request.header("x-forwarded-proto"))) or scheme or "http"
    host = (trusted and _first(request.header("x-forwarded-host"))) or request.header("host") or "localhost"
    return f"{proto}://{host}"


def _first(value: str | None) -> str | None:
    return value.split(",")[0].strip() or None if value else None


# --- A2A agent cards -----------------------------------------------------------------------------

class CardRewriter:
    """Maps the backend URLs an agent card names to the gateway's, for every A2A API of the config.

    A card URL under some A2A API's backend URL becomes that API's public URL plus the same rest
    (``http://agents:8081/a2a/assistant`` behind API ``/a2a`` → ``https://gw/a2a/assistant``); any other
    URL becomes the endpoint the card was fetched beside, so clients never bypass the gateway.
    """

    def __init__(self, config: GatewayConfig) -> None:
        routes = []
        for api in config.apis:
            if api.kind == "a2a":
                routes += [(_authority_path(url), api.path) for url in _backend_urls(config, api.backend)]
        self.routes = sorted(routes, key=lambda route: len(route[0]), reverse=True)

    def prepare(self, ctx: Context, scheme: str) -> None:
        """Register the rewrite on ``ctx`` when its answer will be a card (before outbound policies run)."""
        request = ctx.request
        if is_card_read(ctx.api, request.method, request.path):
            beside = request.path[: -len(CARD_SUFFIX)]
        elif request.method == "GET" and a2a_rest.is_extended_card_path(request.path):
            beside = request.path[: -len(a2a_rest.EXTENDED_CARD)]
        elif request.method == "POST" and not is_rest_call(ctx.api, request.path) and \
                _method(request) in EXTENDED_CARD_METHODS:
            beside = request.path
        else:
            return  # everything else, push-notification configs included, passes untouched
        base = public_base(ctx.api, request, scheme)

        async def rewrite(done: Context) -> None:
            try:
                self._rewrite_response(done, base, base + beside)
            except Exception:  # on-response hooks must not raise: the card then passes as the agent sent it
                log.exception("agent card rewrite failed for %s", done.request.path)

        ctx.on_response.append(rewrite)

    def _rewrite_response(self, ctx: Context, base: str, fallback: str) -> None:
        response = ctx.response
        if response is None or response.status != 200 or response.body is None:
            return
        payload = response.json()
        envelope = ctx.request.method == "POST"  # JSON-RPC's result; a GET (card, REST extended card) is the card
        card = payload.get("result") if envelope and isinstance(payload, dict) else payload
        if not isinstance(card, dict):
            return
        security = subscription_security(ctx.api) if ctx.api.subscription_required else None
        card = rewrite_card(card, lambda url: self.public_url(url, base, fallback), security)
        response.body = orjson.dumps({**payload, "result": card} if envelope else card)
        response.headers = [(k, v) for k, v in response.headers if k not in _STALE_AFTER_REWRITE]

    def public_url(self, url: str, base: str, fallback: str) -> str:
        where = _authority_path(url)
        for backend_url, api_path in self.routes:
            if where == backend_url or where.startswith(backend_url + "/"):
                return base + api_path + where[len(backend_url):]
        return fallback


def _authority_path(url: str) -> str:
    """``host:port/path`` of a URL: the scheme is left out of the match, since an agent behind a proxy
    may name itself https (from X-Forwarded-Proto) while the gateway reaches it over http."""
    return url.split("://", 1)[-1].rstrip("/")


def _backend_urls(config: GatewayConfig, backend_id: str) -> list[str]:
    backend = config.backend(backend_id)
    if backend.url is not None:
        return [backend.url]
    return [config.backend(member.id).url for member in backend.pool.services]


def _method(request: Request) -> str | None:
    body = request.json()
    return body.get("method") if isinstance(body, dict) else None


CARRIED_BINDINGS = frozenset({"JSONRPC", "HTTP+JSON"})


def rewrite_card(card: dict, public: Callable[[str], str], security: dict | None) -> dict:
    """The card with the URLs of the bindings the gateway carries (v1.0: JSON-RPC and HTTP+JSON; v0.3:
    JSON-RPC, whose HTTP+JSON paths differ) made public, the others (gRPC) dropped, signatures dropped
    (they no longer match) and, when given, the gateway's security in place of the agent's (the gateway
    authenticates to the agent itself)."""
    card = dict(card)
    if isinstance(card.get("supportedInterfaces"), list):  # v1.0
        card["supportedInterfaces"] = [
            {**i, "url": public(i["url"])} for i in card["supportedInterfaces"]
            if isinstance(i, dict) and isinstance(i.get("url"), str)
            and str(i.get("protocolBinding", "JSONRPC")).upper() in CARRIED_BINDINGS]
    # v0.3: url + preferredTransport, more transports in additionalInterfaces
    additional = [i for i in card.get("additionalInterfaces") or () if isinstance(i, dict)
                  and isinstance(i.get("url"), str) and str(i.get("transport", "")).upper() == "JSONRPC"]
    if isinstance(card.get("url"), str):
        preferred = str(card.get("preferredTransport") or "JSONRPC").upper()
        url = card["url"] if preferred == "JSONRPC" else (additional[0]["url"] if additional else card["url"])
        card["url"] = public(url)
        if "preferredTransport" in card:
            card["preferredTransport"] = "JSONRPC"
    if "additionalInterfaces" in card:
        card["additionalInterfaces"] = [{**i, "url": public(i["url"])} for i in additional]
    card.pop("signatures", None)
    if security is not None:
        card.pop("security", None)
        card.pop("securityRequirements", None)
        card.update(security)
    return card


def subscription_security(api: Api) -> dict:
    """The gateway's credential in both card generations: v1.0 (``securitySchemes`` of
    ``apiKeySecurityScheme`` + ``securityRequirements``) and v0.3 (``type: apiKey`` + ``security``),
    merged per scheme as the official SDK's server does. Either header is accepted: two alternatives."""
    headers = {"subscriptionKey": api.subscription_key_header}
    if api.subscription_key_header.lower() != APIM_KEY_HEADER.lower():
        headers["apimSubscriptionKey"] = APIM_KEY_HEADER
    description = "An API Management subscription key of this gateway"
    schemes = {name: {"apiKeySecurityScheme": {"location": "header", "name": header, "description": description},
                      "type": "apiKey", "in": "header", "name": header, "description": description}
               for name, header in headers.items()}
    return {"securitySchemes": schemes,
            "securityRequirements": [{"schemes": {name: {"list": []}}} for name in headers],
            "security": [{name: []} for name in headers]}


# --- errors in the protocol's own shape ----------------------------------------------------------

def wants_jsonrpc_errors(api: Api, method: str, path: str) -> bool:
    return api.kind == "mcp" or (api.kind == "a2a" and not is_card_read(api, method, path)
                                 and not is_rest_call(api, path))


def jsonrpc_error(response: Response, request: Request | None = None) -> Response:
    """A gateway-generated APIM error as a JSON-RPC error object: same status and headers, the APIM
    body as ``error.data``, the request's id when it has one. Anything else is returned unchanged."""
    apim = response.json()
    if not (isinstance(apim, dict) and "statusCode" in apim and "message" in apim and "jsonrpc" not in apim):
        return response
    body = orjson.dumps(jsonrpc_error_body(response.status, apim, request))
    return Response(response.status, response.headers, body, source=response.source)


def jsonrpc_error_body(status: int, apim: dict, request: Request | None) -> dict:
    body = request.json() if request is not None and request.method == "POST" else None
    rpc_id = body.get("id") if isinstance(body, dict) else None
    if isinstance(rpc_id, bool) or not isinstance(rpc_id, (str, int)):
        rpc_id = None
    code = jsonrpc.INTERNAL_ERROR if status >= 500 else jsonrpc.INVALID_REQUEST
    return jsonrpc.error(rpc_id, code, str(apim["message"]), apim)


def refuse_in_kind(error: Any, api: Api, request: Request) -> None:
    """Give a GatewayError raised before the pipeline (401) the JSON-RPC body an MCP/A2A client expects."""
    if error.body is None and wants_jsonrpc_errors(api, request.method, request.path):
        error.body = jsonrpc_error_body(error.status, apim_error(error.status, error.message), request)


def stream_error_event(request: Request, detail: str) -> bytes:
    """The closing SSE event when an agent's or MCP server's stream breaks off mid-way: a JSON-RPC error
    for the request the stream answered, or for the HTTP+JSON binding an ``event: error`` with an
    AIP-193 status (an MCP GET stream answers none: it just ends, and the client reconnects with
    Last-Event-ID as the protocol intends)."""
    body = request.json() if request.method == "POST" else None
    if a2a_rest.is_rest_path(request.path) and not (isinstance(body, dict) and "jsonrpc" in body):
        _, status = a2a_rest.error_body("INTERNAL_ERROR", f"The upstream stream broke off: {detail}")
        return encode_error_event(orjson.dumps(status))
    if not (isinstance(body, dict) and "id" in body and "method" in body):
        return b""
    error = jsonrpc.error(body["id"], jsonrpc.INTERNAL_ERROR, f"The upstream stream broke off: {detail}")
    return b"event: message\ndata: " + orjson.dumps(error) + b"\n\n"
