"""One MCP server at run time: its config, fixtures, sessions, faults and counters."""

import random
from collections import Counter
from dataclasses import dataclass

from aigw.mocks.clock import Clock
from aigw.mocks.faults import drawn_status
from aigw.mocks.mcp.config import McpConfig, McpFaults, McpServerConfig
from aigw.mocks.mcp.conformance import CONFORMANCE
from aigw.mocks.mcp.fixtures import FixtureSet
from aigw.mocks.mcp.session import SessionStore
from aigw.mocks.mcp.standard import STANDARD

FIXTURE_SETS = {"standard": STANDARD, "conformance": CONFORMANCE}


@dataclass(frozen=True)
class McpFaultPlan:
    added_latency_s: float = 0.0
    status: int | None = None
    drop_session: bool = False


NO_FAULT = McpFaultPlan()


class McpFaultInjector:
    """One draw sequence per server, seeded by (seed, server): the same requests meet the same faults."""

    def __init__(self, seed: int, server: str, faults: McpFaults) -> None:
        self.faults = faults
        self._rng = random.Random(f"{seed}:mcp:{server}:faults")

    def set(self, faults: McpFaults) -> None:
        self.faults = faults

    def plan(self) -> McpFaultPlan:
        f = self.faults
        if not (f.added_latency_ms or f.error_rates or f.drop_session_rate):
            return NO_FAULT
        status = drawn_status(self._rng.random(), f.error_rates)
        drop = self._rng.random() < f.drop_session_rate
        return McpFaultPlan(f.added_latency_ms / 1000, status, drop and status is None)


class McpServer:
    def __init__(self, config: McpServerConfig, mcp: McpConfig, seed: int, clock: Clock) -> None:
        self.config = config
        self.name = config.name
        self.seed = seed
        base: FixtureSet = FIXTURE_SETS[config.fixtures]
        self.fixtures = base.select(config.tools, config.resources, config.prompts)
        self.tools = {t.name: t for t in self.fixtures.tools}
        self.resources = {r.uri: r for r in self.fixtures.resources}
        self.prompts = {p.name: p for p in self.fixtures.prompts}
        self.sessions = SessionStore(seed, config.name, clock, mcp.session_ttl_s, mcp.max_sessions)
        self.faults = McpFaultInjector(seed, config.name, config.faults)
        self.counters: Counter = Counter()
        self._bearers = {f"Bearer {t}".encode() for t in config.auth.tokens}

    def authorized(self, authorization: bytes | None) -> bool:
        return self.config.auth.mode == "open" or (authorization is not None and authorization in self._bearers)

    def capabilities(self) -> dict:
        caps: dict = {"logging": {}}
        if self.tools:
            caps["tools"] = {"listChanged": False}
        if self.resources or self.fixtures.templates:
            caps["resources"] = {"subscribe": True, "listChanged": False}
        if self.prompts:
            caps["prompts"] = {"listChanged": False}
        if self.prompts or self.fixtures.templates:
            caps["completions"] = {}
        return caps

    def snapshot(self) -> dict:
        return {"path": self.config.path, "fixtures": self.config.fixtures, "sessions": len(self.sessions),
                "sessions_created": self.sessions.created, "counters": dict(sorted(self.counters.items())),
                "faults": self.faults.faults.model_dump(mode="json")}


def build_servers(mcp: McpConfig, seed: int, clock: Clock) -> dict[str, McpServer]:
    return {s.name: McpServer(s, mcp, seed, clock) for s in mcp.servers}


def reset_servers(servers: dict[str, McpServer], mcp: McpConfig, seed: int, clock: Clock) -> None:
    """Sessions ended, then every server rebuilt from the config (faults, counters, session ids from the seed).

    In place: the transport and the admin API hold this very dict."""
    for server in servers.values():
        server.sessions.clear()
    servers.update(build_servers(mcp, seed, clock))
