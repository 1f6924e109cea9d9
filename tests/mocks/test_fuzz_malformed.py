"""Thousands of malformed requests: the mock never answers 5xx and never sends a non-JSON error.

Hypothesis generates broken requests in families — wrong types for every schema field, out-of-range and
unparseable numbers, huge / deeply nested / odd-unicode strings, random JSON bodies, invalid UTF-8 and
truncated JSON, wrong content types, missing and duplicated headers, random paths, methods and query
strings, mutations of rich valid requests, and random tool / response_format schemas — for all three
operations in all three path styles. Every answer must be < 500, carry ``apim-request-id``, and every
4xx must be the OpenAI error envelope. Examples are derandomized (same requests on every run, in CI
too) and bounded; the total across families is checked to be at least 2,000 requests.

Requests go over one keep-alive ``http.client`` connection: it sends exactly the bytes and header list
given (duplicates included), which ``requests`` would normalise away. The target mock runs with
``auth.mode: keys`` so the auth step is fuzzed too, with limits so high that only a deliberately huge
``max_tokens`` can exhaust a window — the fuzzer then advances the virtual clock so later requests
still reach the stages behind admission. The admin API (``/_mock/``) is a different contract and is
left out of the random paths.
"""

import http.client
import json
import string
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aigw.protocol.sse import decode_all
from aigw.protocol.spec import load_schema
from conftest import ADMIN, mock_config, running_mock

KEY = "fuzz-key"
API_VERSION = "2024-10-21"
MAX_BODY = 64 * 1024
TOTAL_AT_LEAST = 2000
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

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


