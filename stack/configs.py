"""The configurations of the embedded default: one mock per region, the gateway config, and what they offer.

Mock URLs (and the admin token) reach the gateway config through its ``${AIGW_MOCK_<REGION>}`` /
``${AIGW_ADMIN_TOKEN}`` references, passed as an explicit environment — never by changing this
process's ``os.environ``, so several stacks (tests, benches) can be built side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from aigw.gateway.config import GatewayConfig, example_config_path, load_config
from aigw.mocks.config import MockConfig, load_config as load_mock_config
from aigw.protocol.yamlconfig import expand_env, parse_model

CACHED_API_PATH = "/cached/openai"
MCP_API_PATH = "/mcp"
CACHE_POLICIES = ("llm-semantic-cache-lookup", "azure-openai-semantic-cache-lookup",
                  "llm-semantic-cache-store", "azure-openai-semantic-cache-store")
TOKEN_LIMIT_POLICIES = ("llm-token-limit", "azure-openai-token-limit")
UNLIMITED = 10**12


def mock_config(region: str, seed: int | None, latency: str | None, unlimited: bool = False) -> MockConfig:
    """The mock's embedded default for one region; ``unlimited`` lifts every deployment's TPM and RPM."""
    data = load_mock_config(None).model_dump()
    data["region"] = region
    if seed is not None:
        data["seed"] = seed
    if latency is not None:
        data["latency"] = latency
    if unlimited:
        for deployment in data["deployments"]:
            deployment["tpm"] = deployment["rpm"] = UNLIMITED
    return MockConfig.model_validate(data)


def environment(mocks: dict[str, str], admin_token: str | None) -> dict[str, str]:
    """The variables a gateway config of the embedded default reads (on top of the process's own)."""
    import os

    env = {**os.environ, **{f"AIGW_MOCK_{region.upper()}": url for region, url in mocks.items()}}
    if admin_token is not None:
        env["AIGW_ADMIN_TOKEN"] = admin_token
    return env


def gateway_config(variant: str, path: str | None, env: dict[str, str],
                   change: Callable[[dict], None] | None = None) -> GatewayConfig:
    """The file's config, or the shipped example (arranged for load runs in the ``load`` variant);
    ``change`` edits the YAML data first (a test's deliberately broken gateway)."""
    if change is None and (path is not None or variant == "default"):
        return load_config(path or example_config_path(), env)  # errors keep the file's line numbers
    source = path or "the example gateway config"
    text = Path(path).read_text("utf-8") if path else example_config_path().read_text("utf-8")
    if variant == "load" and path is None:
        text = yaml.safe_dump(load_target_config(text), sort_keys=False)
    data = yaml.safe_load(expand_env(text, source, env))  # a change sees the real URLs
    if change is not None:
        change(data)
    return parse_model(GatewayConfig, yaml.safe_dump(data, sort_keys=False), source)


def load_target_config(example_text: str) -> dict:
    """The example gateway config, arranged for the load scenarios (a plain dict; ``${VAR}`` references intact):

    * ``/openai`` without a semantic cache, so rate-limit, failover and streaming traffic reaches the
      backends (answers from a cache would cost no tokens and skip the backends being failed over);
    * ``/cached/openai``: the same backends and backend policies behind the semantic cache (caching);
    * an MCP API: the example's own if it has one, else ``/mcp`` → the eastus mock's MCP server (mixed).
    """
    config = yaml.safe_load(example_text)
    eastus = "${AIGW_MOCK_EASTUS:-http://127.0.0.1:8081}"
    example_api = next((api for api in config["apis"] if api["path"] == "/openai"), None)
    if example_api is None:
        raise ValueError("the example gateway config has no /openai API to load")
    policies = example_api.setdefault("policies", {})
    cache = {section: [p for p in policies.get(section, []) if next(iter(p)) in CACHE_POLICIES]
             for section in ("inbound", "outbound")}
    for section in ("inbound", "outbound"):
        policies[section] = [p for p in policies.get(section, []) if next(iter(p)) not in CACHE_POLICIES]
    if not cache["inbound"]:
        config["backends"].append({"id": "load-embeddings", "timeout": 5,
                                   "url": f"{eastus}/openai/deployments/text-embedding-3-small/embeddings"})
        cache = {"inbound": [{"llm-semantic-cache-lookup": {
                     "score-threshold": 0.1, "embeddings-backend-id": "load-embeddings", "ignore-system-messages": True,
                     "vary-by": ["@(context.Subscription.Id)"]}}],
                 "outbound": [{"llm-semantic-cache-store": {"duration": 600}}]}
    config["apis"].append({
        "id": "cached-openai", "path": CACHED_API_PATH, "kind": example_api.get("kind", "azure-openai"),
        "backend": example_api["backend"], "subscription-key-header": example_api.get("subscription-key-header", "api-key"),
        "policies": {"inbound": cache["inbound"], "backend": policies.get("backend", []), "outbound": cache["outbound"]}})
    if not any(api.get("kind") == "mcp" for api in config["apis"]):
        config["backends"].append({"id": "load-mcp", "url": f"{eastus}/mcp", "timeout": 30})
        config["apis"].append({"id": "mcp", "path": MCP_API_PATH, "kind": "mcp", "backend": "load-mcp"})
    return config


def mcp_path(config: GatewayConfig) -> str:
    return next((api.path for api in config.apis if api.kind == "mcp"), MCP_API_PATH)


def cached_api_path(config: GatewayConfig) -> str | None:
    """The first model API behind a semantic cache (the load variant's ``/cached/openai``)."""
    for api in config.apis:
        if api.kind in ("azure-openai", "openai") and _policy_names([api.policies]) & set(CACHE_POLICIES):
            return api.path
    return None


def subscription_keys(config: GatewayConfig) -> tuple[list[str], str | None]:
    """(keys of products with policies — the tenants, in config order; the first key of a product without any)."""
    products = {p.id: p for p in config.products}
    tenants, free = [], None
    for subscription in config.subscriptions:
        product = products[subscription.product]
        if _policy_names([product.policies]):
            tenants.append(subscription.key)
        elif free is None:
            free = subscription.key
    return tenants, free


def _policy_names(scopes: list[Any]) -> set[str]:
    return {entry.name for policies in scopes for section in ("inbound", "backend", "outbound", "on-error")
            for entry in policies.section(section)}


def capabilities(config: GatewayConfig) -> dict[str, Any]:
    """What the gateway really offers, read from its config (so it stays true as the example grows)."""
    names = _policy_names([config.policies, *(a.policies for a in config.apis), *(p.policies for p in config.products),
                           *(o.policies for a in config.apis for o in a.operations)])
    kinds = {api.kind for api in config.apis}
    return {
        "rate_limits": bool(names & {*TOKEN_LIMIT_POLICIES, "rate-limit-by-key"}),
        "quota": bool(names & {*TOKEN_LIMIT_POLICIES, "quota-by-key"}),
        "caching": bool(names & {"llm-semantic-cache-lookup", "azure-openai-semantic-cache-lookup"}),
        "content_safety": bool(names & {"llm-content-safety", "azure-openai-content-safety"}),
        "failover": any(backend.pool for backend in config.backends),
        "mcp": next((api.path for api in config.apis if api.kind == "mcp"), None),
        "a2a": (next((api.path for api in config.apis if api.kind == "a2a" and api.path.endswith("agent-card.json")),
                     "/.well-known/agent-card.json") if "a2a" in kinds else None),
        "rate_limit_tpm": _tenant_tokens_per_minute(config),
    }


def model_limits(mocks: MockConfig) -> dict[str, dict[str, int | None]]:
    """Each deployment's model limits (the mocks of all regions share one deployment list)."""
    return {d.name: {"context_window": d.context_window, "max_completion_tokens": d.max_completion_tokens,
                     "max_input_tokens": d.max_input_tokens} for d in mocks.deployments}


def _tenant_tokens_per_minute(config: GatewayConfig) -> int | None:
    """The per-minute token limit that applies to the first tenant key's product (the key the checks use)."""
    tenant = next(iter(config.subscriptions), None)
    product = next((p for p in config.products if tenant and p.id == tenant.product), None)
    for entry in product.policies.section("inbound") if product else []:
        if entry.name in TOKEN_LIMIT_POLICIES and entry.config.tokens_per_minute:
            return entry.config.tokens_per_minute
    return None

