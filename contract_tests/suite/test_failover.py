"""failover: faults injected into the mocks behind the target (``--mock-admin``) must stay invisible
while any backend is healthy, and end in an honest 503 + Retry-After when none is.

Order matters and is the file order: the stream check runs first (circuit breakers still closed, so the
faulted backends really receive traffic), the all-down check last (it trips every breaker and then
waits for the target's own Retry-After). Every test restores the mocks in ``finally``. Prompts are
fresh (``prompts.fresh_chat``) so a cache in the target never hides the backends.
"""

from __future__ import annotations

import time

import pytest

from aigw.contract_tests.prompts import fresh_chat
from aigw.contract_tests.stream_checks import analyse_stream

REQUESTS_PER_CHECK = 6
MAX_RECOVERY_WAIT_S = 65.0  # the longest Retry-After the recovery check waits for
ERROR_STATUSES = (502, 503, 504)


def _restore(target) -> None:
    for admin in target.mock_admins:
        admin.clear_faults(target.deployment)


def _need_two_backends(target) -> None:
    if len(target.mock_admins) < 2:
        pytest.skip("not applicable: failover needs at least two mocks behind the target (repeat --mock-admin)")


def _fault_count(admins, deployment: str, label: str) -> int:
    return sum((a.counters()["deployments"].get(deployment) or {}).get("faults", {}).get(label, 0) for a in admins)


@pytest.mark.aigw(group="failover", needs=("failover",))
def test_stream_failing_before_first_byte_is_retried(aigw_target):
    """A backend that drops the connection before the first byte of a stream: the client still gets a
    complete, valid stream from another backend (the failure is retryable, nothing was sent yet)."""
    target = aigw_target
    _need_two_backends(target)
    faulty = target.mock_admins[:-1]
    before = _fault_count(faulty, target.deployment, "reset_before_first_byte")
    try:
        for admin in faulty:
            admin.set_faults(target.deployment, reset_before_first_byte=1.0)
        for _ in range(REQUESTS_PER_CHECK):
            body = {**fresh_chat("Describe a lighthouse"), "stream": True, "stream_options": {"include_usage": True}}
            exchange = target.post("chat", body, stream=True)
            problems, _ = analyse_stream(exchange, "chat", include_usage=True)
            assert not problems, ("with one backend resetting streams before the first byte, the client saw:\n- "
                                  + "\n- ".join(problems))
        exercised = _fault_count(faulty, target.deployment, "reset_before_first_byte") - before
    finally:
        _restore(target)
    if not exercised:
        pytest.skip("no request reached a faulted backend (their circuit breakers were open): nothing to judge")


@pytest.mark.aigw(group="failover", needs=("failover",))
def test_outage_of_some_backends_is_invisible(aigw_target):
    """Every backend but one answers 503: every client request still succeeds."""
    target = aigw_target
    _need_two_backends(target)
    try:
        for admin in target.mock_admins[:-1]:
            admin.outage(target.deployment, True)
        for index in range(REQUESTS_PER_CHECK):
            exchange = target.post("chat", fresh_chat("Name a planet"))
            assert exchange.status == 200, (
                f"request {index + 1}: with {len(target.mock_admins) - 1} of {len(target.mock_admins)} backends down the "
                f"client got {exchange.status}: {exchange.body[:300]!r}")
    finally:
        _restore(target)


@pytest.mark.aigw(group="failover", needs=("failover",))
def test_all_backends_down_then_recovery(aigw_target):
    """All down: 503 with an honest Retry-After (after it, with the backends back, traffic flows again)."""
    target = aigw_target
    retry_after = None
    try:
        for admin in target.mock_admins:
            admin.outage(target.deployment, True)
        for index in range(2 * REQUESTS_PER_CHECK):
            exchange = target.post("chat", fresh_chat("Name a mountain"))
            assert exchange.status in ERROR_STATUSES, (
                f"request {index + 1} with every backend down got {exchange.status}, not 503: {exchange.body[:300]!r}")
            assert exchange.status == 503, (
                f"every backend answers 503 (outage) but the client got {exchange.status}: {exchange.body[:300]!r}")
            value = exchange.header("retry-after")
            if value is not None:
                assert value.strip().isdigit() and int(value) >= 1, f"Retry-After {value!r} is not a positive number of seconds"
                retry_after = int(value)
                break
        assert retry_after is not None, (
            f"{2 * REQUESTS_PER_CHECK} requests with every backend down got 503 without Retry-After: the target neither "
            "passes one on nor opens its circuit breakers to answer with its own")
        assert retry_after <= MAX_RECOVERY_WAIT_S, f"Retry-After {retry_after} s is longer than this check waits"
    finally:
        _restore(target)
    time.sleep(retry_after + 0.5)
    exchange = target.post("chat", fresh_chat("Name a lake"))
    assert exchange.status == 200, (
        f"the backends are healthy again and Retry-After ({retry_after} s) has passed, yet the client got "
        f"{exchange.status}: {exchange.body[:300]!r} — the circuit breakers did not let traffic back")
