"""Backends, pools, circuit breakers and readiness probes, as API Management's backend resources define them.

A pool groups up to 30 backends. Selection goes by priority group (lower number first): a lower
priority group is used only when every backend of the higher groups is unavailable (breaker open, or
half-open with its trial or probe under way). Inside a group, smooth weighted round-robin (nginx's
algorithm) spreads requests by weight — plain round-robin is the special case of equal weights. The
breaker's rules are ``aigw.gateway.breaker``.

**Readiness probes** (``healthProbe``, ours). Two situations where waiting for client traffic to tell
is wrong: (1) a tripped backend whose trip duration ended — a client request sent as the half-open
trial to a backend still starting fails and re-trips it, so instead the probe is sent (every
``interval``) and the breaker closes when it succeeds; (2) a backend that accepts connections but
answers nothing (a hung process: the kernel still completes the TCP handshake) — every attempt sent
there waits its full timeout, and none has failed yet, so the breaker cannot know. When the backend has
attempts in flight and nothing came back from it for ``stallAfter`` seconds, the probe is sent: if it
fails too, the breaker trips and the attempts waiting there are abandoned (``abandoned``) and fail over
— but a backend that is merely slow (long completions) answers its probe and is left alone.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from aigw.gateway.breaker import Breaker
from aigw.gateway.config import Backend, GatewayConfig
from aigw.protocol.log_limit import LogLimiter

log = logging.getLogger("aigw.gateway")
quiet = LogLimiter(log)
Prober = Callable[[Backend], Awaitable[bool]]


@dataclass
class BackendRuntime:
    config: Backend
    breaker: Breaker | None
    weight: int = 1
    priority: int = 1
    current: int = 0  # smooth weighted round-robin state
    requests: int = 0
    failures: int = 0
    in_flight: int = 0  # attempts waiting for this backend's answer (kept on the single, not pool entries)
    last_progress: float = 0.0  # when this backend last answered (or started being waited for)
    probing: bool = False
    stall_check: asyncio.TimerHandle | None = None  # a pending look at whether its attempts stalled
    abandoned: asyncio.Event | None = None  # set when a failed stall probe gives up on the attempts in flight

    @property
    def id(self) -> str:
        return self.config.id


class Backends:
    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic,
                 prober: Prober | None = None) -> None:
        self.clock = clock
        self.prober = prober  # set by Services once the upstream client exists
        self._probes: set[asyncio.Task] = set()
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
        """The next backend to try, or None when every candidate is unavailable or excluded. A half-open
        backend chosen here carries this attempt as its trial."""
        now = self.clock()
        if backend_id not in self.pools:
            single = self.singles[backend_id]
            if single.id in exclude or not self._available(single, now):
                return None
            return self._claim(single, now)
        for group in self.pools[backend_id]:
            available = [m for m in group if m.id not in exclude and self._available(self.singles[m.id], now)]
            if available:
                return self._claim(_smooth_weighted(available), now)
        return None

    def _available(self, single: BackendRuntime, now: float) -> bool:
        probe = single.config.health_probe
        if probe is not None and self.prober is not None:
            breaker = single.breaker
            if breaker is not None and not breaker.closed and not breaker.is_open(now):
                self._probe(single, "ready")  # half-open: the probe, not a client, is the trial
            elif single.in_flight and now - single.last_progress > probe.stall_after:
                self._probe(single, "stall")
        return single.breaker is None or single.breaker.available(now, single.probing and single.config.health_probe is not None)

    def _claim(self, chosen: BackendRuntime, now: float) -> BackendRuntime:
        breaker = self.singles[chosen.id].breaker
        if breaker is not None:
            breaker.allow(now)
        return chosen

    # -- attempts in flight -------------------------------------------------------------------------
    def started(self, backend: BackendRuntime) -> asyncio.Event:
        """An attempt is sent to ``backend``; the event is set if a failed stall probe abandons it."""
        single = self.singles[backend.id]
        if not single.in_flight:
            single.last_progress = self.clock()
        single.in_flight += 1
        if single.abandoned is None:
            single.abandoned = asyncio.Event()
        probe = single.config.health_probe
        if probe is not None and self.prober is not None and single.stall_check is None:
            single.stall_check = asyncio.get_running_loop().call_later(probe.stall_after, self._check_stall, single)
        return single.abandoned

    def _check_stall(self, single: BackendRuntime) -> None:
        """Timer: attempts still waiting and nothing back from the backend for ``stallAfter``: probe it."""
        single.stall_check = None
        if not single.in_flight:
            return
        probe = single.config.health_probe
        quiet_for = self.clock() - single.last_progress
        if quiet_for >= probe.stall_after:
            self._probe(single, "stall")
            quiet_for = 0.0
        single.stall_check = asyncio.get_running_loop().call_later(probe.stall_after - quiet_for, self._check_stall, single)

    def answered(self, backend: BackendRuntime) -> None:
        """The backend answered an attempt (headers, or a stream's first byte)."""
        self.singles[backend.id].last_progress = self.clock()

    def finished(self, backend: BackendRuntime) -> None:
        single = self.singles[backend.id]
        single.in_flight = max(0, single.in_flight - 1)

    # -- readiness probes ---------------------------------------------------------------------------
    def _probe(self, single: BackendRuntime, why: str) -> None:
        if single.probing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a unit test calling choose): nothing can be probed
        single.probing = True
        task = loop.create_task(self._run_probe(single, why))
        task.backend_id = single.id  # type: ignore[attr-defined]
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    async def settle(self, backend_id: str) -> bool:
        """Wait (at most a probe's timeout) for readiness probes of ``backend_id``'s members under way;
        True if there were any — the first request after a trip ends must not get a 503 just because
        the probe it set off has not answered yet."""
        members = {m.id for m in self.members(backend_id)}
        running = [task for task in self._probes if getattr(task, "backend_id", None) in members]
        if not running:
            return False
        longest = max(self.singles[m].config.health_probe.timeout for m in members if self.singles[m].config.health_probe)
        await asyncio.wait(running, timeout=longest + 0.1)
        return True

    async def _run_probe(self, single: BackendRuntime, why: str) -> None:
        probe = single.config.health_probe
        try:
            ready = await self.prober(single.config)
        except Exception:  # a probe must never take the gateway down with it
            log.exception("readiness probe of %s failed unexpectedly", single.id)
            ready = False
        finally:
            single.probing = False
        now = self.clock()
        breaker = single.breaker
        if why == "ready":
            if ready and breaker is not None:
                breaker.close()
                quiet.warning(f"ready-{single.id}", "backend %s is ready again: its circuit breaker closed", single.id)
            elif breaker is not None:
                breaker.open_until = max(breaker.open_until, now + probe.interval)
            return
        if ready:
            single.last_progress = now  # slow, not hung: its attempts keep waiting
            return
        quiet.warning(f"stall-{single.id}", "backend %s answered nothing for %g s and failed its readiness probe: "
                      "tripping its breaker, failing over its %d waiting attempts", single.id, probe.stall_after,
                      single.in_flight)
        single.failures += 1
        if breaker is not None:
            breaker.trip(now)
        if single.abandoned is not None:
            single.abandoned.set()
            single.abandoned = None

    async def close(self) -> None:
        for single in self.singles.values():
            if single.stall_check is not None:
                single.stall_check.cancel()
        for task in list(self._probes):
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)

    def throttled(self, backend_id: str) -> bool:
        """Every candidate is open because it answered 429: the honest answer is 429, not 503."""
        now = self.clock()
        members = [self.singles[m.id].breaker for m in self.members(backend_id)]
        return all(b is not None and b.is_open(now) and b.throttled for b in members)

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
        if breaker.record(self.clock(), failed, retry_after, status):
            quiet.warning(f"trip-{single.id}", "backend %s: circuit breaker tripped (%s)", single.id, reason or status)

    def reset(self) -> None:
        """Every breaker closed with nothing remembered, round-robin from the start (the admin reset). The
        request and failure totals stay: they are counters, like the metrics built on them."""
        for single in self.singles.values():
            if single.breaker is not None:
                single.breaker.close()
                single.breaker.throttled = False
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
                "state": b.breaker.state(now) if b.breaker else "closed",
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
