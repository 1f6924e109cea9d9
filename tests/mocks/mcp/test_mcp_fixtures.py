"""The fixture servers: deterministic tools, resources (text, blob, templates), prompts, completion, paging."""

import base64

import httpx
import pytest

from mcp_helpers import BOTH, RawSession, mock_config, running_mock, sse_messages, with_mcp_server


@pytest.fixture(scope="module")
def client():
    with running_mock() as (url, _):
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


@pytest.fixture
def session(client):
    return RawSession(client)


def test_tools_are_listed_with_input_schemas(session):
    tools = {t["name"]: t for t in session.result("tools/list")["tools"]}
    assert set(tools) == {"calculator", "get_weather", "search_docs", "slow_task", "failing_tool"}
    assert all(t["inputSchema"]["type"] == "object" and t["description"] for t in tools.values())
    assert tools["calculator"]["outputSchema"]["required"] == ["result"]


@pytest.mark.parametrize("arguments, text, value", [
    ({"operation": "add", "a": 2, "b": 3}, "2 add 3 = 5", 5),
    ({"operation": "divide", "a": 7, "b": 2}, "7 divide 2 = 3.5", 3.5),
    ({"operation": "power", "a": 2, "b": 10}, "2 power 10 = 1024", 1024),
])
def test_calculator(session, arguments, text, value):
    result = session.result("tools/call", {"name": "calculator", "arguments": arguments})
    assert result["content"] == [{"type": "text", "text": text}] and result["structuredContent"] == {"result": value}
    assert "isError" not in result


def test_failures_are_results_with_is_error(session):
    divided = session.result("tools/call", {"name": "calculator", "arguments": {"operation": "divide", "a": 1, "b": 0}})
    assert divided["isError"] is True and "zero" in divided["content"][0]["text"]
    failed = session.result("tools/call", {"name": "failing_tool", "arguments": {"reason": "disk full"}})
    assert failed["isError"] is True and "disk full" in failed["content"][0]["text"]


def test_invalid_arguments_per_version(client):
    bad = {"name": "calculator", "arguments": {"operation": "modulo", "a": 1}}
    newest = RawSession(client, version="2025-11-25").result("tools/call", bad)
    assert newest["isError"] is True and "operation" in newest["content"][0]["text"]  # SEP-1303: the model retries
    older = RawSession(client, version="2025-06-18").error("tools/call", bad)
    assert older["code"] == -32602 and "'b' is a required property" in older["message"]


def _weather(seed: int, location: str) -> dict:
    with running_mock(mock_config(seed=seed)) as (url, _):
        with httpx.Client(base_url=url) as client:
            return RawSession(client).result("tools/call", {"name": "get_weather", "arguments": {"location": location}})


def test_weather_is_deterministic_by_seed():
    first = _weather(1, "Seattle")
    assert first == _weather(1, "Seattle")
    assert first["structuredContent"]["location"] == "Seattle"
    assert first["content"][0]["text"].startswith("The weather in Seattle is ")
    others = [_weather(seed, "Seattle")["structuredContent"] for seed in (2, 3, 4)]
    assert any(o != first["structuredContent"] for o in others)


def test_search_ranks_the_corpus(session):
    result = session.result("tools/call", {"name": "search_docs", "arguments": {"query": "token limits 429", "limit": 2}})
    hits = result["structuredContent"]["results"]
    assert hits[0]["uri"] == "docs://token-limits" and len(hits) <= 2
    empty = session.result("tools/call", {"name": "search_docs", "arguments": {"query": "zebra"}})
    assert empty["structuredContent"]["results"] == [] and "No document matches" in empty["content"][0]["text"]


def test_slow_tool_without_token_sends_no_progress(session):
    response = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                             "params": {"name": "slow_task", "arguments": {"steps": 2, "step_ms": 1}}}, accept=BOTH)
    methods = [m.get("method") for m in sse_messages(response.content)]
    assert "notifications/progress" not in methods and methods.count("notifications/message") == 2


def test_logging_level_filters_messages(session):
    assert session.result("logging/setLevel", {"level": "error"}) == {}
    response = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                             "params": {"name": "slow_task", "arguments": {"steps": 1, "step_ms": 0}}}, accept=BOTH)
    assert [m.get("method") for m in sse_messages(response.content)] == [None]


