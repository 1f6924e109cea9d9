"""MCP and A2A through the gateway, proved with the official clients against the real mock.

The mock requires credentials the clients never see (MCP: a bearer token; A2A: an ``api-key``), so a
call that succeeds went through the gateway, which checked the subscription key, stripped it and set
the backend's credential. The tenants' product carries ``llm-token-limit`` (1 token a minute) and an
``llm-content-safety`` whose service is unreachable: were either applied to MCP/A2A, nothing would pass.
"""

import asyncio
import time

import httpx
import orjson
import pytest

pytest.importorskip("mcp", reason="the official MCP SDK 2.x is in the test extra")
pytest.importorskip("a2a.client", reason="a2a-sdk is a test extra: pip install 'aigw-suite[test]'")
import httpx2  # noqa: E402  (the MCP SDK's HTTP client)
from a2a.client import ClientConfig, create_client  # noqa: E402
from a2a.client.card_resolver import A2ACardResolver  # noqa: E402
from a2a.types import a2a_pb2 as pb  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

from aigw.gateway.config import GatewayConfig, Security  # noqa: E402
from aigw.gateway.passthrough import rewrite_card, subscription_security  # noqa: E402
from aigw.protocol.sse import decode_all  # noqa: E402
from conftest import mock_config, running_mock  # noqa: E402
from gw_proxy_support import running_gateway  # noqa: E402
from webhook_receiver import WebhookReceiver  # noqa: E402
import a2a_sdk_scenario  # noqa: E402

MOCK_KEY = "mock-backend-key-01"
MCP_TOKEN = "upstream-mcp-token"
KEY = "mcp-a2a-tenant-key-1"  # product "guarded": the llm-* policies, which must not apply here
LIMITED_KEY = "mcp-limited-key-0001"  # product "limited": rate-limit-by-key, LIMIT calls
A2A_LIMITED_KEY = "a2a-limited-key-001"  # the same product, its own counter
LIMIT = 6
BOTH = "application/json, text/event-stream"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}


def gateway_config(mock: str, **mcp_api: object) -> GatewayConfig:
    guarded = [
        {"llm-token-limit": {"counter-key": "@(context.Subscription.Id)", "tokens-per-minute": 1,
                             "estimate-prompt-tokens": True}},
        {"llm-content-safety": {"backend-id": "content-safety", "shield-prompt": True}},
        {"llm-emit-token-metric": {"namespace": "aigw", "dimensions": [{"name": "API ID"}]}},
    ]
    limited = [{"rate-limit-by-key": {"calls": LIMIT, "renewal-period": 3600, "counter-key": "@(context.Subscription.Id)",
                                      "remaining-calls-header-name": "x-remaining-calls"}}]
    return GatewayConfig.model_validate({
        "backends": [
            {"id": "mcp", "url": f"{mock}/mcp", "timeout": 1, "auth": {"header": "Authorization", "value": f"Bearer {MCP_TOKEN}"}},
            {"id": "agents", "url": f"{mock}/a2a", "timeout": 10, "auth": {"header": "api-key", "value": MOCK_KEY}},
            {"id": "agent-card", "url": f"{mock}/.well-known/agent-card.json", "timeout": 10},
            {"id": "content-safety", "url": "http://127.0.0.1:9/contentsafety", "timeout": 1},
        ],
        "apis": [
            {"id": "mcp", "path": "/mcp", "kind": "mcp", "backend": "mcp", **mcp_api},
            {"id": "a2a", "path": "/agents", "kind": "a2a", "backend": "agents"},  # another prefix than the mock's
            {"id": "a2a-card", "path": "/.well-known/agent-card.json", "kind": "a2a", "backend": "agent-card"},
        ],
        "products": [{"id": "guarded", "policies": {"inbound": guarded}},
                     {"id": "limited", "policies": {"inbound": limited}}],
        "subscriptions": [{"id": "tenant", "key": KEY, "product": "guarded"},
                          {"id": "limited", "key": LIMITED_KEY, "product": "limited"},
                          {"id": "a2a-limited", "key": A2A_LIMITED_KEY, "product": "limited"}],
    })


