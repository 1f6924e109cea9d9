"""Backends, pools and circuit breakers, as API Management's backend resources define them.

A pool groups up to 30 backends. Selection goes by priority group (lower number first): a lower
priority group is used only when every backend of the higher groups has an open breaker. Inside a
group, smooth weighted round-robin (nginx's algorithm) spreads requests by weight — plain
round-robin is the special case of equal weights. A breaker trips when ``count`` failures (or
``percentage`` of requests) matching its status ranges / error reasons happen within ``interval``,
and stays open ``tripDuration`` — or for the backend's Retry-After when ``acceptRetryAfter``, up to
``max(tripDuration, 60 s)``: Azure OpenAI answers a request larger than a deployment's whole TPM with
``retry-after: 86400`` (it can never fit; see ``aigw.mocks.ratelimit``), which says nothing about when the
backend can take other requests — honoured as is, three such requests would take every backend out for a
day. A minute is the longest wait an ordinary Azure throttle asks for (its TPM window).
"""

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from aigw.gateway.config import Backend, BreakerRule, GatewayConfig

LONGEST_ACCEPTED_RETRY_AFTER_S = 60.0  # see the module docstring


@dataclass
class Breaker:
    rule: BreakerRule
    events: deque = field(default_factory=deque)  # (time, failed)
    open_until: float = 0.0
    trips: int = 0

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def record(self, now: float, failed: bool, retry_after: float | None) -> bool:
        """Record one outcome; True when this outcome trips the breaker."""
        condition = self.rule.failure_condition
        self.events.append((now, failed))
        horizon = now - condition.interval
        while self.events and self.events[0][0] < horizon:
            self.events.popleft()
        if not failed or self.is_open(now):
            return False
        failures = sum(1 for _, f in self.events if f)
        if condition.count is not None:
            tripped = failures >= condition.count
        else:
            tripped = failures * 100 >= condition.percentage * len(self.events)
        if tripped:
            duration = self.rule.trip_duration
            if self.rule.accept_retry_after and retry_after:
                duration = min(retry_after, max(duration, LONGEST_ACCEPTED_RETRY_AFTER_S))
            self.open_until = now + duration
            self.trips += 1
            self.events.clear()
        return tripped

    def counts(self, status: int | None, reason: str | None) -> bool:
        """Whether an outcome is a failure under this rule."""
        condition = self.rule.failure_condition
        if status is not None and any(r.min <= status <= r.max for r in condition.status_code_ranges):
            return True
        return reason is not None and (reason in condition.error_reasons or not condition.error_reasons and status is None)


@dataclass
class BackendRuntime:
    config: Backend
    breaker: Breaker | None
    weight: int = 1
    priority: int = 1
    current: int = 0  # smooth weighted round-robin state
    requests: int = 0
    failures: int = 0

    @property
    def id(self) -> str:
        return self.config.id


class Backends:
    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.singles: dict[str, BackendRuntime] = {}
        for backend in config.backends:
            if backend.url is not None:
                breaker = Breaker(backend.circuit_breaker.rules[0]) if backend.circuit_breaker else None
                self.singles[backend.id] = BackendRuntime(backend, breaker)
        self.pools: dict[str, list[list[BackendRuntime]]] = {}
        for backend in config.backends:
            if backend.pool is not None:
                groups: dict[int, list[BackendRuntime]] = {}
                for member in backend.pool.services:
                    runtime = self.singles[member.id]
                    # A backend may sit in several pools; weight/priority are per pool membership.
                    entry = BackendRuntime(runtime.config, runtime.breaker, member.weight, member.priority)
                    entry.requests = 0
                    groups.setdefault(member.priority, []).append(entry)
                self.pools[backend.id] = [groups[p] for p in sorted(groups)]

    def members(self, backend_id: str) -> list[BackendRuntime]:
        if backend_id in self.pools:
            return [m for group in self.pools[backend_id] for m in group]
        return [self.singles[backend_id]]

    def choose(self, backend_id: str, exclude: set[str] = frozenset()) -> BackendRuntime | None:
        """The next backend to try, or None when every candidate is open or excluded."""
        now = self.clock()
        if backend_id not in self.pools:
            single = self.singles[backend_id]
            if single.id in exclude or (single.breaker and single.breaker.is_open(now)):
                return None
            return single
        for group in self.pools[backend_id]:
            available = [m for m in group if m.id not in exclude and not (m.breaker and m.breaker.is_open(now))]
            if available:
                return _smooth_weighted(available)
        return None

    def retry_after(self, backend_id: str) -> float:
        """Seconds until the first open breaker among the candidates closes (for a 503's Retry-After)."""
        now = self.clock()
        waits = [m.breaker.open_until - now for m in self.members(backend_id) if m.breaker and m.breaker.is_open(now)]
        return max(1.0, min(waits)) if waits else 1.0

    def record(self, backend: BackendRuntime, status: int | None, reason: str | None, retry_after: float | None) -> None:
        single = self.singles[backend.id]
        single.requests += 1
        breaker = single.breaker
        if breaker is None:
            if status is None or status >= 500:
                single.failures += 1
            return
        failed = breaker.counts(status, reason)
        single.failures += failed
        breaker.record(self.clock(), failed, retry_after)

    def reset(self) -> None:
        """Every breaker closed with no failures remembered, round-robin from the start (the admin reset).
        The request and failure totals stay: they are counters, like the metrics built on them."""
        for backend in self.singles.values():
            if backend.breaker is not None:
                backend.breaker.events.clear()
                backend.breaker.open_until = 0.0
        for groups in self.pools.values():
            for group in groups:
                for member in group:
                    member.current = 0

    def health(self) -> dict[str, dict]:
        now = self.clock()
        return {
            b.id: {
                "url": b.config.url,
                "open": bool(b.breaker and b.breaker.is_open(now)),
                "trips": b.breaker.trips if b.breaker else 0,
                "requests": b.requests,
                "failures": b.failures,
            }
            for b in self.singles.values()
        }


def _smooth_weighted(members: list[BackendRuntime]) -> BackendRuntime:
    total = 0
    best = None
    for member in members:
        member.current += member.weight
        total += member.weight
        if best is None or member.current > best.current:
            best = member
    best.current -= total
    return best
