"""Run-time state of one mock process: deployments with their limiters, faults and counters.

Kept apart from the config so the admin API can reset it to the config at any time. State is per
worker process; run stateful tests (rate limits, counters, faults) with one worker.

The mounted services (MCP, A2A, Content Safety) keep state of their own; each registers a callable in
``MockState.on_reset`` when it is built, so ``POST /_mock/reset`` puts the whole mock back to its config.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from aigw.mocks.clock import Clock
from aigw.mocks.config import Deployment, Faults, MockConfig
from aigw.mocks.faults import FaultInjector
from aigw.mocks.ratelimit import DeploymentLimiter
from aigw.mocks.request_log import RequestLog


@dataclass
class Counters:
    requests: int = 0
    succeeded: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    rate_limited: int = 0
    errors: Counter = field(default_factory=Counter)  # status → count of error answers
    faults: Counter = field(default_factory=Counter)  # fault label → count

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "rate_limited": self.rate_limited,
            "errors": {str(k): v for k, v in sorted(self.errors.items())},
            "faults": dict(sorted(self.faults.items())),
        }


class DeploymentState:
    def __init__(self, config: MockConfig, deployment: Deployment) -> None:
        self.deployment = deployment
        self.limiter = DeploymentLimiter(deployment.tpm, deployment.rpm)
        self.faults = FaultInjector(config.seed, deployment.name, deployment.faults)
        self.counters = Counters()
        self.region = deployment.region or config.region
        self.region_header = (b"x-ms-region", self.region.encode())
        self.profile = config.profile(deployment)  # the latency profile in force (None: no simulated latency)

    def set_faults(self, faults: Faults) -> None:
        self.faults.set(faults)


class MockState:
    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.requests = RequestLog(config.admin_token)  # what arrived, for checking what a gateway forwards
        self.on_reset: list[Callable[[], None]] = []  # the mounted services' own resets, run after ours
        self.reset()

    def reset(self) -> None:
        """Everything back to the config: clock, deployments, counters, and every registered service."""
        self.clock.reset()
        self.deployments = {d.name: DeploymentState(self.config, d) for d in self.config.deployments}
        # /v1 clients name a model; the first deployment of that model serves it.
        self.by_model: dict[str, DeploymentState] = {}
        for state in self.deployments.values():
            self.by_model.setdefault(state.deployment.model, state)
        self.unrouted = Counters()
        self.requests.clear()
        for hook in self.on_reset:
            hook()

    def find(self, name: str, by_model: bool) -> DeploymentState | None:
        state = self.deployments.get(name)
        if state is None and by_model:
            state = self.by_model.get(name)
        return state
