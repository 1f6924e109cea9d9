"""Failure stays proportional: the breaker judges a share over a minimum volume, retries have a budget,
a hung backend is found by its readiness probe and its waiting requests fail over, a backend that is
still starting is not re-tripped, and upstream errors name the backend id only."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from conftest import running_mock, stop_process
from gw_proxy_support import CHAT_PATH, HELLO, KEY, backend, breaker, closed_port_url, config, post, running_gateway
from aigw.gateway.breaker import Breaker
from aigw.gateway.config import BreakerRule
from aigw.gateway.policies.basic import RetryBudget, RetryPolicy
from aigw.protocol.serving import free_port

PROBE = {"path": "/models?api-version=2024-10-21", "timeout": 0.5, "interval": 0.2, "stallAfter": 0.5}


def rule(**condition) -> BreakerRule:
    return BreakerRule.model_validate({"failureCondition": {"interval": 10, **condition}, "tripDuration": 5})


def test_a_ratio_breaker_waits_for_volume_and_trips_on_the_share_not_the_count():
    breaker = Breaker(rule(percentage=50, minimumRequests=10))
    for i in range(9):  # 9 failures, but fewer than 10 attempts: no verdict yet
        assert not breaker.record(float(i), True)
    assert breaker.record(9.5, True) and breaker.is_open(9.6)  # the tenth: 100 % of 10
    busy = Breaker(rule(percentage=50, minimumRequests=10))
    tripped = [busy.record(i * 0.01, i % 10 < 3) for i in range(1000)]  # 30 % failing under load
    assert not any(tripped) and busy.trips == 0
    counting = Breaker(rule(count=3))
    assert any(counting.record(i * 0.01, i % 10 < 3) for i in range(1000))  # the old example: trips at once


def test_half_open_lets_one_trial_through_and_its_verdict_decides():
    breaker = Breaker(rule(count=1))
    breaker.record(0.0, True)
    assert not breaker.allow(1.0)  # open for tripDuration (5 s)
    assert breaker.allow(6.0) and not breaker.allow(6.0)  # half-open: one trial at a time
    assert breaker.record(6.1, True) and breaker.is_open(6.2)  # the trial failed: open again
    assert breaker.allow(12.0)
    assert not breaker.record(12.1, False) and breaker.closed and breaker.allow(12.2) and breaker.allow(12.2)


def test_the_retry_budget_caps_retries_at_a_share_of_requests_and_jitters_waits():
    now = [100.0]
    budget = RetryBudget(percent=50, per_second=0, clock=lambda: now[0])
    for _ in range(100):
        budget.request()
    assert sum(budget.spend() for _ in range(80)) == 50
    now[0] += 11  # the window moved on
    budget.request()
    assert budget.spend() is False and budget.spend() is False  # 50 % of one request: none yet
    policy = RetryPolicy(RetryPolicy.Config.model_validate({"count": 3, "interval": 1.0, "jitter": 0.5}), None)
    waits = {round(policy.delay(2), 3) for _ in range(50)}
    assert len(waits) > 10 and all(0.5 <= w <= 1.5 for w in waits)


def _mock_process(port: int) -> subprocess.Popen:
    aigw = os.path.join(os.path.dirname(sys.executable), "aigw")
    process = subprocess.Popen([aigw, "mock", "--host", "127.0.0.1", "--port", str(port), "--latency", "off"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_mock/health", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the mock did not start")


@pytest.mark.timeout(120)
def test_a_hung_backend_is_found_by_its_probe_and_its_requests_fail_over():
    port = free_port()
    hung = _mock_process(port)
    try:
        with running_mock() as (healthy, _):
            members = [backend("hung", f"http://127.0.0.1:{port}", timeout=30, circuit_breaker=breaker(percentage=50, trip="PT1S")),
                       backend("healthy", healthy, timeout=30, circuit_breaker=breaker(percentage=50))]
            members[0]["healthProbe"] = members[1]["healthProbe"] = PROBE
            cfg = config(members, "pool", pool=[{"id": "hung"}, {"id": "healthy"}], retry={"count": 1, "interval": 0})
            with running_gateway(cfg) as (base, app, _):
                os.killpg(hung.pid, signal.SIGSTOP)  # accepts connections (the kernel does), answers nothing
                started = time.monotonic()

                async def burst():
                    async with httpx.AsyncClient(timeout=60) as client:
                        return await asyncio.gather(*(client.post(base + CHAT_PATH, json=HELLO, headers={"api-key": KEY})
                                                      for _ in range(8)))

                answers = asyncio.run(burst())
                elapsed = time.monotonic() - started
                assert [a.status_code for a in answers] == [200] * 8
                assert elapsed < 15, f"requests waited {elapsed:.1f} s on a hung backend (attempt timeout 30 s)"
                health = app.services.backends.health()["hung"]
                assert health["open"] and health["trips"] >= 1
                os.killpg(hung.pid, signal.SIGCONT)
                deadline = time.monotonic() + 10  # the readiness probe, not a client, closes the breaker again
                while app.services.backends.health()["hung"]["state"] != "closed" and time.monotonic() < deadline:
                    post(base, HELLO)
                    time.sleep(0.2)
                assert app.services.backends.health()["hung"]["state"] == "closed"
    finally:
        os.killpg(hung.pid, signal.SIGCONT)
        stop_process(hung)


def test_a_restarting_backend_is_probed_back_not_retripped_by_traffic():
    port = free_port()
    with running_mock() as (healthy, _):
        members = [backend("restarting", f"http://127.0.0.1:{port}", circuit_breaker=breaker(count=1, trip="PT0.3S")),
                   backend("healthy", healthy)]
        members[0]["healthProbe"] = PROBE
        cfg = config(members, "pool", pool=[{"id": "restarting", "priority": 1}, {"id": "healthy", "priority": 2}],
                     retry={"count": 1, "interval": 0})
        with running_gateway(cfg) as (base, app, _):
            assert post(base, HELLO).status_code == 200  # nothing listens: tripped, failed over
            for _ in range(10):  # while it is down, probes (not clients) find it so: every request fails over once
                assert post(base, HELLO).status_code == 200
                time.sleep(0.1)
            tripped = app.services.backends.health()["restarting"]["trips"]
            assert tripped == 1, "client traffic was used as the half-open trial"
            process = _mock_process(port)
            try:
                deadline = time.monotonic() + 10
                while app.services.backends.health()["restarting"]["state"] != "closed" and time.monotonic() < deadline:
                    post(base, HELLO)
                    time.sleep(0.1)
                assert app.services.backends.health()["restarting"]["state"] == "closed"
                assert app.services.backends.health()["restarting"]["trips"] == 1
            finally:
                stop_process(process)


def test_upstream_errors_name_the_backend_id_never_its_address():
    dead = closed_port_url()
    with running_gateway(config([backend("primary-eu", dead)], "primary-eu")) as (base, _, _):
        response = post(base, HELLO)
    assert response.status_code == 502 and "primary-eu" in response.json()["message"]
    host_port = dead.removeprefix("http://")
    assert host_port not in response.text and "127.0.0.1" not in response.text


def test_metrics_need_the_key_when_one_is_set(mock_server):
    cfg = config([backend("mock", mock_server)], "mock", security={"metrics-key": "scrape-key-0001"})
    with running_gateway(cfg) as (base, _, _):
        refused = httpx.get(f"{base}/metrics")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert httpx.get(f"{base}/metrics", headers={"authorization": "Bearer wrong-key-000"}).status_code == 401
        allowed = httpx.get(f"{base}/metrics", headers={"authorization": "Bearer scrape-key-0001"})
        assert allowed.status_code == 200 and "aigw_requests_total" in allowed.text


def test_forwarded_for_is_believed_only_from_trusted_proxies(mock_server):
    spoofed = {"x-forwarded-for": "203.0.113.7"}
    limited = [{"rate-limit-by-key": {"calls": 1, "renewal-period": 60, "counter-key": "@(context.Request.IpAddress)"}}]
    for trusted, second in (([], 429), (["127.0.0.0/8"], 200)):
        cfg = config([backend("mock", mock_server)], "mock", products=[{"id": "test", "policies": {"inbound": limited}}],
                     security={"trusted-proxies": trusted})
        with running_gateway(cfg) as (base, _, _):
            assert post(base, HELLO, **{"x-forwarded-for": "198.51.100.1"}).status_code == 200
            # untrusted: the client is its socket address either way, so the spoofed header shares its counter
            assert post(base, HELLO, **spoofed).status_code == second
