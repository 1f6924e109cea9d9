"""The mock's configuration: deployments, auth, latency profiles and faults.

Loaded from YAML (``aigw mock --config mock.yaml``) or taken from the embedded default
(``default.yaml`` beside this file) so ``aigw mock`` runs with no file at all. Errors name file,
line and field (see ``aigw.protocol.yamlconfig``).
"""

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from aigw.mocks.config_base import Strict, require_unique
from aigw.mocks.content_classifier import ContentSafetyConfig
from aigw.mocks.a2a.config import A2AConfig
from aigw.mocks.mcp.config import McpConfig
from aigw.mocks.model_limits import default_limits
from aigw.protocol.server_limits import ServerLimits
from aigw.protocol.yamlconfig import load_model, parse_model

Operation = Literal["chat", "completions", "embeddings"]
STATUS_FAULTS = (429, 500, 503)


class Range(Strict):
    """A uniform range in milliseconds; draws are seeded."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class LatencyProfile(Strict):
    """Time to first token, then time between tokens — paced per token, never slept up front."""

    ttft_ms: Range
    inter_token_ms: Range
    embeddings_ms: Range = Range(min=0, max=0)


BUILTIN_PROFILES: dict[str, LatencyProfile] = {
    "fast": LatencyProfile(ttft_ms=Range(min=5, max=20), inter_token_ms=Range(min=0.5, max=2), embeddings_ms=Range(min=2, max=8)),
    "realistic": LatencyProfile(ttft_ms=Range(min=150, max=600), inter_token_ms=Range(min=12, max=40), embeddings_ms=Range(min=20, max=80)),
    "slow": LatencyProfile(ttft_ms=Range(min=800, max=2500), inter_token_ms=Range(min=40, max=120), embeddings_ms=Range(min=100, max=400)),
}


class Faults(Strict):
    """Injected misbehaviour of one deployment; rates are probabilities per request, drawn from the seed."""

    error_rates: dict[int, float] = Field(default_factory=dict, description="status (429|500|503) → rate")
    added_latency_ms: float = Field(0, ge=0, description="added before the response starts")
    first_byte_delay_ms: float = Field(0, ge=0, description="added before the first byte of a stream")
    hang: bool = Field(False, description="never answer: the client's timeout must fire")
    reset_before_first_byte: float = Field(0, ge=0, le=1)
    reset_mid_stream: float = Field(0, ge=0, le=1)
    malformed_body: float = Field(0, ge=0, le=1)
    outage: bool = Field(False, description="the whole deployment answers 503")

    @field_validator("error_rates")
    @classmethod
    def _statuses(cls, rates: dict[int, float]) -> dict[int, float]:
        for status, rate in rates.items():
            if status not in STATUS_FAULTS:
                raise ValueError(f"error_rates: status {status} is not one of {STATUS_FAULTS}")
            if not 0 <= rate <= 1:
                raise ValueError(f"error_rates[{status}]: {rate} is not a probability in 0..1")
        if sum(rates.values()) > 1:
            raise ValueError("error_rates add up to more than 1")
        return rates

    @property
    def active(self) -> bool:
        return self != _NO_FAULTS


_NO_FAULTS = Faults()


def default_operations(model: str) -> list[str]:
    """Which operations a model serves, as Azure decides it by model family."""
    if model.startswith("text-embedding"):
        return ["embeddings"]
    if "instruct" in model or model.startswith(("davinci", "babbage")):
        return ["completions"]
    return ["chat"]


def embedding_dimensions(model: str) -> int:
    return 3072 if model == "text-embedding-3-large" else 1536


class Deployment(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    model: str = Field(min_length=1)
    model_version: str = "2024-11-20"
    operations: list[Operation] | None = None
    tpm: int = Field(120_000, gt=0, description="tokens per minute")
    rpm: int | None = Field(None, gt=0, description="requests per minute; Azure's default is 6 per 1000 TPM")
    # The model's limits per request (aigw.mocks.model_limits); unset: the public model table's values.
    context_window: int | None = Field(None, gt=0, description="prompt + completion tokens per choice")
    max_completion_tokens: int | None = Field(None, gt=0, description="the most completion tokens one answer may have")
    max_input_tokens: int | None = Field(None, gt=0, description="embeddings: the most tokens of one input")
    region: str | None = None
    latency: str | None = Field(None, description="a profile name; falls back to the top-level latency")
    faults: Faults = Field(default_factory=Faults)

    @model_validator(mode="after")
    def _fill(self):
        if self.operations is None:
            self.operations = default_operations(self.model)
        if self.rpm is None:
            self.rpm = max(6, self.tpm * 6 // 1000)
        defaults = default_limits(self.model, self.model_version)
        for name in ("context_window", "max_completion_tokens", "max_input_tokens"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(defaults, name))
        return self

    @property
    def dimensions(self) -> int:
        return embedding_dimensions(self.model)


class Auth(Strict):
    mode: Literal["open", "keys"] = "open"
    keys: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys(self):
        if self.mode == "keys" and not self.keys:
            raise ValueError("auth.mode is 'keys' but auth.keys is empty")
        return self


class MockConfig(Strict):
    seed: int = 0
    region: str = "eastus"
    auth: Auth = Field(default_factory=Auth)
    admin_token: str = Field("mock-admin", min_length=1)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    latency: str = "realistic"
    latency_profiles: dict[str, LatencyProfile] = Field(default_factory=dict)
    default_max_tokens_estimate: int = Field(
        16, ge=0, description="completion tokens charged at admission when a request sets no max_tokens"
    )
    api_versions: list[str] = Field(
        default_factory=lambda: [
            "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21", "2024-02-15-preview", "2024-05-01-preview",
            "2024-08-01-preview", "2024-09-01-preview", "2024-10-01-preview", "2024-12-01-preview",
            "2025-01-01-preview", "2025-02-01-preview", "2025-03-01-preview", "2025-04-01-preview",
        ]
    )
    deployments: list[Deployment] = Field(min_length=1)
    content_safety: ContentSafetyConfig = Field(
        default_factory=ContentSafetyConfig, description="Azure AI Content Safety and the Azure OpenAI content filter"
    )
    a2a: A2AConfig = Field(default_factory=A2AConfig, description="A2A agents (see aigw.mocks.a2a)")
    mcp: McpConfig = Field(default_factory=McpConfig, description="MCP servers (see aigw.mocks.mcp)")

    @model_validator(mode="after")
    def _consistent(self):
        names = [d.name for d in self.deployments]
        require_unique(names, "deployment names must be unique")
        known = set(BUILTIN_PROFILES) | set(self.latency_profiles) | {"off"}
        for name in [self.latency] + [d.latency for d in self.deployments if d.latency]:
            if name not in known:
                raise ValueError(f"unknown latency profile {name!r}; known: {', '.join(sorted(known))}")
        return self

    def server_limits(self) -> ServerLimits:
        """The listener bounds (``aigw.protocol.server_limits``): header/body timeouts, header size and
        connections at their defaults (a declared body over ``max_body_bytes`` is the app's 413)."""
        return ServerLimits(error_shape="openai")

    def profile(self, deployment: Deployment) -> LatencyProfile | None:
        """The latency profile in force for ``deployment``; None means no simulated latency."""
        name = deployment.latency or self.latency
        if self.latency == "off" or name == "off":
            return None
        return self.latency_profiles.get(name) or BUILTIN_PROFILES[name]


def default_config() -> MockConfig:
    text = resources.files("aigw.mocks").joinpath("default.yaml").read_text("utf-8")
    return parse_model(MockConfig, text, "aigw/mocks/default.yaml")


def load_config(path: str | Path | None) -> MockConfig:
    return default_config() if path is None else load_model(MockConfig, path)
