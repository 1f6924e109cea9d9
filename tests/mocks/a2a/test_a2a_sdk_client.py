"""Proof with the official ``a2a-sdk`` (1.x) client, on both bindings the card declares.

The client resolves the card from the mock, picks the interface of the binding it is told to use
(JSON-RPC or HTTP+JSON, protocol 1.0), sends ``A2A-Version: 1.0`` and parses every answer into the
SDK's protobuf types — so a shape the official client cannot read fails here. The scenario
(``a2a_sdk_scenario``) covers send, stream, get, list, cancel, subscribe and push configs
set/get/list/delete, with a real webhook receiver that must get every notification, in order.
Requirements: CORE-SEND-001, CORE-GET-001, CORE-LIST-001, CORE-CANCEL-001/002, STREAM-SUB-002,
PUSH-CREATE-001, PUSH-GET-001, PUSH-LIST-001, PUSH-DEL-001/002, PUSH-DELIVER-001/002/003.
"""

import asyncio

import httpx
import pytest

a2a_client = pytest.importorskip("a2a.client", reason="a2a-sdk is a test extra: pip install 'aigw-suite[test]'")
from a2a.client.card_resolver import A2ACardResolver  # noqa: E402

import a2a_sdk_scenario  # noqa: E402
from a2a_helpers import a2a_config  # noqa: E402
from conftest import running_mock  # noqa: E402
from webhook_receiver import WebhookReceiver  # noqa: E402


@pytest.fixture(scope="module")
def agent_url():
    with running_mock(a2a_config(work_seconds=0.3)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def receiver():
    webhooks = WebhookReceiver()
    yield webhooks
    webhooks.close()


def test_sdk_resolves_the_card_of_the_default_agent_and_each_agent(agent_url):
    async def main():
        async with httpx.AsyncClient() as http:
            default = await A2ACardResolver(http, agent_url).get_agent_card()
            researcher = await A2ACardResolver(http, f"{agent_url}/a2a/researcher").get_agent_card()
        return default, researcher

    default, researcher = asyncio.run(main())
    assert default.name == "assistant" and default.capabilities.streaming and default.capabilities.push_notifications
    assert [(i.url, i.protocol_binding, i.protocol_version) for i in default.supported_interfaces] == [
        (f"{agent_url}/a2a/assistant", "JSONRPC", "1.0"), (f"{agent_url}/a2a/assistant", "HTTP+JSON", "1.0")]
    assert {s.id for s in default.skills} >= {"answer", "clarify", "fail"}
    assert set(default.security_schemes) == {"apiKey", "bearer"}
    assert default.security_schemes["apiKey"].api_key_security_scheme.name == "api-key"
    assert researcher.name == "researcher" and not researcher.capabilities.push_notifications


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_sdk_every_operation_and_push_delivery(agent_url, receiver, binding):
    seen = asyncio.run(asyncio.wait_for(a2a_sdk_scenario.run(f"{agent_url}/a2a/assistant", binding, receiver), 60))
    a2a_sdk_scenario.check(seen)
