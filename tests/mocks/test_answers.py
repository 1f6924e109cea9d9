"""What the mock answers: deterministic, exact token counts, and streams equal to the JSON answers."""

import base64
import json

import jsonschema
import numpy as np
import pytest
import requests

from aigw.protocol.sse import decode_all
from aigw.protocol.tokens import count_chat_prompt, count_text

AZURE = "/openai/deployments/{}/{}?api-version=2024-10-21"


def chat(url, body, deployment="gpt-4o"):
    response = requests.post(url + AZURE.format(deployment, "chat/completions"), json=body)
    assert response.status_code == 200, response.text
    return response


def stream_chunks(response):
    assert response.headers["content-type"].startswith("text/event-stream")
    events = decode_all(response.content)
    assert events[-1].data == "[DONE]"
    assert response.content.endswith(b"data: [DONE]\n\n")
    return [json.loads(e.data) for e in events[:-1]]


def streamed_text(chunks, index=0):
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"] and c["choices"][0]["index"] == index
    )


def test_same_request_same_answer_and_seed_changes_it(mock_server):
    body = {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 30}
    first, second = chat(mock_server, body).json(), chat(mock_server, body).json()
    assert first["choices"] == second["choices"] and first["id"] == second["id"]
    other = chat(mock_server, {**body, "seed": 1}).json()
    assert other["choices"][0]["message"]["content"] != first["choices"][0]["message"]["content"]


@pytest.mark.parametrize("deployment, model", [("gpt-4o", "gpt-4o"), ("gpt-4", "gpt-4"), ("gpt-35-turbo", "gpt-35-turbo")])
@pytest.mark.parametrize("cap", [1, 7, 64])
def test_max_tokens_is_honoured_exactly(mock_server, deployment, model, cap):
    body = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe the sea at length"}],
            "max_tokens": cap, "seed": 3}
    answer = chat(mock_server, body, deployment).json()
    content = answer["choices"][0]["message"]["content"]
    usage = answer["usage"]
    assert usage["completion_tokens"] == count_text(content, model) <= cap
    assert usage["prompt_tokens"] == count_chat_prompt(body["messages"], model)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if answer["choices"][0]["finish_reason"] == "length":
        assert usage["completion_tokens"] == cap


def test_max_completion_tokens_wins(mock_server):
    body = {"messages": [{"role": "user", "content": "Go on"}], "max_completion_tokens": 3}
    answer = chat(mock_server, body).json()
    assert answer["usage"]["completion_tokens"] == 3 and answer["choices"][0]["finish_reason"] == "length"


def test_stop_sequence_cuts_before_it(mock_server):
    body = {"messages": [{"role": "user", "content": "Write prose"}], "max_tokens": 80}
    full = chat(mock_server, body).json()["choices"][0]["message"]["content"]
    stop = full.split()[5]
    cut = chat(mock_server, {**body, "stop": [" " + stop]}).json()
    text = cut["choices"][0]["message"]["content"]
    assert text == full[: full.index(" " + stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["usage"]["completion_tokens"] == count_text(text, "gpt-4o")


def test_n_choices_are_distinct_and_counted(mock_server):
    answer = chat(mock_server, {"messages": [{"role": "user", "content": "Hi"}], "n": 3, "max_tokens": 10}).json()
    assert [c["index"] for c in answer["choices"]] == [0, 1, 2]
    texts = [c["message"]["content"] for c in answer["choices"]]
    assert len(set(texts)) == 3
    assert answer["usage"]["completion_tokens"] == sum(count_text(t, "gpt-4o") for t in texts)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                           "days": {"type": "integer", "minimum": 1, "maximum": 7}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {"type": "function", "function": {"name": "search_docs", "description": "Search documentation",
                                           "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}


def test_tools_produce_valid_tool_calls(mock_server):
    body = {"messages": [{"role": "user", "content": "What is the weather in Paris?"}], "tools": [SEARCH, WEATHER]}
    answer = chat(mock_server, body).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER["function"]["parameters"])


def test_tool_result_gets_a_text_answer_and_none_means_none(mock_server):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                                                                "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    after = chat(mock_server, {"messages": messages, "tools": [WEATHER], "max_tokens": 10}).json()["choices"][0]
    assert after["finish_reason"] in ("stop", "length") and after["message"]["content"]
    none = chat(mock_server, {"messages": messages[:1], "tools": [WEATHER], "tool_choice": "none", "max_tokens": 5}).json()
    assert "tool_calls" not in none["choices"][0]["message"]


def test_forced_function_is_called(mock_server):
    body = {"messages": [{"role": "user", "content": "anything"}], "tools": [SEARCH, WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "search_docs"}}}
    choice = chat(mock_server, body).json()["choices"][0]
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "search_docs"


def test_json_modes_parse_and_validate(mock_server):
    as_object = chat(mock_server, {"messages": [{"role": "user", "content": "JSON please"}],
                                   "response_format": {"type": "json_object"}}).json()
    assert isinstance(json.loads(as_object["choices"][0]["message"]["content"]), dict)
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                                               "tags": {"type": "array", "items": {"type": "string"}}},
              "required": ["name", "age", "tags"], "additionalProperties": False}
    structured = chat(mock_server, {"messages": [{"role": "user", "content": "A person"}],
                                    "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}}).json()
    jsonschema.validate(json.loads(structured["choices"][0]["message"]["content"]), schema)


@pytest.mark.parametrize("path_style", ["azure", "v1"])
def test_stream_equals_json_answer(mock_server, path_style):
    body = {"messages": [{"role": "user", "content": "Stream a story"}], "max_tokens": 40, "n": 2}
    if path_style == "azure":
        url = mock_server + AZURE.format("gpt-4o", "chat/completions")
    else:
        url, body = mock_server + "/v1/chat/completions", {**body, "model": "gpt-4o"}
    whole = requests.post(url, json=body).json()
    response = requests.post(url, json={**body, "stream": True, "stream_options": {"include_usage": True}})
    chunks = stream_chunks(response)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"] == whole["id"]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    choice_chunks = [c for c in chunks if c["choices"]]
    assert choice_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    for index in (0, 1):
        assert streamed_text(chunks, index) == whole["choices"][index]["message"]["content"]
        finishes = [c["choices"][0]["finish_reason"] for c in choice_chunks if c["choices"][0]["index"] == index]
        assert finishes[-1] == whole["choices"][index]["finish_reason"] and all(f is None for f in finishes[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])
    if path_style == "azure":
        assert chunks[0]["choices"] == [] and "prompt_filter_results" in chunks[0]


def test_stream_without_include_usage_has_no_usage(mock_server):
    response = requests.post(mock_server + "/v1/chat/completions",
                             json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True, "max_tokens": 5})
    chunks = stream_chunks(response)
    assert all("usage" not in c for c in chunks) and all(c["choices"] for c in chunks)


def test_stream_tool_call_arguments_concatenate(mock_server):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "weather in Oslo"}], "tools": [WEATHER]}
    whole = requests.post(mock_server + "/v1/chat/completions", json=body).json()
    chunks = stream_chunks(requests.post(mock_server + "/v1/chat/completions", json={**body, "stream": True}))
    arguments = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                        for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls"))
    assert arguments == whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_logprobs_one_per_token(mock_server):
    answer = chat(mock_server, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "logprobs": True, "top_logprobs": 3}).json()
    entries = answer["choices"][0]["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == answer["choices"][0]["message"]["content"]
    assert len(entries) == answer["usage"]["completion_tokens"]
    for entry in entries:
        assert entry["logprob"] <= 0 and len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0]["token"] == entry["token"]


