"""Defects of what sits around the model API: MCP and A2A (the mock's mounts), and the gateway's policies —
by rewriting its answers, or by leaving a policy out of the example config while still declaring it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from broken.wire import Defect, Wire, json_of, rewrite_stream

EMBEDDED_KEYS = ("tenant-a-key-0001", "tenant-b-key-0002")


# -- MCP and A2A ----------------------------------------------------------------------------------------


@dataclass
class McpSessionNotRequired(Defect):
    """Requests without Mcp-Session-Id are served in the last session issued, instead of 400."""

    session: bytes | None = None

    def applies(self, scope):
        return scope["method"] == "POST" and scope["path"].startswith("/mcp")

    def request(self, scope, headers, body):
        message = json_of(body)
        initialize = isinstance(message, dict) and message.get("method") == "initialize"
        if self.session and not initialize and not any(k.lower() == b"mcp-session-id" for k, _ in headers):
            headers = headers + [(b"mcp-session-id", self.session), (b"mcp-protocol-version", b"2025-06-18")]
        return headers, body

    def response(self, scope, body, wire):
        self.session = wire.header(b"mcp-session-id") or self.session


class JsonRpcErrorIdNotEchoed(Defect):
    """JSON-RPC error responses carry ``"id": null`` instead of the request's id."""

    def applies(self, scope):
        return scope["method"] == "POST" and scope["path"].startswith("/mcp")

    @staticmethod
    def _blank(message: Any) -> Any:
        if isinstance(message, dict) and "error" in message:
            message["id"] = None
        return message

    def response(self, scope, body, wire):
        if wire.media == b"text/event-stream":
            rewrite_stream(wire, lambda data: orjson.dumps(self._blank(json_of(data))) if json_of(data) is not None else data)
        elif isinstance(value := json_of(wire.body), (dict, list)):
            wire.body = orjson.dumps([self._blank(m) for m in value] if isinstance(value, list) else self._blank(value))


class AgentCardPointsAtBackend(Defect):
    """The agent card names the backend's internal address instead of the target's."""

    def applies(self, scope):
        return scope["method"] == "GET" and scope["path"].endswith("agent-card.json")

    def response(self, scope, body, wire):
        host = next((v for k, v in scope["headers"] if k == b"host"), b"")
        wire.body = wire.body.replace(b"http://" + host, b"http://10.20.30.40:8081")


# -- gateway defects ------------------------------------------------------------------------------------


def _api(config: dict, api_id: str) -> dict:
    return next(api for api in config["apis"] if api["id"] == api_id)


def _product(config: dict, product_id: str) -> dict:
    return next(product for product in config["products"] if product["id"] == product_id)


def _without(entries: list[dict], policy: str) -> list[dict]:
    return [entry for entry in entries if policy not in entry]


class CacheWithoutVaryBy(Defect):
    """The semantic cache is not partitioned by subscription: tenants share answers."""

    def applies(self, scope):
        return False

    def gateway_config(self, config):
        for entry in _api(config, "azure-openai")["policies"]["inbound"]:
            entry.get("llm-semantic-cache-lookup", {}).pop("vary-by", None)


class ExactMatchCache(Defect):
    """A "semantic" cache that only hits on the same words: its similarity threshold is practically zero."""

    def applies(self, scope):
        return False

    def gateway_config(self, config):
        for entry in _api(config, "azure-openai")["policies"]["inbound"]:
            if "llm-semantic-cache-lookup" in entry:
                entry["llm-semantic-cache-lookup"]["score-threshold"] = 0.000001


class NoRetryPolicy(Defect):
    """No retry policy: a request that meets a backend in outage fails instead of going to another."""

    def applies(self, scope):
        return False

    def gateway_config(self, config):
        policies = _api(config, "azure-openai")["policies"]
        policies["backend"] = _without(policies["backend"], "retry")


class AllDownWithoutRetryAfter(Defect):
    """503 without Retry-After when every backend is down."""

    def response(self, scope, body, wire):
        if wire.status == 503:
            wire.set_header(b"retry-after", None)


