"""Proof with the official MCP Python SDK (``mcp`` 2.x): its streamable-HTTP client and ``ClientSession``
initialize, list and call tools (with progress), read resources, get prompts — against the running mock."""

import asyncio
import base64

import pytest

from importlib.metadata import version  # noqa: E402

pytest.importorskip("mcp", reason="the official MCP SDK 2.x is in the test extra")
if int(version("mcp").split(".")[0]) < 2:
    pytest.skip(f"needs mcp>=2 (the test extra), found {version('mcp')}", allow_module_level=True)
from mcp import Client, ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from mcp_helpers import running_mock  # noqa: E402


@pytest.fixture(scope="module")
def base_url():
    with running_mock() as (url, _):
        yield url


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


async def _session_flow(url: str) -> dict:
    seen: dict = {"progress": []}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen["progress"].append((progress, total, message))

    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            seen["version"] = init.protocol_version
            seen["server"] = init.server_info.name
            seen["tools"] = [t.name for t in (await session.list_tools()).tools]
            seen["sum"] = await session.call_tool("calculator", {"operation": "multiply", "a": 6, "b": 7})
            seen["fail"] = await session.call_tool("failing_tool", {})
            seen["slow"] = await session.call_tool("slow_task", {"steps": 3, "step_ms": 10}, progress_callback=on_progress)
            seen["doc"] = await session.read_resource("docs://mcp-servers")
            seen["logo"] = await session.read_resource("docs://logo.png")
            seen["templated"] = await session.read_resource("weather://Tokyo/current")
            seen["prompts"] = [p.name for p in (await session.list_prompts()).prompts]
            seen["prompt"] = await session.get_prompt("weather_report", {"location": "Lisbon"})
            seen["ping"] = await session.send_ping()
    return seen


def test_client_session_against_the_mock(base_url):
    seen = run(_session_flow(f"{base_url}/mcp"))
    assert seen["version"] == "2025-11-25" and seen["server"] == "aigw-mock-default"
    assert seen["tools"] == ["calculator", "get_weather", "search_docs", "slow_task", "failing_tool"]
    assert seen["sum"].content[0].text == "6 multiply 7 = 42" and seen["sum"].structured_content == {"result": 42}
    assert seen["sum"].is_error is False and seen["fail"].is_error is True
    assert [p[0] for p in seen["progress"]] == [1, 2, 3] and seen["progress"][-1][2] == "step 3 of 3"
    assert seen["slow"].content[0].text == "Completed 3 steps in 30 ms."
    assert seen["doc"].contents[0].text.startswith("# MCP servers")
    assert base64.b64decode(seen["logo"].contents[0].blob).startswith(b"\x89PNG")
    assert '"location":"Tokyo"' in seen["templated"].contents[0].text
    assert seen["prompts"] == ["summarize_document", "weather_report"]
    assert "Lisbon" in seen["prompt"].messages[0].content.text


async def _client_flow(url: str) -> tuple:
    """``mcp.Client`` in its default mode probes server/discover first and falls back to initialize."""
    async with Client(url) as client:
        tools = await client.list_tools()
        result = await client.call_tool("test_simple_text", {})
        return client.protocol_version, [t.name for t in tools.tools], result.content[0].text


def test_high_level_client_negotiates_down_to_the_handshake(base_url):
    version, tools, text = run(_client_flow(f"{base_url}/mcp/conformance"))
    assert version == "2025-11-25" and "test_simple_text" in tools
    assert text == "This is a simple text response for testing."


async def _sampling_flow(url: str) -> str:
    from mcp import types

    async def sampling(context, params):
        question = params.messages[0].content.text
        return types.CreateMessageResult(role="assistant", model="stub",
                                         content=types.TextContent(type="text", text=f"echo: {question}"))

    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write, sampling_callback=sampling) as session:
            await session.initialize()
            result = await session.call_tool("test_sampling", {"prompt": "2+2?"})
            return result.content[0].text


def test_server_to_client_sampling_round_trip(base_url):
    assert run(_sampling_flow(f"{base_url}/mcp/conformance")) == "LLM response: echo: 2+2?"
