"""Fault injection: decide, per request, which misbehaviour (if any) a deployment shows.

Each deployment draws from its own random stream seeded by (seed, deployment name), one draw per
request, so the same seed and the same sequence of requests reproduce the same faults.
"""

import random
from dataclasses import dataclass

from aigw.mocks.config import Faults

NONE = "none"


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request."""

    status: int | None = None  # answer with this error status instead
    added_latency_s: float = 0.0
    first_byte_delay_s: float = 0.0
    hang: bool = False
    reset_before_first_byte: bool = False
    reset_mid_stream: bool = False
    malformed_body: bool = False

    @property
    def label(self) -> str:
        if self.status:
            return str(self.status)
        for name in ("hang", "reset_before_first_byte", "reset_mid_stream", "malformed_body"):
            if getattr(self, name):
                return name
        return NONE


NO_FAULT = FaultPlan()


def drawn_status(draw: float, error_rates: dict[int, float]) -> int | None:
    """The error status a uniform ``draw`` in [0, 1) lands on, the rates stacked in status order; None
    past them all. Shared by every fault injector (model deployments, MCP servers)."""
    for code in sorted(error_rates):
        rate = error_rates[code]
        if draw < rate:
            return code
        draw -= rate
    return None


class FaultInjector:
    def __init__(self, seed: int, deployment: str, faults: Faults) -> None:
        self._rng = random.Random(f"{seed}:{deployment}:faults")
        self.set(faults)

    def set(self, faults: Faults) -> None:
        self.faults = faults
        self._active = faults.active  # compared once here, not per request (a model comparison is not cheap)

    def plan(self) -> FaultPlan:
        if not self._active:
            return NO_FAULT
        f = self.faults
        if f.outage:
            return FaultPlan(status=503)
        status = drawn_status(self._rng.random(), f.error_rates)
        roll = self._rng.random()
        return FaultPlan(
            status=status,
            added_latency_s=f.added_latency_ms / 1000,
            first_byte_delay_s=f.first_byte_delay_ms / 1000,
            hang=f.hang,
            reset_before_first_byte=status is None and roll < f.reset_before_first_byte,
            reset_mid_stream=status is None and roll < f.reset_mid_stream,
            malformed_body=status is None and self._rng.random() < f.malformed_body,
        )
