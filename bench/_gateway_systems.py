"""What bench/gateway.py measures: the `System` record, the mock's config, and our gateway's two variants.

A `System` is everything the measuring loop needs to know about one contender — how to start it (a
`ServerSpec`), which path and body to send it, and the same request's path straight to the mock for the
added-latency difference. Our gateway is configured here (plain, and with the token-limit and token-metric
policies); the peers are in `_gateway_peers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from _servers import ServerSpec

REPO = Path(__file__).resolve().parents[1]
GATEWAY_CORE, BACKEND_CORE = 0, 1  # the system under test alone; the mock and the load generators together
KEY = "bench-key"  # what bench/_loadgen.py sends as api-key
API_VERSION = "2024-10-21"
AZURE_PATH = f"/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}"
OPENAI_PATH = "/v1/chat/completions"
PROMPT = [{"role": "user", "content": "Hello, how are you?"}]


@dataclass
class System:
    """One thing to measure: how to start it, what to send it, and the mock path it forwards to."""

    name: str
    label: str
    spec: ServerSpec
    path: str
    body: dict
    direct_path: str  # the same request straight to the mock, for the added-latency difference
    headers: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 30.0



def write_mock_config(path: Path) -> Path:
    """The mock's embedded default, latency off, every deployment's tpm/rpm raised out of reach."""
    from importlib import resources

    config = yaml.safe_load(resources.files("aigw.mocks").joinpath("default.yaml").read_text("utf-8"))
    config["latency"] = "off"
    for deployment in config["deployments"]:
        deployment["tpm"] = deployment["rpm"] = 10**12
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def mock_spec(config_path: Path) -> ServerSpec:
    """`aigw mock` on the given config, latency off, one worker."""
    aigw = REPO / ".venv" / "bin" / "aigw"
    return ServerSpec("mock", [str(aigw if aigw.exists() else "aigw"), "mock", "--host", "127.0.0.1", "--port",
                               "{port}", "--config", str(config_path), "--latency", "off", "--workers", "1"], cwd=REPO)


POLICY_INBOUND = [
    {"llm-token-limit": {"counter-key": "@(context.Subscription.Id)", "tokens-per-minute": 10**12,
                         "estimate-prompt-tokens": True, "remaining-tokens-header-name": "x-remaining-tokens"}},
    {"llm-emit-token-metric": {"namespace": "bench", "dimensions": [
        {"name": "API ID"}, {"name": "Subscription ID"}, {"name": "Deployment", "value": "@(context.Deployment)"}]}},
]


def gateway_config(mock_url: str, with_policies: bool) -> dict:
    api: dict = {"id": "azure-openai", "path": "/openai", "kind": "azure-openai", "backend": "mock"}
    if with_policies:
        api["policies"] = {"inbound": POLICY_INBOUND}
    return {"gateway-id": "bench", "backends": [{"id": "mock", "url": f"{mock_url}/openai", "timeout": 30,
                                                 "auth": {"header": "api-key", "value": "mock-key"}}],
            "apis": [api], "products": [{"id": "bench"}],
            "subscriptions": [{"id": "bench", "key": KEY, "product": "bench"}]}


def missing_policies() -> list[str]:
    from aigw.gateway.policies import registry

    return [name for entry in POLICY_INBOUND for name in entry if name not in registry]


def ours(name: str, label: str, mock_url: str, work: Path, with_policies: bool) -> System:
    from aigw.gateway.config import GatewayConfig

    data = gateway_config(mock_url, with_policies)
    GatewayConfig.model_validate(data)  # a config the gateway would refuse is a bench bug: fail here, clearly
    config_path = work / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    aigw = REPO / ".venv" / "bin" / "aigw"
    argv = [str(aigw if aigw.exists() else "aigw"), "gateway", "--config", str(config_path), "--host", "127.0.0.1",
            "--port", "{port}"]
    return System(name, label, ServerSpec(name, argv, cwd=REPO), AZURE_PATH, {"messages": PROMPT, "max_tokens": 20},
                  AZURE_PATH)