def test_resources_text_blob_and_templates(session):
    resources = {r["uri"]: r for r in session.result("resources/list")["resources"]}
    assert "docs://token-limits" in resources and resources["docs://logo.png"]["mimeType"] == "image/png"
    text = session.result("resources/read", {"uri": "docs://token-limits"})["contents"][0]
    assert text["mimeType"] == "text/markdown" and text["text"].startswith("# Token limits")
    blob = session.result("resources/read", {"uri": "docs://logo.png"})["contents"][0]
    assert base64.b64decode(blob["blob"]).startswith(b"\x89PNG")
    templates = {t["uriTemplate"] for t in session.result("resources/templates/list")["resourceTemplates"]}
    assert "weather://{location}/current" in templates
    weather = session.result("resources/read", {"uri": "weather://Paris/current"})["contents"][0]
    assert '"location":"Paris"' in weather["text"]
    sentence = session.result("resources/read", {"uri": "docs://semantic-caching/sentences/1"})["contents"][0]
    assert sentence["text"].startswith("Semantic caching")
    missing = session.error("resources/read", {"uri": "docs://semantic-caching/sentences/9"})
    assert missing["code"] == -32002 and missing["data"] == {"uri": "docs://semantic-caching/sentences/9"}


def test_prompts_list_and_get(session):
    prompts = {p["name"]: p for p in session.result("prompts/list")["prompts"]}
    assert [a["name"] for a in prompts["summarize_document"]["arguments"]] == ["slug", "style"]
    got = session.result("prompts/get", {"name": "summarize_document", "arguments": {"slug": "load-balancing"}})
    assert got["messages"][0]["content"]["resource"]["uri"] == "docs://load-balancing"
    assert got["messages"][1]["content"]["text"].endswith("as one paragraph.")
    assert session.error("prompts/get", {"name": "summarize_document"})["code"] == -32602
    assert session.error("prompts/get", {"name": "summarize_document", "arguments": {"slug": "x"}})["code"] == -32602
    assert session.error("prompts/get", {"name": "nope"})["code"] == -32602


def test_completion(session):
    result = session.result("completion/complete", {"ref": {"type": "ref/prompt", "name": "weather_report"},
                                                    "argument": {"name": "location", "value": "to"}})
    assert result["completion"] == {"values": ["Tokyo", "Toronto"], "total": 2, "hasMore": False}
    template = session.result("completion/complete", {"ref": {"type": "ref/resource", "uri": "weather://{location}/current"},
                                                      "argument": {"name": "location", "value": "l"}})
    assert template["completion"]["values"] == ["Lisbon", "London"]
    unknown = session.error("completion/complete", {"ref": {"type": "ref/prompt", "name": "nope"},
                                                    "argument": {"name": "x", "value": ""}})
    assert unknown["code"] == -32602


def test_pagination_with_cursors():
    with running_mock(with_mcp_server(0, page_size=2)) as (url, _):
        with httpx.Client(base_url=url) as client:
            session, names, cursor = RawSession(client), [], None
            while True:
                page = session.result("tools/list", {"cursor": cursor} if cursor else {})
                names += [t["name"] for t in page["tools"]]
                cursor = page.get("nextCursor")
                if cursor is None:
                    break
            assert len(names) == 5 == len(set(names))


def test_2025_03_26_results_leave_out_newer_fields(client):
    session = RawSession(client, version="2025-03-26")
    assert all("title" not in t and "outputSchema" not in t for t in session.result("tools/list")["tools"])
    result = session.result("tools/call", {"name": "calculator", "arguments": {"operation": "add", "a": 1, "b": 1}})
    assert "structuredContent" not in result


def test_server_subsets_from_config(client):
    docs = RawSession(client, "/mcp/docs")
    assert [t["name"] for t in docs.result("tools/list")["tools"]] == ["search_docs"]
    assert docs.result("prompts/list")["prompts"]


def test_unknown_fixture_names_are_config_errors():
    with pytest.raises(ValueError, match="teleport"):
        with_mcp_server(0, tools=["calculator", "teleport"])
