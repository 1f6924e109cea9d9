"""Agent cards: the v1.0 ``AgentCard`` in ProtoJSON, with the v0.3 fields merged in for older clients.

URLs are absolute and built from the request's own scheme and ``Host``, so the card is right on any
port and behind any proxy that forwards ``Host``. The v1.0 card lists two interfaces at protocol
version 1.0 on the same URL: JSON-RPC (``POST`` to the URL itself) and HTTP+JSON (the REST paths
below it, ``…/message:send``, ``…/tasks/{id}``, …). The JSON-RPC endpoint also answers v0.3 method
names, which the merged v0.3 fields (``url``, ``preferredTransport``, ``protocolVersion``,
``type``-tagged security schemes) announce — the same merge the official
SDK's server performs, so both generations of clients read one card.
"""

from typing import Any

from aigw.mocks.a2a.config import Agent, Skill

PROTOCOL_VERSION = "1.0"
BINDINGS = ("JSONRPC", "HTTP+JSON")
LEGACY_PROTOCOL_VERSION = "0.3.0"
PROVIDER = {"organization": "aigw-suite mock", "url": "https://github.com/aigw-suite"}


def endpoint(base_url: str, agent: Agent) -> str:
    return f"{base_url}/a2a/{agent.name}"


def security(keys_required: bool) -> dict[str, Any]:
    """The mock's own credentials (the ``auth`` section): an ``api-key`` header or a bearer token."""
    schemes = {
        "apiKey": {"apiKeySecurityScheme": {"location": "header", "name": "api-key",
                                            "description": "One of the mock's auth.keys"},
                   "type": "apiKey", "in": "header", "name": "api-key", "description": "One of the mock's auth.keys"},
        "bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer", "description": "Authorization: Bearer <key>"},
                   "type": "http", "scheme": "Bearer", "description": "Authorization: Bearer <key>"},
    }
    body: dict[str, Any] = {"securitySchemes": schemes}
    if keys_required:
        body["securityRequirements"] = [{"schemes": {"apiKey": {"list": []}}}, {"schemes": {"bearer": {"list": []}}}]
        body["security"] = [{"apiKey": []}, {"bearer": []}]
    return body


def _skill(skill: Skill) -> dict[str, Any]:
    return {"id": skill.id, "name": skill.name, "description": skill.description, "tags": skill.tags,
            "examples": skill.examples}


def agent_card(agent: Agent, base_url: str, keys_required: bool, extended: bool = False) -> dict[str, Any]:
    """The public card, or with ``extended`` the authenticated extended one (its ``extended_skills`` added)."""
    url = endpoint(base_url, agent)
    capabilities: dict[str, Any] = {"streaming": agent.streaming, "pushNotifications": agent.push_notifications,
                                    "extendedAgentCard": agent.extended_card}
    if agent.extensions:
        capabilities["extensions"] = [e.model_dump(exclude_none=True) for e in agent.extensions]
    skills = agent.skills + (agent.extended_skills if extended else [])
    card: dict[str, Any] = {
        "name": agent.name,
        "description": agent.description,
        "supportedInterfaces": [{"url": url, "protocolBinding": binding, "protocolVersion": PROTOCOL_VERSION}
                                for binding in BINDINGS],
        "provider": PROVIDER,
        "version": agent.version,
        "capabilities": capabilities,
        **security(keys_required),
        "defaultInputModes": agent.input_modes,
        "defaultOutputModes": agent.output_modes,
        "skills": [_skill(s) for s in skills],
        # v0.3 (a2a.json AgentCard): where and how to call, for clients that predate supportedInterfaces
        "url": url,
        "preferredTransport": "JSONRPC",
        "protocolVersion": LEGACY_PROTOCOL_VERSION,
        "supportsAuthenticatedExtendedCard": agent.extended_card,
    }
    return card


def agent_index(agents: list[Agent], base_url: str) -> dict[str, Any]:
    """``GET /a2a``: every agent with its card and endpoint, for people and test setup."""
    return {"agents": [{"name": a.name, "description": a.description, "url": endpoint(base_url, a),
                        "card": f"{endpoint(base_url, a)}/.well-known/agent-card.json"} for a in agents]}