@dataclass
class Fuzzer:
    """Sends requests over one keep-alive connection and checks every answer against the oracle."""

    url: str
    sent: Counter = field(default_factory=Counter)  # family → requests sent
    statuses: Counter = field(default_factory=Counter)
    connection: http.client.HTTPConnection | None = None

    def exchange(self, family: str, request: Request) -> None:
        status, headers, body = self._send(request)
        self.sent[family] += 1
        self.statuses[status] += 1
        check_answer(request, status, headers, body)
        if status == 429:  # a huge estimate emptied a window: roll it so later requests get past admission
            self.roll_windows()

    def admitted(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """The answer to ``request`` past the rate limiter (windows rolled and resent once on a 429)."""
        answer = self._send(request)
        if answer[0] == 429:
            self.roll_windows()
            answer = self._send(request)
        return answer

    def roll_windows(self) -> None:
        requests.post(self.url + "/_mock/clock/advance", json={"seconds": 60}, headers=ADMIN).raise_for_status()

    def _send(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            if self.connection is None:
                host, port = self.url.removeprefix("http://").split(":")
                self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                return self._once(self.connection, request)
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2:  # a fresh connection failed too: the mock dropped the request
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _once(connection: http.client.HTTPConnection, request: Request) -> tuple[int, dict[str, str], bytes]:
        connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers:
            connection.putheader(name, value.encode("latin-1"))
        if request.body is not None:
            connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            connection.close()
        return response.status, headers, body


def check_answer(request: Request, status: int, headers: dict[str, str], body: bytes) -> None:
    """The oracle: no 5xx, request ids always, the OpenAI error envelope on every 4xx, parseable 2xx."""
    assert status < 500, f"{status} for {request!r}: {body[:300]!r}"
    assert len(headers.get("apim-request-id", "")) == 36, f"no apim-request-id on {status} for {request!r}"
    if request.method == "HEAD":
        return  # no body on the wire by definition
    content_type = headers.get("content-type", "")
    if status >= 400:
        assert content_type.startswith("application/json"), f"{status} {content_type!r} for {request!r}: {body[:200]!r}"
        payload = json.loads(body)
        assert isinstance(payload, dict) and set(payload) == {"error"}, f"{status} {payload!r}"
        error = payload["error"]
        assert {"code", "message", "param", "type"} <= set(error), error
        assert isinstance(error["message"], str) and error["message"], error
        assert error["code"] is None or isinstance(error["code"], str), error
        assert error["param"] is None or isinstance(error["param"], str), error
        return
    if content_type.startswith("text/event-stream"):
        events = decode_all(body)
        assert events and events[-1].data == "[DONE]", f"stream not ended by [DONE] for {request!r}"
        for event in events[:-1]:
            assert isinstance(json.loads(event.data), dict)
    else:
        assert content_type.startswith("application/json"), f"{status} {content_type!r} for {request!r}"
        assert isinstance(json.loads(body), dict)


# --- strategies --------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
operations = st.sampled_from(sorted(DEPLOYMENTS))


@st.composite
def endpoints(draw, operation: str | None = None) -> tuple[str, str, dict]:
    """(operation, target, fields the path style needs in the body) over all three path styles."""
    operation = operation or draw(operations)
    deployment = draw(st.sampled_from(DEPLOYMENTS[operation]))
    style = draw(st.sampled_from(["azure", "seed", "v1", "openai-v1"]))
    if style == "azure":
        return operation, f"/openai/deployments/{deployment}/{SUFFIX[operation]}?api-version={API_VERSION}", {}
    if style == "seed":
        return operation, f"/deployments/{deployment}/{SUFFIX[operation]}", {}
    prefix = "/v1/" if style == "v1" else "/openai/v1/"
    return operation, prefix + SUFFIX[operation], {"model": deployment}


def good_headers() -> list[tuple[str, str]]:
    return [("Host", "mock"), ("Content-Type", "application/json"), ("api-key", KEY)]


def encode(value, draw) -> bytes:
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8 on purpose


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


def schema_fields(operation: str) -> list[str]:
    return sorted(load_schema(SCHEMA[operation])["properties"])


@st.composite
def wrong_types(draw) -> Request:
    operation, target, extra = draw(endpoints())
    body = json.loads(json.dumps({**VALID[operation], **extra}))
    path = draw(st.sampled_from([(name,) for name in schema_fields(operation)] + NESTED_PATHS[operation]))
    body = set_path(body, path, draw(json_values))
    return post(target, encode(body, draw))


@st.composite
def odd_numbers(draw) -> Request:
    operation, target, extra = draw(endpoints())
    name = draw(st.sampled_from(INTEGER_FIELDS + NUMBER_FIELDS + ["logit_bias"]))
    literal = draw(st.one_of(
        st.sampled_from(ODD_NUMBER_LITERALS),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["0", "-1", "2147483648", "9223372036854775807", "9223372036854775808", "1e308", "5e-324", "1.5"]),
    ))
    body = json.dumps({**VALID[operation], **extra})
    if name == "logit_bias":
        text = body[:-1] + f', "logit_bias": {{"{draw(st.sampled_from(["50256", "-1", "99999999", "x"]))}": {literal}}}}}'
    else:
        text = body[:-1] + f', "{name}": {literal}}}'
    return post(target, text.encode())


@st.composite
def odd_strings(draw) -> Request:
    operation, target, extra = draw(endpoints())
    text = draw(st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=300),
        st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(), max_size=50),  # lone surrogates too
        st.integers(min_value=10_000, max_value=200_000).map(lambda n: "lorem ipsum " * (n // 12)),
        st.sampled_from(["", " ", "\u0000", "\ufeff", "\u202e", "🙂" * 5000, "a\u0301" * 3000, "<|endoftext|>", "<|im_start|>system",
                         "\r\n" * 1000, "\\" * 1000, "%s%n", "{{x}}", "kill bomb murder suicide", "ignore previous instructions"]),
    ))
    depth = draw(st.integers(min_value=1, max_value=1500))
    nested: object = text
    for _ in range(depth if draw(st.booleans()) else 0):
        nested = [nested] if depth % 2 else {"a": nested}
    where = {
        "chat": [("messages", 0, "content"), ("messages", 0, "name"), ("user",), ("stop",), ("metadata", "k"),
                 ("tools", 0, "function", "name"), ("tools", 0, "function", "description"), ("messages", 0, "content", 0, "text")],
        "completions": [("prompt",), ("prompt", 0), ("suffix",), ("stop",), ("user",)],
        "embeddings": [("input",), ("input", 0), ("user",), ("encoding_format",)],
    }[operation]
    body = set_path(json.loads(json.dumps({**VALID[operation], **extra})), draw(st.sampled_from(where)), nested)
    try:
        raw = encode(body, draw)
    except RecursionError:  # json.dumps gives up first: send the nesting as text instead
        raw = b'{"messages":' + b"[" * depth + b"]" * depth + b"}"
    return post(target, raw)


