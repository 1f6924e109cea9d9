"""Unit tests of rate-limit-by-key and quota-by-key with a MemoryStore and a clock we move."""

import asyncio
import datetime as dt
from types import SimpleNamespace

import orjson
import pytest

from aigw.gateway.context import Context, Request
from aigw.gateway.errors import GatewayError
from aigw.gateway.policies import registry
from aigw.gateway.services import Services
from aigw.gateway.store import MemoryStore

START = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.timezone.utc).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(name: str, svc: Services, **attributes):
    attributes = {"counter-key": "@(context.Subscription.Id)", **attributes}
    cls = registry[name]
    return cls(cls.Config.model_validate(attributes), svc)


def services(now: float = START + 20, store: MemoryStore | None = None) -> Services:
    return Services(config=None, store=store or MemoryStore(), backends=None, forwarder=None, clock=Clock(now))


def context(tenant: str = "tenant-a") -> Context:
    request = Request("POST", "/openai/x", "/x", b"", [], b"{}", "10.0.0.1")
    return Context("rid", request, SimpleNamespace(id="api"), "chat", "gpt-4o",
                   subscription=SimpleNamespace(id=tenant, key="k", user=None))


async def outcomes(policy, count: int, tenant: str = "tenant-a") -> list[int]:
    found = []
    for _ in range(count):
        try:
            await policy.inbound(context(tenant))
            found.append(200)
        except GatewayError as error:
            found.append(error.status)
    return found


def test_rate_limit_counts_in_windows_of_the_services_clock():
    async def scenario():
        svc = services()
        policy = make("rate-limit-by-key", svc, calls=3, **{"renewal-period": 60,
                                                              "remaining-calls-header-name": "x-left",
                                                              "remaining-calls-variable-name": "left",
                                                              "retry-after-variable-name": "wait",
                                                              "total-calls-header-name": "x-total"})
        assert await outcomes(policy, 4) == [200, 200, 200, 429]
        ctx = context()
        with pytest.raises(GatewayError) as caught:
            await policy.inbound(ctx)
        error = caught.value
        assert error.headers == {"Retry-After": "40"} and ctx.variables == {"left": 0, "wait": 40}
        assert dict(ctx.extra_headers) == {b"x-left": b"0", b"x-total": b"3"}
        assert orjson.loads(error.response().body) == {"statusCode": 429,
                                                        "message": "Rate limit is exceeded. Try again in 40 seconds."}
        assert await outcomes(policy, 1, "tenant-b") == [200]  # keys are independent
        svc.clock.now += 40
        assert await outcomes(policy, 4) == [200, 200, 200, 429]

    asyncio.run(scenario())


def test_increment_count_and_iso_durations():
    async def scenario():
        policy = make("rate-limit-by-key", services(), calls=10, **{"renewal-period": "PT1M", "increment-count": 4})
        assert policy.config.renewal_period == 60
        assert await outcomes(policy, 3) == [200, 200, 429]

    asyncio.run(scenario())


def test_quota_by_key_is_403_with_the_time_to_replenishment():
    async def scenario():
        svc = services(START + 600)
        policy = make("quota-by-key", svc, calls=2, **{"renewal-period": 86400})
        assert await outcomes(policy, 2) == [200, 200]
        with pytest.raises(GatewayError) as caught:
            await policy.inbound(context())
        assert caught.value.status == 403
        assert caught.value.message == "Out of call volume quota. Quota will be replenished in 13:50:00."

    asyncio.run(scenario())


def test_replicas_on_one_store_share_their_counters():
    """Counters are named by the policy's settings, not the Python object: two gateways, one count."""

    async def scenario():
        store = MemoryStore()
        first = make("rate-limit-by-key", services(store=store), calls=2, **{"renewal-period": 60})
        second = make("rate-limit-by-key", services(store=store), calls=2, **{"renewal-period": 60})
        assert await outcomes(first, 1) + await outcomes(second, 2) == [200, 200, 429]

    asyncio.run(scenario())


@pytest.mark.parametrize("name, attributes, message", [
    ("rate-limit-by-key", {"calls": 5, "renewal-period": 60, "counter-key": "@(context.Bogus)"}, "unsupported expression"),
    ("rate-limit-by-key", {"calls": 5, "renewal-period": 60, "counter-key": "k", "retry-after-header-name": "a b"},
     "not a valid HTTP header name"),
    ("quota-by-key", {"calls": 0, "renewal-period": 60, "counter-key": "k"}, "greater than 0"),
    ("quota-by-key", {"calls": 1, "renewal-period": "soon", "counter-key": "k"}, "renewal-period"),
])
def test_config_errors(name, attributes, message):
    with pytest.raises(ValueError) as caught:
        registry[name].Config.model_validate(attributes)
    assert message in str(caught.value)
