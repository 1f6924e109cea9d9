"""A circuit breaker: API Management's ``failureCondition`` rules, judged the way Envoy's outlier detection is.

Why a *ratio over a minimum volume*: a count threshold ("3 failures in 10 s", the old example) measures
traffic, not health. Under load any backend that fails a few percent of its answers reaches three
failures within seconds, and with 30 % of answers failing on every backend all three breakers of the
example pool stayed open: clients saw 269 of 300 requests refused with 503, although retries alone
would have got all but ≈3 % through. APIM's ``percentage`` condition and Envoy's
``failure_percentage_threshold`` with ``failure_percentage_request_volume`` judge the *share* of failed
attempts instead, and only once enough attempts were seen (``minimumRequests``, our name, default 10) —
so a backend trips when it is mostly failing, not when it is merely busy. ``count`` keeps APIM's meaning
(that many failures within ``interval``) for configurations that want it.

States: **closed** (counting outcomes in a sliding window of ``interval``), **open** for
``tripDuration`` (or the backend's ``Retry-After`` with ``acceptRetryAfter``, up to ``max(tripDuration,
60 s)``: Azure OpenAI answers a request larger than a deployment's whole TPM with ``retry-after: 86400``
— it can never fit, see ``aigw.mocks.ratelimit`` — which says nothing about when the backend can take
other requests; honoured as is, a few such requests would take every backend out for a day, while a
minute is the longest wait an ordinary Azure throttle asks for, its TPM window), then **half-open**: one
trial attempt at a time is let through (``allow``); its success closes the breaker, its failure opens it
again. When the backend has a ``healthProbe``, the gateway probes readiness instead of risking a
client's request as the trial (``aigw.gateway.backends``): a backend still starting is not re-tripped by
real traffic, and it is back as soon as it answers the probe.

State lives in this object only (one gateway process). It is the unit a shared store would hold per
backend: ``record`` / ``allow`` / ``trip`` are the whole interface.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from aigw.gateway.config import BreakerRule

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
LONGEST_ACCEPTED_RETRY_AFTER_S = 60.0  # see the module docstring


@dataclass
class Breaker:
    rule: BreakerRule
    events: deque = field(default_factory=deque)  # (time, failed), oldest first, within the interval
    failures: int = 0  # failed events in ``events``
    open_until: float = 0.0
    trips: int = 0
    trial: bool = False  # a half-open trial attempt is in flight
    closed: bool = True  # False from a trip until a trial (or a readiness probe) succeeds
    throttled: bool = False  # the last trip was on a 429: the backend is busy, not broken

    def is_open(self, now: float) -> bool:
        """Open: no traffic at all (the metrics gauge and Retry-After read this)."""
        return now < self.open_until

    def state(self, now: float) -> str:
        if now < self.open_until:
            return OPEN
        return CLOSED if self.closed else HALF_OPEN

    def available(self, now: float, probing: bool = False) -> bool:
        """Whether an attempt could go to the backend now (``allow`` claims it). Half-open admits one trial
        at a time, and none while a readiness probe (``probing``) decides instead."""
        if now < self.open_until:
            return False
        return self.closed or not (probing or self.trial)

    def allow(self, now: float, probing: bool = False) -> bool:
        """``available``, and claim the half-open trial when this attempt is it."""
        if not self.available(now, probing):
            return False
        if not self.closed:
            self.trial = True
        return True

    def record(self, now: float, failed: bool, retry_after: float | None = None, status: int | None = None) -> bool:
        """Record one attempt's outcome; True when this outcome trips the breaker."""
        if failed:
            self.throttled = status == 429
        if not self.closed and now >= self.open_until:  # the half-open trial's verdict
            self.trial = False
            if failed:
                self.trip(now, retry_after)
                return True
            self.close()
            return False
        condition = self.rule.failure_condition
        self.events.append((now, failed))
        self.failures += failed
        horizon = now - condition.interval
        while self.events and self.events[0][0] < horizon:
            self.failures -= self.events.popleft()[1]
        if not failed or self.is_open(now):
            return False
        if condition.count is not None:
            tripped = self.failures >= condition.count
        else:
            tripped = (len(self.events) >= condition.minimum_requests
                       and self.failures * 100 >= condition.percentage * len(self.events))
        if tripped:
            self.trip(now, retry_after)
        return tripped

    def trip(self, now: float, retry_after: float | None = None, duration: float | None = None) -> None:
        """Open now: for ``duration``, the backend's Retry-After (``acceptRetryAfter``) or ``tripDuration``."""
        if duration is None:
            duration = self.rule.trip_duration
            if self.rule.accept_retry_after and retry_after:
                duration = min(retry_after, max(duration, LONGEST_ACCEPTED_RETRY_AFTER_S))
        self.open_until = now + duration
        self.trips += 1
        self.trial = False
        self.closed = False
        self.events.clear()
        self.failures = 0

    def close(self) -> None:
        self.open_until = 0.0
        self.trial = False
        self.closed = True
        self.events.clear()
        self.failures = 0

    def counts(self, status: int | None, reason: str | None) -> bool:
        """Whether an outcome is a failure under this rule (a timeout is one when no errorReasons are listed)."""
        condition = self.rule.failure_condition
        if status is not None and any(r.min <= status <= r.max for r in condition.status_code_ranges):
            return True
        return reason is not None and (reason in condition.error_reasons or not condition.error_reasons and status is None)