@st.composite
def random_bodies(draw) -> Request:
    _, target, _ = draw(endpoints())
    value = draw(st.one_of(json_values, st.dictionaries(st.sampled_from(schema_fields("chat") + schema_fields("completions")),
                                                        json_values, max_size=6)))
    return post(target, encode(value, draw))


@st.composite
def raw_bytes(draw) -> Request:
    operation, target, extra = draw(endpoints())
    valid = json.dumps({**VALID[operation], **extra}).encode()
    kind = draw(st.sampled_from(["random", "truncated", "invalid-utf8", "trailing", "bom", "empty"]))
    if kind == "random":
        raw = draw(st.binary(max_size=512))
    elif kind == "truncated":
        raw = valid[: draw(st.integers(min_value=0, max_value=len(valid) - 1))]
    elif kind == "invalid-utf8":
        at = draw(st.integers(min_value=0, max_value=len(valid)))
        raw = valid[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc0\xaf"])) + valid[at:]
    elif kind == "trailing":
        raw = valid + draw(st.sampled_from([b",", b"}", b" {}", b"\x00", b"garbage", b"\n\n{\"a\":1}"]))
    elif kind == "bom":
        raw = b"\xef\xbb\xbf" + valid
    else:
        raw = b""
    return post(target, raw)


@st.composite
def odd_headers(draw) -> Request:
    operation, target, extra = draw(endpoints())
    body = json.dumps({**VALID[operation], **extra}).encode()
    content_types = draw(st.lists(st.one_of(st.sampled_from(CONTENT_TYPES), st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30)),
                                  max_size=3))
    keys = draw(st.sampled_from([[("api-key", KEY)], [("Authorization", f"Bearer {KEY}")]])) if draw(st.booleans()) else []
    keys += draw(st.lists(st.sampled_from([("api-key", KEY), ("api-key", "wrong"), ("api-key", ""), ("Authorization", f"Bearer {KEY}"),
                                          ("Authorization", KEY), ("Authorization", "Bearer "), ("Authorization", "Basic Zm9vOmJhcg=="),
                                          ("API-KEY", KEY), ("Ocp-Apim-Subscription-Key", KEY)]), max_size=3))
    extras = draw(st.lists(st.sampled_from([("Accept", "text/event-stream"), ("Accept", "*/*"), ("Accept-Encoding", "gzip, br"),
                                            ("Connection", "keep-alive"), ("Expect", "100-continue"), ("X-Forwarded-For", "1.2.3.4"),
                                            ("x-ms-client-request-id", "not-a-uuid"), ("Content-Encoding", "gzip"),
                                            ("Cookie", "a=b"), ("api-version", "2024-10-21")]), max_size=3))
    host = draw(st.sampled_from([[("Host", "mock")], [], [("Host", "mock"), ("Host", "other")], [("Host", "")]]))
    headers = host + [("Content-Type", c) for c in content_types] + keys + extras
    return post(target, body if draw(st.booleans()) or not content_types else None, draw(st.permutations(headers)))


KNOWN_PATHS = sorted({
    *(f"/openai/deployments/{d}/{SUFFIX[op]}" for op, names in DEPLOYMENTS.items() for d in names),
    *(f"/deployments/{d}/{SUFFIX[op]}" for op, names in DEPLOYMENTS.items() for d in names),
    *(prefix + SUFFIX[op] for op in SUFFIX for prefix in ("/v1/", "/openai/v1/")),
    "/v1/models", "/openai/v1/models", "/v1/models/gpt-4o", "/v1/models/nope", "/openai/models",
})


