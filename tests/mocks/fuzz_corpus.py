"""The request corpus for test_fuzz_malformed: valid and rich requests, vocabularies, and the crasher table.

Kept apart from the test so the test file reads as the oracle and the plan (what is checked, how many
requests per family), while this module holds the data the Hypothesis strategies in ``fuzz_strategies``
draw from and the minimised requests that once crashed the mock. No ``test_`` prefix: pytest does not
collect it; the test imports it (pytest puts this directory on ``sys.path``).
"""

import string
from dataclasses import dataclass

import pytest

KEY = "fuzz-key"
API_VERSION = "2024-10-21"

DEPLOYMENTS = {
    "chat": ["gpt-4o", "gpt-4"],
    "completions": ["gpt-35-turbo-instruct"],
    "embeddings": ["text-embedding-3-small", "text-embedding-ada-002"],
}
SUFFIX = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}
SCHEMA = {"chat": "chat-completion-request", "completions": "completion-request", "embeddings": "embedding-request"}
VALID = {
    "chat": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}], "max_tokens": 8},
    "completions": {"prompt": "Once upon a time", "max_tokens": 8},
    "embeddings": {"input": "hello world"},
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
#: Full-featured valid requests, for the mutation family: each field here is one a mutation can hit.
RICH = {
    "chat": [
        {"messages": [{"role": "user", "content": "Weather in Oslo?"}], "tools": [WEATHER], "tool_choice": "auto",
         "parallel_tool_calls": True, "max_tokens": 30, "temperature": 0.2, "user": "u1"},
        {"messages": [{"role": "system", "content": "JSON only"}, {"role": "user", "content": [{"type": "text", "text": "A city"}]}],
         "response_format": {"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": {
             "type": "object", "properties": {"name": {"type": "string"}, "pop": {"type": "integer", "minimum": 0}},
             "required": ["name", "pop"], "additionalProperties": False}}}, "seed": 7},
        {"messages": [{"role": "user", "content": "Count"}], "stream": True, "stream_options": {"include_usage": True}, "n": 2,
         "logprobs": True, "top_logprobs": 3, "stop": ["\n\n", "END"], "max_completion_tokens": 12, "logit_bias": {"50256": -100}},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}], "tools": [WEATHER],
         "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "presence_penalty": 1.0, "frequency_penalty": -1.0},
        {"messages": [{"role": "user", "content": "Answer in JSON"}], "response_format": {"type": "json_object"}, "top_p": 0.5,
         "functions": [{"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}],
         "function_call": "auto"},
    ],
    "completions": [
        {"prompt": ["Tell me", "a story"], "max_tokens": 10, "n": 2, "echo": True, "logprobs": 2, "stop": "."},
        {"prompt": [1212, 318, 257], "max_tokens": 5, "stream": True, "stream_options": {"include_usage": True}, "best_of": 2,
         "suffix": "end", "seed": 3, "logit_bias": {"13": 5}},
    ],
    "embeddings": [
        {"input": ["first text", "second text"], "encoding_format": "base64", "dimensions": 64, "user": "u"},
        {"input": [[1, 2, 3], [4, 5]], "encoding_format": "float"},
    ],
}
NESTED_PATHS = {
    "chat": [("messages", 0, "role"), ("messages", 0, "content"), ("messages", 1), ("messages", 1, "name"),
             ("stream_options", "include_usage"), ("tools", 0, "function", "name"), ("tools", 0, "function", "parameters"),
             ("tools", 0, "type"), ("response_format", "type"), ("response_format", "json_schema"), ("tool_choice", "function")],
    "completions": [("prompt", 0), ("stream_options", "include_usage"), ("logit_bias", "13")],
    "embeddings": [("input", 0), ("input", 0, 0)],
}
INTEGER_FIELDS = ["max_tokens", "max_completion_tokens", "n", "top_logprobs", "logprobs", "seed", "best_of", "dimensions"]
NUMBER_FIELDS = ["temperature", "top_p", "presence_penalty", "frequency_penalty"]
ODD_NUMBER_LITERALS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "00", "01", "+1", ".5", "1.", "0x10", "1e", "-", "1_000",
                       "100000000000000000000000", "-9223372036854775809", "18446744073709551616", "5.0", "2.0", "1e2", "-0",
                       "0.0000000000000000000000001", "123456789012345678901234567890.5"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json",
                 "application/vnd.api+json", "text/plain", "text/json", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/octet-stream", "application/jsonx", "application/json;", ";application/json", "json", "*/*", "",
                 " application/json ", "application/json; charset=latin-1", "application/xml", "application/+json"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]
PATH_PREFIXES = ["/", "/v1/", "/openai/v1/", "/openai/", "/openai/deployments/", "/deployments/", "/openai/models",
                 "/v1/models/", "/v1/chat/", "/openai/deployments/gpt-4o/", "/deployments/gpt-4o/chat/", "//", "/v2/"]
API_VERSIONS = [API_VERSION, "2024-02-15-preview", "2025-04-01-preview", "", "latest", "2024-10-21 ", "1999-01-01", "2024-13-45",
                "v1", "2024-10-21-preview", "%20", "2024-10-21&api-version=1999-01-01"]
URL_SAFE = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes | None

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        body = self.body if self.body is None or len(self.body) < 400 else self.body[:400] + b"...(%d bytes)" % len(self.body)
        return f"Request({self.method} {self.target} headers={self.headers} body={body!r})"


def good_headers() -> list[tuple[str, str]]:
    return [("Host", "mock"), ("Content-Type", "application/json"), ("api-key", KEY)]


def post(target: str, body: bytes, headers: list[tuple[str, str]] | None = None) -> Request:
    return Request("POST", target, headers if headers is not None else good_headers(), body)


def set_path(document, path: tuple, value):
    """Set ``document[path]``, creating containers on the way; returns the (possibly new) document."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        container = document if isinstance(document, list) else []
        while len(container) <= head:
            container.append({})
        container[head] = set_path(container[head], rest, value)
        return container
    container = document if isinstance(document, dict) else {}
    container[head] = set_path(container.get(head), rest, value)
    return container


# --- minimised crashers found by the fuzz ---------------------------------------------------------------

CHAT_PATH = f"/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}"
COMPLETIONS_PATH = f"/openai/deployments/gpt-35-turbo-instruct/completions?api-version={API_VERSION}"
HI = '"messages":[{"role":"user","content":"x"}]'

#: Each was a 500 (a traceback in the mock); the real service answers these with a 400.
CRASHERS = [
    # JSON Schema counts 5.0 (and 1e23, which a too-big integer literal parses to) as an integer,
    # so these pass validation, then the mock slices or ranges with a float.
    pytest.param(CHAT_PATH, "{%s,\"max_tokens\":5.0}" % HI, id="chat-max_tokens-5.0"),
    pytest.param(CHAT_PATH, "{%s,\"max_tokens\":100000000000000000000000}" % HI, id="chat-max_tokens-bigint"),
    pytest.param(CHAT_PATH, "{%s,\"n\":2.0}" % HI, id="chat-n-2.0"),
    pytest.param(COMPLETIONS_PATH, '{"prompt":"x","max_tokens":3.0}', id="completions-max_tokens-3.0"),
    pytest.param(COMPLETIONS_PATH, '{"prompt":"x","max_tokens":3,"logprobs":2.0}', id="completions-logprobs-2.0"),
    # Token ids outside the vocabulary, echoed back: the tokenizer cannot decode them.
    pytest.param(COMPLETIONS_PATH, '{"prompt":[99999999],"echo":true,"max_tokens":2}', id="completions-echo-unknown-token"),
    # Tool / response_format schemas the generator cannot satisfy or read.
    pytest.param(CHAT_PATH, '{%s,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",'
                 '"properties":{"a":{"type":"string","minLength":5,"maxLength":2}},"required":["a"]}}}],"tool_choice":"required"}' % HI,
                 id="tool-unsatisfiable-schema"),
    pytest.param(CHAT_PATH, '{%s,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"frog"}}}}' % HI,
                 id="json_schema-unknown-type"),
    pytest.param(CHAT_PATH, '{%s,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"$ref":"#/nope"}}}}' % HI,
                 id="json_schema-dangling-ref"),
    pytest.param(CHAT_PATH, '{%s,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"string","pattern":"(("}}}}' % HI,
                 id="json_schema-invalid-pattern"),
    pytest.param(CHAT_PATH, '{%s,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"oneOf":[{},{"$ref":"#"}]}}}}' % HI,
                 id="json_schema-oneOf-self-ref"),
    pytest.param(CHAT_PATH, '{%s,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"oneOf":[{},{"$ref":"#/nope"}]}}}}' % HI,
                 id="json_schema-oneOf-dangling-ref"),
    pytest.param(CHAT_PATH, '{%s,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","required":[["a"]]}}}],'
                 '"tool_choice":"required"}' % HI, id="tool-required-not-strings"),
    pytest.param(CHAT_PATH, '{%s,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":[{}]}}}],'
                 '"tool_choice":"required"}' % HI, id="tool-properties-not-an-object"),
    # Nesting orjson accepts (≤ 1024) but jsonschema-rs refuses past ~255 levels: "Recursion limit reached".
    pytest.param(CHAT_PATH, '{"messages":[{"role":"user","content":%s"x"%s}]}' % ("[" * 300, "]" * 300), id="nesting-300-deep"),
]