@pytest.fixture(scope="module")
def stack():
    config = mock_config(auth={"mode": "keys", "keys": [MOCK_KEY]}).model_dump()
    for server in config["mcp"]["servers"]:
        server["auth"] = {"mode": "bearer", "tokens": [MCP_TOKEN]}
    config["a2a"]["work_seconds"] = 0.3
    for agent in config["a2a"]["agents"]:
        agent["work_seconds"] = None
    with running_mock(type(mock_config()).model_validate(config)) as (mock, _):
        with running_gateway(gateway_config(mock)) as (gateway, _, _):
            yield mock, gateway


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def run_long(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 90))


def direct_ping(mock: str, session_id: str) -> int:
    """Bypass the gateway: the mock answers a session it issued, 404 for one it does not know."""
    response = httpx.post(f"{mock}/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "ping"},
                          headers={"accept": "application/json", "authorization": f"Bearer {MCP_TOKEN}",
                                   "mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"})
    return response.status_code


# --- MCP ---------------------------------------------------------------------------------------

async def _sdk_flow(gateway: str, mock: str, key: str) -> dict:
    seen: dict = {"progress": [], "session_ids": set(), "statuses": []}

    async def record(response: httpx2.Response) -> None:
        seen["statuses"].append((response.request.method, response.status_code))
        if "mcp-session-id" in response.headers:
            seen["session_ids"].add(response.headers["mcp-session-id"])

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen["progress"].append(progress)

    http = create_mcp_http_client(headers={"Ocp-Apim-Subscription-Key": key})
    http.event_hooks["response"].append(record)
    async with http, streamable_http_client(f"{gateway}/mcp", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            seen["version"] = (await session.initialize()).protocol_version
            seen["tools"] = [t.name for t in (await session.list_tools()).tools]
            seen["sum"] = await session.call_tool("calculator", {"operation": "multiply", "a": 6, "b": 7})
            seen["slow"] = await session.call_tool("slow_task", {"steps": 3, "step_ms": 10}, progress_callback=on_progress)
            seen["doc"] = await session.read_resource("docs://mcp-servers")
            (session_id,) = seen["session_ids"]
            seen["mock_knows_session"] = await asyncio.to_thread(direct_ping, mock, session_id)
    seen["after_close"] = await asyncio.to_thread(direct_ping, mock, session_id)  # the SDK's DELETE went through
    return seen


def test_mcp_sdk_session_passes_through_with_its_session_id(stack):
    mock, gateway = stack
    seen = run(_sdk_flow(gateway, mock, KEY))
    assert seen["version"] == "2025-11-25"
    assert seen["tools"] == ["calculator", "get_weather", "search_docs", "slow_task", "failing_tool"]
    assert seen["sum"].structured_content == {"result": 42}
    assert seen["progress"] == [1, 2, 3] and seen["slow"].content[0].text == "Completed 3 steps in 30 ms."
    assert seen["doc"].contents[0].text.startswith("# MCP servers")
    assert seen["mock_knows_session"] == 200 and seen["after_close"] == 404
    assert ("POST", 202) in seen["statuses"] and ("DELETE", 204) in seen["statuses"]


def test_mcp_wire_headers_streams_and_an_idle_get_stream(stack):
    mock, gateway = stack
    headers = {"api-key": KEY, "accept": BOTH}
    with httpx.Client(base_url=gateway, headers=headers, timeout=10) as client:
        init = client.post("/mcp", json=INIT)
        assert init.status_code == 200 and init.headers["content-type"].startswith("text/event-stream")
        session_id = init.headers["mcp-session-id"]
        assert orjson.loads(decode_all(init.content)[0].data)["result"]["protocolVersion"] == "2025-06-18"
        assert direct_ping(mock, session_id) == 200  # the id the client holds is the mock's own
        session = {"mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}
        note = client.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        assert (note.status_code, note.content, note.headers["mcp-session-id"]) == (202, b"", session_id)
        bad_version = client.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
                                  headers={**session, "mcp-protocol-version": "1999-01-01"})
        assert bad_version.status_code == 400  # MCP-Protocol-Version reached the server
        subscribe = {"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {"uri": "docs://mcp-servers"}}
        assert client.post("/mcp", json=subscribe, headers={**session, "accept": "application/json"}).status_code == 200
        with client.stream("GET", "/mcp", headers={**session, "accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200 and stream.headers["mcp-session-id"] == session_id
            time.sleep(1.5)  # silent for longer than the backend's 1 s timeout: the stream must survive
            notify = httpx.post(f"{mock}/_mock/mcp/default/notify", json={"uri": "docs://mcp-servers"},
                                headers={"authorization": "Bearer mock-admin"})
            assert notify.status_code == 200, notify.text
            chunks = stream.iter_bytes()
            event = next(chunks)
            assert b"notifications/resources/updated" in event
            ended = client.delete("/mcp", headers=session)
            assert ended.status_code == 204
    assert direct_ping(mock, session_id) == 404


def test_stream_idle_timeout_ends_a_silent_get_stream(stack):
    mock, _ = stack
    with running_gateway(gateway_config(mock, **{"stream-idle-timeout": 0.5})) as (gateway, _, _), \
            httpx.Client(base_url=gateway, headers={"api-key": KEY}, timeout=10) as client:
        init = client.post("/mcp", json=INIT, headers={"accept": "application/json"})
        session = {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        started = time.monotonic()
        with client.stream("GET", "/mcp", headers={**session, "accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200 and b"".join(stream.iter_bytes()) == b""  # ended, nothing invented
        assert 0.4 < time.monotonic() - started < 5


def test_mcp_refusals_are_json_rpc_errors_with_apim_data(stack):
    _, gateway = stack
    missing = httpx.post(f"{gateway}/mcp", json=INIT, headers={"accept": BOTH})
    assert missing.status_code == 401 and "www-authenticate" in missing.headers
    body = missing.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32600
    assert body["error"]["message"].startswith("Access denied due to missing subscription key")
    assert body["error"]["data"]["statusCode"] == 401
    wrong = httpx.post(f"{gateway}/mcp", json=INIT, headers={"accept": BOTH, "api-key": "not-a-key-at-all"})
    assert wrong.status_code == 401 and wrong.json()["error"]["data"]["message"].startswith("Access denied due to invalid")


async def _calls_until_refused(gateway: str) -> tuple[int, MCPError]:
    http = create_mcp_http_client(headers={"api-key": LIMITED_KEY})
    async with http, streamable_http_client(f"{gateway}/mcp", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()  # POSTs 1 and 2: initialize, notifications/initialized
            await asyncio.sleep(0.2)  # the SDK's GET stream opens meanwhile: streams are not counted
            calls = 0
            try:
                while calls < 2 * LIMIT:
                    await session.send_ping()
                    calls += 1
            except MCPError as error:
                return calls, error
    raise AssertionError("the rate limit never refused a call")


def test_mcp_rate_limit_counts_each_post(stack):
    _, gateway = stack
    calls, error = run(_calls_until_refused(gateway))
    assert calls == LIMIT - 2  # the (LIMIT+1)th POST of the subscription is refused
    assert error.error.message.startswith("Rate limit is exceeded. Try again in")
    assert error.error.data["statusCode"] == 429
    refused = httpx.post(f"{gateway}/mcp", json={"jsonrpc": "2.0", "id": "p-7", "method": "ping"},
                         headers={"api-key": LIMITED_KEY, "accept": BOTH, "mcp-session-id": "whatever"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.headers["x-remaining-calls"] == "0"
    assert refused.json()["id"] == "p-7" and refused.json()["error"]["code"] == -32600


# --- A2A ---------------------------------------------------------------------------------------

def test_agent_cards_are_rewritten_to_the_gateway(stack):
    mock, gateway = stack

    async def cards():
        async with httpx.AsyncClient() as http:  # no key: cards are public (discovery)
            default = await A2ACardResolver(http, gateway).get_agent_card()
            researcher = await A2ACardResolver(http, f"{gateway}/agents/researcher").get_agent_card()
        return default, researcher

    default, researcher = run(cards())
    assert [(i.url, i.protocol_binding) for i in default.supported_interfaces] == [
        (f"{gateway}/agents/assistant", "JSONRPC"), (f"{gateway}/agents/assistant", "HTTP+JSON")]
    assert [i.url for i in researcher.supported_interfaces] == [f"{gateway}/agents/researcher"] * 2
    assert set(default.security_schemes) == {"subscriptionKey", "apimSubscriptionKey"}
    assert default.security_schemes["subscriptionKey"].api_key_security_scheme.name == "api-key"
    assert default.security_schemes["apimSubscriptionKey"].api_key_security_scheme.location == "header"
    assert [set(r.schemes) for r in default.security_requirements] == [{"subscriptionKey"}, {"apimSubscriptionKey"}]
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "ai.example.com, proxy.internal"}
    raw = httpx.get(f"{gateway}/.well-known/agent-card.json", headers=forwarded)
    assert mock not in raw.text
    card = raw.json()  # forwarding headers from a client that is no trusted proxy are ignored
    assert card["url"] == f"{gateway}/agents/assistant" and card["security"] == [{"subscriptionKey": []}, {"apimSubscriptionKey": []}]
    assert httpx.get(f"{gateway}/.well-known/agent-card.json", headers={"api-key": "forged-key-123"}).status_code == 401
    trusting = gateway_config(mock).model_copy(update={"security": Security(**{"trusted-proxies": ["127.0.0.0/8"]})})
    with running_gateway(trusting) as (behind_proxy, _, _):
        card = httpx.get(f"{behind_proxy}/.well-known/agent-card.json", headers=forwarded).json()
    assert card["url"] == "https://ai.example.com/agents/assistant"  # v0.3 field
    assert card["supportedInterfaces"][0]["url"] == "https://ai.example.com/agents/assistant"


def user_message(text: str, message_id: str) -> pb.Message:
    return pb.Message(role=pb.Role.ROLE_USER, message_id=message_id, parts=[pb.Part(text=text)])


async def _a2a_flow(gateway: str) -> dict:
    seen: dict = {}
    async with httpx.AsyncClient(headers={"api-key": KEY}, timeout=20) as http:
        client = await create_client(f"{gateway}/agents/assistant", ClientConfig(streaming=False, httpx_client=http))
        try:
            events = [e async for e in client.send_message(pb.SendMessageRequest(message=user_message("What is APIM?", "gw-1")))]
            seen["task"] = events[-1].task
            seen["again"] = await client.get_task(pb.GetTaskRequest(id=seen["task"].id))
            slow = pb.SendMessageRequest(message=user_message("Research this slowly", "gw-2"),
                                         configuration=pb.SendMessageConfiguration(return_immediately=True))
            working = [e async for e in client.send_message(slow)][-1].task
            seen["canceled"] = await client.cancel_task(pb.CancelTaskRequest(id=working.id))
        finally:
            await client.close()
        streaming = await create_client(f"{gateway}/agents/assistant", ClientConfig(streaming=True, httpx_client=http))
        try:
            request = pb.SendMessageRequest(message=user_message("Explain SSE", "gw-3"))
            seen["stream"] = [e async for e in streaming.send_message(request)]
        finally:
            await streaming.close()
    return seen


def test_a2a_sdk_client_works_through_the_gateway_only(stack):
    _, gateway = stack
    seen = run(_a2a_flow(gateway))
    task = seen["task"]
    assert task.status.state == pb.TaskState.TASK_STATE_COMPLETED and task.artifacts[0].parts[0].text
    assert seen["again"].id == task.id and seen["again"].status.state == pb.TaskState.TASK_STATE_COMPLETED
    assert seen["canceled"].status.state == pb.TaskState.TASK_STATE_CANCELED
    kinds = [e.WhichOneof("payload") for e in seen["stream"]]
    assert kinds[0] == "task" and "artifact_update" in kinds
    states = [e.status_update.status.state for e in seen["stream"] if e.HasField("status_update")]
    assert states == [pb.TaskState.TASK_STATE_WORKING, pb.TaskState.TASK_STATE_COMPLETED]


@pytest.fixture(scope="module")
def receiver():
    webhooks = WebhookReceiver()
    yield webhooks
    webhooks.close()


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_a2a_every_sdk_operation_and_push_delivery_through_the_gateway(stack, receiver, binding):
    """Both bindings through the gateway only (the mock wants a key the client never has); push configs
    pass untouched, so the agent calls the client's webhook itself, with the client's credentials."""
    mock, gateway = stack
    seen = run_long(a2a_sdk_scenario.run(f"{gateway}/agents/assistant", binding, receiver, {"api-key": KEY}, "-gw"))
    a2a_sdk_scenario.check(seen)
    assert all(r.startswith(("GET /agents/", "POST /agents/", "DELETE /agents/")) for r in seen["requests"])
    config = httpx.get(f"{gateway}/agents/assistant/tasks/{seen['ask'].id}/pushNotificationConfigs/cfg-1",
                       headers={"api-key": KEY})
    assert config.json()["url"] == receiver.url + seen["hook"] + "/later"  # the webhook URL is not rewritten


def test_a2a_http_json_refusals_keep_apim_bodies_and_are_metered(stack):
    _, gateway = stack
    missing = httpx.get(f"{gateway}/agents/assistant/tasks/x")
    assert missing.status_code == 401 and missing.json()["statusCode"] == 401  # APIM's body: a REST client reads the status
    unknown = httpx.get(f"{gateway}/agents/assistant/tasks/no-such-task", headers={"api-key": KEY})
    assert unknown.status_code == 404 and unknown.json()["error"]["details"][0]["reason"] == "TASK_NOT_FOUND"
    card = f"{gateway}/agents/assistant/.well-known/agent-card.json"
    for _ in range(LIMIT):
        assert httpx.get(card, headers={"api-key": A2A_LIMITED_KEY}).status_code == 200  # card reads are not counted
        assert httpx.get(f"{gateway}/agents/assistant/tasks/x", headers={"api-key": A2A_LIMITED_KEY}).status_code == 404
    limited = httpx.get(f"{gateway}/agents/assistant/tasks/x", headers={"api-key": A2A_LIMITED_KEY})
    assert limited.status_code == 429  # every HTTP+JSON operation counts, GETs included


def test_a2a_without_a_key_is_a_json_rpc_401(stack):
    _, gateway = stack
    response = httpx.post(f"{gateway}/agents/assistant", json={"jsonrpc": "2.0", "id": 5, "method": "GetTask",
                                                               "params": {"id": "x"}})
    assert response.status_code == 401
    assert response.json()["id"] == 5 and response.json()["error"]["data"]["statusCode"] == 401


# --- units -------------------------------------------------------------------------------------

def test_a_v03_card_keeps_only_json_rpc_and_drops_signatures():
    card = {"name": "legacy", "url": "grpc://agent:50051", "preferredTransport": "GRPC",
            "additionalInterfaces": [{"url": "grpc://agent:50051", "transport": "GRPC"},
                                     {"url": "http://agent:8080/rpc", "transport": "JSONRPC"}],
            "security": [{"oauth": []}], "securitySchemes": {"oauth": {"type": "oauth2"}}, "signatures": [{"x": 1}]}
    api = GatewayConfig.model_validate({"backends": [{"id": "b", "url": "http://agent:8080"}],
                                        "apis": [{"id": "a", "path": "/x", "kind": "a2a", "backend": "b",
                                                  "subscription-key-header": "Ocp-Apim-Subscription-Key"}]}).apis[0]
    out = rewrite_card(card, lambda url: url.replace("http://agent:8080", "https://gw/x"), subscription_security(api))
    assert out["url"] == "https://gw/x/rpc" and out["preferredTransport"] == "JSONRPC"
    assert out["additionalInterfaces"] == [{"url": "https://gw/x/rpc", "transport": "JSONRPC"}]
    assert "signatures" not in out and out["security"] == [{"subscriptionKey": []}]
    assert out["securitySchemes"]["subscriptionKey"]["name"] == "Ocp-Apim-Subscription-Key"


def test_a_v1_card_keeps_json_rpc_and_http_json_and_drops_grpc():
    card = {"name": "agent", "supportedInterfaces": [
        {"url": "http://agent:8080/a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": "http://agent:8080/a", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
        {"url": "agent:50051", "protocolBinding": "GRPC", "protocolVersion": "1.0"}]}
    out = rewrite_card(card, lambda url: url.replace("http://agent:8080", "https://gw/x"), None)
    assert [(i["url"], i["protocolBinding"]) for i in out["supportedInterfaces"]] == [
        ("https://gw/x/a", "JSONRPC"), ("https://gw/x/a", "HTTP+JSON")]