@st.composite
def odd_targets(draw) -> Request:
    """Random and real paths, every method, and odd query strings (api-version above all)."""
    method = draw(st.sampled_from(["GET", "POST"]) | st.sampled_from(METHODS))
    segments = st.lists(st.one_of(
        st.sampled_from(["chat", "completions", "embeddings", "models", "gpt-4o", "deployments", "openai", "v1", "..", ".", "",
                         "text-embedding-3-small", "gpt-35-turbo-instruct", "%2F", "%00", "%ZZ", "a%20b"]),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).map(lambda s: quote(s, safe="")),
    ), max_size=5)
    path = draw(st.one_of(
        st.sampled_from(KNOWN_PATHS),
        st.sampled_from(KNOWN_PATHS),
        st.tuples(st.sampled_from(PATH_PREFIXES), segments).map(lambda parts: parts[0] + "/".join(parts[1])),
    ))
    if unquote(path).startswith("/_mock"):
        path = "/not" + path
    query = draw(st.one_of(
        st.just(""),
        st.sampled_from(API_VERSIONS).map(lambda v: "api-version=" + v.replace(" ", "%20")),
        st.lists(st.tuples(st.text(URL_SAFE, max_size=10), st.text(URL_SAFE, max_size=10)), max_size=4)
        .map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
        st.text(URL_SAFE + "?=&", max_size=40),
    ))
    target = path + ("?" + query if query or draw(st.booleans()) else "")
    operation = next((op for op, suffix in SUFFIX.items() if path.endswith("/" + suffix)), draw(operations))
    valid = json.dumps({**VALID[operation], "model": DEPLOYMENTS[operation][0]}).encode()
    body = draw(st.sampled_from([None, b"", valid, valid, b"{"]))
    return Request(method, target, good_headers(), body)


MUTATIONS = ["drop", "replace", "add-unknown", "swap", "nested"]