class MissingKeyAccepted(Defect):
    """Auth ignored for requests without a key: a proxy in front adds a default tenant's key."""

    def applies(self, scope):
        return scope["path"].startswith("/openai/")

    def request(self, scope, headers, body):
        if not any(k.lower() in (b"api-key", b"ocp-apim-subscription-key") for k, _ in headers):
            headers = headers + [(b"api-key", EMBEDDED_KEYS[0].encode())]
        return headers, body


class ContentSafetyNotEnforced(Defect):
    """Content safety declared but the policy is missing from the product: harmful prompts reach the model."""

    def applies(self, scope):
        return False

    def gateway_config(self, config):
        product = _product(config, "starter")["policies"]
        product["inbound"] = _without(product["inbound"], "llm-content-safety")


class TokenLimitNotEnforced(Defect):
    """A declared tokens-per-minute limit that is never enforced."""

    def applies(self, scope):
        return False

    def gateway_config(self, config):
        product = _product(config, "starter")["policies"]
        product["inbound"] = _without(product["inbound"], "llm-token-limit")


class MetricsDoublePromptTokens(Defect):
    """The metrics endpoint counts every prompt token twice."""

    def applies(self, scope):
        return scope["method"] == "GET" and scope["path"] == "/metrics"

    def response(self, scope, body, wire):
        lines = []
        for line in wire.body.decode().splitlines():
            if not line.startswith("#") and "prompt_tokens" in line:
                name, _, value = line.rpartition(" ")
                line = f"{name} {float(value) * 2}"
            lines.append(line)
        wire.body = ("\n".join(lines) + "\n").encode()


# -- security -------------------------------------------------------------------------------------------


class NormalisesAfterRouting(Defect):
    """A naive proxy in front: it routes on the path's prefix as written, then forwards the decoded path and
    lets the HTTP client normalise it — so ``/openai/../_mock/health`` reaches the backend's admin API."""

    upstream: str = ""

    def gateway_config(self, config):
        backend = next(b for b in config["backends"] if b["id"] == "aoai-eastus")
        self.upstream = backend["url"].removesuffix("/openai")

    def applies(self, scope):
        from aigw.gateway.paths import PathRefused, canonical_path

        raw = (scope.get("raw_path") or scope["path"].encode()).split(b"?")[0]
        try:
            return canonical_path(raw) != raw.decode()
        except PathRefused:
            return True

    async def handle(self, scope, body):
        import aiohttp
        from urllib.parse import unquote

        path = unquote((scope.get("raw_path") or scope["path"].encode()).decode("latin-1")).replace("\\", "/")
        if not path.startswith(("/openai/", "/mcp/", "/a2a/")):
            return Wire(404, [(b"content-type", b"application/json")], b'{"statusCode":404,"message":"Resource not found"}')
        query = scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k.lower() not in (b"host", b"content-length", b"api-key", b"ocp-apim-subscription-key")}
        headers["api-key"] = "mock-key"
        async with aiohttp.ClientSession() as session:  # yarl resolves the dot segments: after routing
            async with session.request(scope["method"], f"{self.upstream}{path}?{query}", data=body or None,
                                       headers=headers) as response:
                return Wire(response.status, [(b"content-type", response.headers.get("content-type", "").encode())],
                            await response.read())


class ForwardsQueryKey(Defect):
    """The subscription key sent in the query also travels to the backend (as ``key=``)."""

    def applies(self, scope):
        return b"subscription" in scope["query_string"].lower() or b"%73ubscription" in scope["query_string"].lower()

    def scope(self, scope):
        from urllib.parse import parse_qsl

        pairs = parse_qsl(scope["query_string"].decode("latin-1"))
        key = next((value for name, value in pairs if name.strip().lower().startswith("subscription-key")), None)
        if key is None:
            return scope
        return {**scope, "query_string": scope["query_string"] + f"&key={key}".encode()}
