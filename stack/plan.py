"""What to start (``StackPlan``) and what a started stack offers its users (``Endpoints``).

Both are plain data that travel as JSON: a plan goes to a child process on its command line, the
endpoints come back on one line of its stdout. ``Endpoints`` is all the contract suite and the load
scenarios get — URLs, keys and tokens — so they never import the mock or the gateway.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field, fields
from typing import Any

REGIONS = ("eastus", "swedencentral", "westus")
VARIANTS = ("default", "load")
MOCK_ADMIN_TOKEN = "mock-admin"  # the mocks' admin token (their config's default)


@dataclass(frozen=True)
class StackPlan:
    """The embedded default to start: one mock per region and the gateway in front of them.

    ``variant``: ``default`` — the shipped example config (``aigw up``, ``aigw check``); ``load`` — the example
    arranged for ``aigw load``'s scenarios (``aigw.stack.configs.load_target_config``), with the mocks' own
    TPM/RPM lifted so every 429 a scenario sees is the gateway's. ``gateway_config`` replaces the example.
    ``port``: the gateway's port, the mocks on the next ones (``aigw up``); None: free ports.
    ``admin_token``: turns on the gateway's admin reset (``/_aigw/reset``) when the config takes it from
    ``${AIGW_ADMIN_TOKEN}``, as the example does; None: off.
    ``clock_offset``: seconds added to the gateway's clock (a short load run can see a minute window roll).
    """

    regions: tuple[str, ...] = REGIONS
    variant: str = "default"
    gateway_config: str | None = None
    seed: int | None = None
    latency: str | None = None  # None: the mock config's own
    admin_token: str | None = None
    clock_offset: float = 0.0
    host: str = "127.0.0.1"
    port: int | None = None
    log_level: str = "warning"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown stack variant {self.variant!r}; one of {', '.join(VARIANTS)}")
        if not self.regions:
            raise ValueError("a stack needs at least one mock region")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "regions": list(self.regions)})

    @classmethod
    def from_json(cls, text: str) -> "StackPlan":
        data = json.loads(text)
        data["regions"] = tuple(data.get("regions") or REGIONS)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class Endpoints:
    """A running stack, as its users see it."""

    gateway: str
    mocks: dict[str, str]  # region → base URL (also the mock admin API's base)
    keys: list[str] = field(default_factory=list)  # subscription keys of throttled products (tenants)
    fuzz_key: str | None = None  # a key of a product without policies (bulk traffic is never throttled)
    mock_token: str = MOCK_ADMIN_TOKEN
    admin_token: str | None = None  # the gateway's admin API token, when on
    reset_urls: list[str] = field(default_factory=list)  # POST each with the admin token (one per gateway replica)
    metrics_key: str | None = None  # the gateway's /metrics wants Authorization: Bearer <key>
    mcp_path: str = "/mcp"
    cached_api_path: str | None = None  # a model API behind the semantic cache
    clock_offset: float = 0.0
    capabilities: dict[str, Any] = field(default_factory=dict)  # what the gateway offers, for `aigw check`
    model_limits: dict[str, dict[str, int | None]] = field(default_factory=dict)  # deployment → its model's limits
    log: str | None = None  # where the servers' log goes (a child process's stderr)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Endpoints":
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def declared_capabilities(self, chat: str = "gpt-4o", completions: str = "gpt-35-turbo-instruct",
                              embeddings: str = "text-embedding-3-small") -> dict[str, Any]:
        """What ``aigw check`` may declare for this stack: the gateway's capabilities and the model limits of the
        deployments it will use (a deployment the stack does not have keeps the suite's conservative defaults)."""
        declared = dict(self.capabilities)
        if chat in self.model_limits:
            declared["context_window"] = self.model_limits[chat]["context_window"]
            declared["max_completion_tokens"] = self.model_limits[chat]["max_completion_tokens"]
        if completions in self.model_limits:
            declared["completions_context_window"] = self.model_limits[completions]["context_window"]
        if embeddings in self.model_limits:
            declared["embeddings_max_input_tokens"] = self.model_limits[embeddings]["max_input_tokens"]
        return declared

    def reset(self, timeout: float = 10.0) -> None:
        """Every mock (``/_mock/reset``) and the gateway (its admin reset) back to their start."""
        for url in self.mocks.values():
            _post(url.rstrip("/") + "/_mock/reset", self.mock_token, timeout)
        for url in self.reset_urls:
            _post(url, self.admin_token or "", timeout)


def _post(url: str, token: str, timeout: float) -> None:
    request = urllib.request.Request(url, data=b"", method="POST", headers={"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"POST {url} → {error.code}: {error.read()[:200]!r}") from None
