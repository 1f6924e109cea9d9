"""The ``mcp:`` section of the mock config: which MCP servers run, their fixtures, auth and faults.

Every server is reachable at ``/mcp/{name}``; the one named ``default`` also at ``/mcp`` (the seed
contract's path). Fixture sets are built in: ``standard`` (calculator, weather, document search, a slow
tool with progress, a failing tool, documents as resources, prompts) and ``conformance`` (what the
official MCP conformance suite calls). A server may expose a subset of its set's tools, resources
and prompts by name.
"""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from aigw.mocks.config_base import Strict, require_unique

PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")  # newest first
MCP_FAULT_STATUSES = (500, 503)


class McpAuth(Strict):
    """``open`` accepts anyone; ``bearer`` requires ``Authorization: Bearer <one of tokens>``."""

    mode: Literal["open", "bearer"] = "open"
    tokens: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tokens(self):
        if self.mode == "bearer" and not self.tokens:
            raise ValueError("auth.mode is 'bearer' but auth.tokens is empty")
        return self


class McpFaults(Strict):
    """Injected misbehaviour of one MCP server; rates are per HTTP request, drawn from the seed."""

    added_latency_ms: float = Field(0, ge=0, description="added before each answer")
    error_rates: dict[int, float] = Field(default_factory=dict, description="HTTP status (500|503) → rate")
    drop_session_rate: float = Field(0, ge=0, le=1, description="the session vanishes (→ 404), as after a restart")

    @field_validator("error_rates")
    @classmethod
    def _statuses(cls, rates: dict[int, float]) -> dict[int, float]:
        for status, rate in rates.items():
            if status not in MCP_FAULT_STATUSES:
                raise ValueError(f"error_rates: status {status} is not one of {MCP_FAULT_STATUSES}")
            if not 0 <= rate <= 1:
                raise ValueError(f"error_rates[{status}]: {rate} is not a probability in 0..1")
        if sum(rates.values()) > 1:
            raise ValueError("error_rates add up to more than 1")
        return rates


class McpServerConfig(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    title: str | None = None
    instructions: str | None = None
    fixtures: Literal["standard", "conformance"] = "standard"
    tools: list[str] | None = Field(None, description="names from the fixture set; null = all of them")
    resources: list[str] | None = Field(None, description="resource URIs and templates; null = all")
    prompts: list[str] | None = Field(None, description="prompt names; null = all")
    response_mode: Literal["auto", "json", "sse"] = Field(
        "auto", description="auto: an SSE stream when the client accepts one, else JSON")
    auth: McpAuth = Field(default_factory=McpAuth)
    faults: McpFaults = Field(default_factory=McpFaults)
    page_size: int = Field(50, gt=0, description="items per page of the */list methods")

    @model_validator(mode="after")
    def _known_fixtures(self):
        from aigw.mocks.mcp.server import FIXTURE_SETS  # the fixture code imports this module

        FIXTURE_SETS[self.fixtures].select(self.tools, self.resources, self.prompts)
        return self

    @property
    def path(self) -> str:
        return "/mcp" if self.name == "default" else f"/mcp/{self.name}"


def _default_servers() -> list[McpServerConfig]:
    return [
        McpServerConfig(name="default", title="aigw mock MCP server",
                        instructions="Tools for arithmetic, weather and document search; documents as resources."),
        McpServerConfig(name="tools", title="aigw mock tools", resources=[], prompts=[]),
        McpServerConfig(name="docs", title="aigw mock documents", tools=["search_docs"]),
        McpServerConfig(name="conformance", title="aigw conformance fixtures", fixtures="conformance"),
    ]


class McpConfig(Strict):
    enabled: bool = True
    session_ttl_s: float = Field(3600, gt=0, description="idle sessions expire (→ 404) after this, on the mock clock")
    max_sessions: int = Field(10_000, gt=0, description="per server; the least recently used goes first")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="extra Host/Origin names accepted on loopback connections (DNS-rebinding protection)")
    servers: list[McpServerConfig] = Field(default_factory=_default_servers)

    @model_validator(mode="after")
    def _unique(self):
        names = [s.name for s in self.servers]
        require_unique(names, "mcp server names must be unique")
        return self