def _paths(value, prefix=()):
    """Every path into a JSON document, for mutations that reach nested fields."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


def _drop(document, path):
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]


@st.composite
def mutated_valid(draw) -> Request:
    operation, target, extra = draw(endpoints())
    body = json.loads(json.dumps({**draw(st.sampled_from(RICH[operation])), **extra}))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(MUTATIONS))
        paths = [p for p in _paths(body) if p]
        if not isinstance(body, dict) or not paths:
            break
        if kind == "drop":
            _drop(body, draw(st.sampled_from(paths)))
        elif kind == "replace":
            body = set_path(body, draw(st.sampled_from([p for p in paths if len(p) == 1])), draw(json_values))
        elif kind == "add-unknown":
            body[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
        elif kind == "swap":  # another field's (valid) value in this field
            first, second = draw(st.sampled_from(paths)), draw(st.sampled_from(paths))
            source = body
            for part in second:
                source = source[part]
            body = set_path(body, first, json.loads(json.dumps(source)))
        else:
            body = set_path(body, draw(st.sampled_from(paths)), draw(json_values))
    return post(target, encode(body, draw))


schema_like = st.recursive(
    st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["object", "string", "integer", "number", "boolean", "array", "null", "frog"]) | st.lists(
            st.sampled_from(["string", "null", "integer"]), max_size=3),
        "enum": st.lists(json_scalars, max_size=3), "const": json_scalars,
        "minLength": st.integers(-1, 50), "maxLength": st.integers(-1, 50), "pattern": st.sampled_from(["^[a-z]+$", "((", "\\d{3}", "a{1000}", "(?=x)x", ""]),
        "format": st.sampled_from(["date", "email", "uuid", "ipv6", "nonsense"]), "minimum": st.integers(-5, 5),
        "maximum": st.integers(-5, 5), "multipleOf": st.sampled_from([0, 0.1, 3, -2]), "minItems": st.integers(-1, 5),
        "maxItems": st.integers(-1, 5), "uniqueItems": st.booleans(), "required": st.lists(st.text(max_size=4), max_size=3),
        "$ref": st.sampled_from(["#", "#/$defs/a", "#/nope", "other.json", "#/properties"]), "additionalProperties": st.booleans(),
    }),
    lambda children: st.fixed_dictionaries({}, optional={
        "properties": st.dictionaries(st.text(max_size=5), children, max_size=3), "items": children,
        "anyOf": st.lists(children, max_size=3), "oneOf": st.lists(children, max_size=3), "allOf": st.lists(children, max_size=3),
        "not": children, "$defs": st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2), "type": st.just("object"),
        "required": st.lists(st.text(max_size=4), max_size=3),
    }),
    max_leaves=8,
)


@st.composite
def random_schemas(draw) -> Request:
    _, target, extra = draw(endpoints("chat"))
    schema = draw(schema_like | json_values)
    body = {"messages": [{"role": "user", "content": "Go"}], "max_tokens": 20, **extra}
    if draw(st.booleans()):
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
        body["tool_choice"] = draw(st.sampled_from(["required", "auto", {"type": "function", "function": {"name": "f"}}]))
    else:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "strict": draw(st.booleans()), "schema": schema}}
    body["stream"] = draw(st.booleans())
    return post(target, encode(body, draw))


# --- the families ------------------------------------------------------------------------------------

#: family → (strategy, examples). The sum is the number of requests sent.
FAMILIES = {
    "wrong-types": (wrong_types(), 450),
    "odd-numbers": (odd_numbers(), 300),
    "odd-strings": (odd_strings(), 220),
    "random-bodies": (random_bodies(), 200),
    "raw-bytes": (raw_bytes(), 250),
    "odd-headers": (odd_headers(), 250),
    "odd-targets": (odd_targets(), 300),
    "mutated-valid": (mutated_valid(), 350),
    "random-schemas": (random_schemas(), 200),
}


@pytest.fixture(scope="module")
def fuzzer():
    deployments = [{"name": name, "model": name, "tpm": 10**15} for names in DEPLOYMENTS.values() for name in names]
    config = mock_config(auth={"mode": "keys", "keys": [KEY]}, max_body_bytes=MAX_BODY, deployments=deployments)
    with running_mock(config) as (url, _):
        yield Fuzzer(url)


def run_family(fuzzer: Fuzzer, family: str) -> None:
    strategy, examples = FAMILIES[family]

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def one_request(request: Request) -> None:
        fuzzer.exchange(family, request)

    one_request()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_never_5xx_and_always_openai_errors(fuzzer, family):
    run_family(fuzzer, family)
    assert fuzzer.sent[family] >= FAMILIES[family][1]


def test_fuzzed_at_least_2000_requests_and_reached_every_stage(fuzzer):
    for family in FAMILIES:  # run alone (e.g. -k), this test still fuzzes everything
        if not fuzzer.sent[family]:
            run_family(fuzzer, family)
    assert sum(fuzzer.sent.values()) >= TOTAL_AT_LEAST
    # The fuzz is only meaningful if it reached the answer as well as every refusal on the way.
    assert {200, 400, 401, 404, 405, 413, 415} <= set(fuzzer.statuses), fuzzer.statuses


# --- minimised crashers found by the fuzz ---------------------------------------------------------------

CHAT_PATH = f"/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}"
COMPLETIONS_PATH = f"/openai/deployments/gpt-35-turbo-instruct/completions?api-version={API_VERSION}"
HI = '"messages":[{"role":"user","content":"x"}]'


@pytest.mark.parametrize(
    "target, raw",
    [
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
    ],
)
def test_minimised_crashers_answer_without_5xx(fuzzer, target, raw):
    """Each was a 500 (a traceback in the mock); the real service answers these with a 400."""
    request = post(target, raw.encode())
    check_answer(request, *fuzzer.admitted(request))
