"""Hypothesis strategies for test_fuzz_malformed: one per family of malformed requests.

Each strategy draws a :class:`fuzz_corpus.Request` that is wrong in one specific way (field types,
number literals, strings, bodies, bytes, headers, targets, mutations of rich valid requests, tool and
response_format schemas), built from the corpus in ``fuzz_corpus``. No ``test_`` prefix: not collected.
"""

import json
from urllib.parse import quote, unquote

from hypothesis import strategies as st

from aigw.protocol.spec import load_schema
from fuzz_corpus import (
    API_VERSION,
    API_VERSIONS,
    CONTENT_TYPES,
    DEPLOYMENTS,
    INTEGER_FIELDS,
    KEY,
    METHODS,
    NESTED_PATHS,
    NUMBER_FIELDS,
    ODD_NUMBER_LITERALS,
    PATH_PREFIXES,
    RICH,
    SCHEMA,
    SUFFIX,
    URL_SAFE,
    VALID,
    Request,
    good_headers,
    post,
    set_path,
)

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


def encode(value, draw) -> bytes:
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8 on purpose


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