def test_legacy_completions(mock_server):
    url = mock_server + AZURE.format("gpt-35-turbo-instruct", "completions")
    answer = requests.post(url, json={"prompt": ["Once upon a time", "In a galaxy"], "max_tokens": 8, "n": 2}).json()
    assert answer["object"] == "text_completion" and len(answer["choices"]) == 4
    assert answer["usage"]["completion_tokens"] == sum(count_text(c["text"], "gpt-35-turbo-instruct") for c in answer["choices"])
    streamed = requests.post(url, json={"prompt": "Once upon a time", "max_tokens": 8, "stream": True})
    chunks = stream_chunks(streamed)
    whole = requests.post(url, json={"prompt": "Once upon a time", "max_tokens": 8}).json()
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    echo = requests.post(url, json={"prompt": "Echo me", "max_tokens": 3, "echo": True}).json()
    assert echo["choices"][0]["text"].startswith("Echo me")


@pytest.mark.parametrize("deployment, dims", [("text-embedding-ada-002", 1536), ("text-embedding-3-small", 1536), ("text-embedding-3-large", 3072)])
def test_embeddings_dimensions_and_unit_length(mock_server, deployment, dims):
    answer = requests.post(mock_server + AZURE.format(deployment, "embeddings"), json={"input": ["alpha beta", "gamma"]}).json()
    assert [d["index"] for d in answer["data"]] == [0, 1]
    for item in answer["data"]:
        vector = np.array(item["embedding"])
        assert vector.shape == (dims,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] == count_text("alpha beta", deployment) + count_text("gamma", deployment)


def test_embeddings_dimensions_base64_and_meaning(mock_server):
    url = mock_server + AZURE.format("text-embedding-3-small", "embeddings")
    short = requests.post(url, json={"input": "What is the capital of France?", "dimensions": 256, "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(short["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (256,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    texts = ["What is the capital of France?", "Tell me the capital city of France", "How do I bake sourdough bread?"]
    vectors = [np.array(d["embedding"]) for d in requests.post(url, json={"input": texts}).json()["data"]]
    assert vectors[0] @ vectors[1] >= 0.9 and vectors[0] @ vectors[2] <= 0.3
    ada = requests.post(mock_server + AZURE.format("text-embedding-ada-002", "embeddings"), json={"input": "x", "dimensions": 8})
    assert ada.status_code == 400 and ada.json()["error"]["param"] == "dimensions"


def test_models_listing(mock_server):
    listing = requests.get(mock_server + "/v1/models").json()
    assert listing["object"] == "list" and "gpt-4o" in {m["id"] for m in listing["data"]}
    assert requests.get(mock_server + "/v1/models/gpt-4o").json()["id"] == "gpt-4o"
    assert requests.get(mock_server + "/v1/models/nope").status_code == 404


def test_memoised_answers_still_get_a_fresh_created_and_request_id(fresh_mock):
    url, app = fresh_mock
    body = {"messages": [{"role": "user", "content": "memo"}], "max_tokens": 5}
    first = chat(url, body)
    requests.post(url + "/_mock/clock/advance", json={"seconds": 5}, headers={"authorization": "Bearer mock-admin"})
    second = chat(url, body)
    assert len(app.answers) >= 1
    assert second.json()["created"] - first.json()["created"] >= 5
    assert second.json()["choices"] == first.json()["choices"]
    assert first.headers["apim-request-id"] != second.headers["apim-request-id"]
    counters = requests.get(url + "/_mock/counters", headers={"authorization": "Bearer mock-admin"}).json()
    assert counters["deployments"]["gpt-4o"]["completion_tokens"] == 2 * first.json()["usage"]["completion_tokens"]
