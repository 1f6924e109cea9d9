"""Every request argument the official specs declare is accepted; an undeclared one is still a 400.

The walk covers each property of the request bodies of chat completions, completions and embeddings in
OpenAI's OpenAPI document (sent to ``/v1/...``) and in Azure OpenAI's 2024-10-21 inference spec (sent to
``/openai/deployments/{deployment}/...``). Each property is sent on its own (with the companions the
spec makes it depend on, e.g. ``top_logprobs`` with ``logprobs``) with a value that the official
schema itself accepts — checked here before sending — and must get a 2xx, unless ``REAL_SERVICE_400``
says the real service refuses it too, and why. The mock's own schemas are strict (an argument they
do not know is a 400 naming it), so this is what keeps them in step with the vendors.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from spec_support import AZURE_URI, OPENAI_URI, official_registry, official_validator

pytestmark = pytest.mark.needs_shared

OPERATIONS = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}
OPENAI_PATHS = {op: f"/{path}" for op, path in OPERATIONS.items()}
AZURE_PATHS = {op: f"/deployments/{{deployment-id}}/{path}" for op, path in OPERATIONS.items()}
DEPLOYMENTS = {"chat": "gpt-4o", "completions": "gpt-35-turbo-instruct", "embeddings": "text-embedding-3-small"}
BASE = {
    "chat": {"messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 5},
    "completions": {"prompt": "Say hello", "max_tokens": 5},
    "embeddings": {"input": "Say hello"},
}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
FUNCTIONS = [{"name": "lookup", "parameters": {"type": "object", "properties": {}}}]

# Values where the schema alone does not say what a real request would send, or where an argument only
# makes sense with a companion (the value of the named property first, then its companions).
VALUES: dict[str, dict[str, Any]] = {
    "messages": {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]},
    "stream_options": {"stream_options": {"include_usage": True}, "stream": True},
    "top_logprobs": {"top_logprobs": 2, "logprobs": True},
    "tool_choice": {"tool_choice": "auto", "tools": TOOLS},
    "parallel_tool_calls": {"parallel_tool_calls": False, "tools": TOOLS},
    "tools": {"tools": TOOLS},
    "function_call": {"function_call": "auto", "functions": FUNCTIONS},
    "functions": {"functions": FUNCTIONS},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "stop": {"stop": ["\n\n"]},
    "response_format": {"response_format": {"type": "json_object"},
                        "messages": [{"role": "user", "content": "Answer in JSON"}]},
    "prediction": {"prediction": {"type": "content", "content": "Hello"}},
    "modalities": {"modalities": ["text"]},
    "metadata": {"metadata": {"team": "qa"}, "store": True},
    "prompt": {"prompt": ["Say hello", "Say goodbye"]},
    "input": {"input": ["Say hello", "Say goodbye"]},
    "dimensions": {"dimensions": 256},
    "prompt_cache_options": {"prompt_cache_options": {"ttl": "30m", "mode": "implicit"}},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "moderation": {"moderation": {"model": "omni-moderation-latest", "policy": {"input": {"mode": "score"}}}},
    "input_type": {"input_type": "query"},
    "suffix": {"suffix": " The end."},
    # Azure On Your Data: the spec's discriminator (not a JSON Schema keyword) requires the type's parameters
    "data_sources": {"data_sources": [{"type": "azure_search", "parameters": {
        "endpoint": "https://search.example.com", "index_name": "docs",
        "authentication": {"type": "api_key", "key": "search-key"}}}]},
}

# (spec, operation, property) → why the real service answers this request with a 400 as well.
REAL_SERVICE_400: dict[tuple[str, str, str], str] = {}


def _document(uri: str) -> dict:
    return official_registry().contents(uri)


def _resolve(document: dict, node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = document
        for key in node["$ref"][2:].split("/"):
            target = target[key.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _properties(document: dict, schema: Any) -> dict[str, Any]:
    schema = _resolve(document, schema)
    found: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        found.update(_properties(document, part))
    found.update(schema.get("properties", {}))
    return found


def _request_pointer(document: dict, path: str) -> str:
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema["$ref"][1:] if "$ref" in schema else f"/paths/{path.replace('/', '~1')}/post/requestBody/content/application~1json/schema"


def example_value(document: dict, schema: Any, depth: int = 0) -> Any:
    """A small value the schema accepts: its default, example or first enum value, else one built by type."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict) or depth > 6:
        return None
    for key in ("anyOf", "oneOf"):
        if key in schema:
            choices = [c for c in schema[key] if _resolve(document, c).get("type") != "null"]
            return example_value(document, choices[0], depth + 1) if choices else None
    if "allOf" in schema:
        merged = {"type": "object", "properties": _properties(document, schema),
                  "required": [r for s in schema["allOf"] for r in _resolve(document, s).get("required", [])]}
        return example_value(document, merged, depth + 1)
    if schema.get("default") is not None:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return next(v for v in schema["enum"] if v is not None)
    if schema.get("example") is not None:
        return schema["example"]
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1)) if schema.get("maximum", 2) >= 1 else schema.get("minimum", 0)
    if kind == "number":
        low, high = schema.get("minimum", 0), schema.get("maximum", 2)
        return (low + high) / 2
    if kind == "boolean":
        return True
    if kind == "array":
        return [example_value(document, schema.get("items", {}), depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example_value(document, properties.get(name, {}), depth + 1) for name in schema.get("required", [])}
    return None


def _cases() -> list[tuple[str, str, str]]:
    from spec_support import UPSTREAM_DIR

    if not UPSTREAM_DIR.is_dir():
        return []
    cases = []
    for spec, uri, paths in (("openai", OPENAI_URI, OPENAI_PATHS), ("azure", AZURE_URI, AZURE_PATHS)):
        document = _document(uri)
        for operation, path in paths.items():
            schema = {"$ref": "#" + _request_pointer(document, path)}
            cases += [(spec, operation, name) for name in sorted(_properties(document, schema))]
    return cases


CASES = _cases()


def _body(spec: str, operation: str, name: str) -> dict[str, Any]:
    uri, paths = (OPENAI_URI, OPENAI_PATHS) if spec == "openai" else (AZURE_URI, AZURE_PATHS)
    document = _document(uri)
    pointer = _request_pointer(document, paths[operation])
    body = copy.deepcopy(BASE[operation])
    if spec == "openai":
        body["model"] = DEPLOYMENTS[operation]
    if name in VALUES:
        body.update(copy.deepcopy(VALUES[name]))
    elif name != "model":
        declared = _properties(document, {"$ref": "#" + pointer})[name]
        body[name] = example_value(document, declared)
    errors = sorted(official_validator(uri, pointer).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"the test's own value is invalid under the {spec} spec: {[e.message for e in errors[:3]]}"
    return body


def _url(base: str, spec: str, operation: str) -> str:
    if spec == "openai":
        return f"{base}/v1/{OPERATIONS[operation]}"
    return f"{base}/openai/deployments/{DEPLOYMENTS[operation]}/{OPERATIONS[operation]}?api-version=2024-10-21"


@pytest.mark.skipif(not CASES, reason="../shared/reference/upstream-specs is absent (development and CI only)")
@pytest.mark.parametrize(("spec", "operation", "name"), CASES, ids=[f"{s}-{o}-{n}" for s, o, n in CASES])
def test_every_declared_argument_is_accepted(mock_server, spec, operation, name):
    body = _body(spec, operation, name)
    response = httpx.post(_url(mock_server, spec, operation), json=body, headers={"api-key": "k"}, timeout=30)
    reason = REAL_SERVICE_400.get((spec, operation, name))
    if reason is not None:
        assert response.status_code == 400, f"{name}: expected the real service's 400 ({reason}), got {response.status_code}"
        return
    assert 200 <= response.status_code < 300, f"{spec} {operation} {name}={body.get(name)!r}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_an_undeclared_argument_is_still_400(mock_server, operation):
    body = {**BASE[operation], "model": DEPLOYMENTS[operation], "no_such_argument": 1}
    response = httpx.post(f"{mock_server}/v1/{OPERATIONS[operation]}", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "no_such_argument" in (error.get("param") or "") + error["message"], error
    nested = {**BASE["chat"], "model": "gpt-4o",
              "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi", "cache_me": True}]}]}
    assert httpx.post(f"{mock_server}/v1/chat/completions", json=nested, timeout=30).status_code == 400


def test_content_parts_may_carry_a_prompt_cache_breakpoint(mock_server):
    """OpenAI declares ``prompt_cache_breakpoint`` on text, image, audio and file parts (accepted, ignored)."""
    breakpoint_ = {"mode": "explicit"}
    parts = [{"type": "text", "text": "A long reusable prefix", "prompt_cache_breakpoint": breakpoint_},
             {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}, "prompt_cache_breakpoint": breakpoint_}]
    body = {**BASE["chat"], "model": "gpt-4o", "messages": [{"role": "user", "content": parts}],
            "prompt_cache_options": {"mode": "explicit"}}
    assert httpx.post(f"{mock_server}/v1/chat/completions", json=body, timeout=30).status_code == 200
    wrong = {**body, "messages": [{"role": "user", "content": [{**parts[0], "prompt_cache_breakpoint": {"mode": "x"}}]}]}
    assert httpx.post(f"{mock_server}/v1/chat/completions", json=wrong, timeout=30).status_code == 400


def test_an_azure_only_argument_is_unrecognized_on_v1(mock_server):
    """``input_type`` is Azure's (2024-10-21); OpenAI's embeddings contract forbids extra arguments."""
    azure = httpx.post(_url(mock_server, "azure", "embeddings"), json={"input": "x", "input_type": "query"}, timeout=30)
    assert azure.status_code == 200
    v1 = httpx.post(f"{mock_server}/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x",
                                                          "input_type": "query"}, timeout=30)
    assert v1.status_code == 400 and v1.json()["error"]["param"] == "input_type"
