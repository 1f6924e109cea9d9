"""(1) The documents are valid: OpenAPI 3.1, JSON Schema 2020-12, every $ref resolves, and the operations
carry what the contract promises (names, statuses, headers, the /v1 model requirement, api-versions).

Rules of the model API are checked on the paths `spec_support.service_of` classifies as `model`, and only
there; the other services (MCP, A2A, Content Safety) get their own checks below."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.readers import read_from_filename
from referencing.exceptions import Unresolvable

from spec_support import (
    BASE_URI,
    OPENAPI_URI,
    SCHEMA_FILES,
    SCHEMAS_DIR,
    SERVICE_TAGS,
    SPECS_DIR,
    STREAM_FRAMING,
    iter_media_types,
    iter_operations,
    openapi_document,
    registry,
    resolve_openapi,
    schema_document,
    service_of,
)

OPERATION_ID = re.compile(r"^[A-Z][a-zA-Z0-9]*(_[A-Z][a-zA-Z0-9]*)+$")
PAYLOAD_STATUSES = {"200", "400", "401", "403", "404", "408", "413", "415", "429", "500", "503"}
REQUIRED_API_VERSIONS = {
    "2024-02-01", "2024-06-01", "2024-10-21", "2024-12-01-preview",
    "2025-01-01-preview", "2025-03-01-preview", "2025-04-01-preview",
}


def test_openapi_document_is_valid_openapi_3_1() -> None:
    spec, base_uri = read_from_filename(str(SPECS_DIR / "openapi.yaml"))
    assert spec["openapi"] == "3.1.0"
    validate_openapi(spec, base_uri=base_uri)


def test_schema_folder_holds_exactly_the_agreed_files() -> None:
    assert sorted(path.name for path in SCHEMAS_DIR.glob("*.json")) == sorted(SCHEMA_FILES)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_2020_12_with_its_id(name: str) -> None:
    schema = schema_document(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE_URI}schemas/{name}"


def _refs(node: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield pointer, value
            else:
                yield from _refs(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _refs(item, f"{pointer}/{index}")


@pytest.mark.parametrize("name", [*SCHEMA_FILES, "openapi.yaml"])
def test_every_ref_resolves(name: str) -> None:
    if name == "openapi.yaml":
        document, base = openapi_document(), OPENAPI_URI
    else:
        document, base = schema_document(name), schema_document(name)["$id"]
    resolver = registry().resolver(base_uri=base)
    refs = list(_refs(document))
    assert refs, f"{name} references nothing"
    for where, ref in refs:
        assert not ref.startswith(("http:", "https:", "file:")), f"{name}{where}: absolute ref {ref}"
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:  # pragma: no cover - the assertion message is the point
            pytest.fail(f"{name}{where}: {ref} does not resolve ({exc})")


def test_operations_are_named_summarised_described_and_tagged() -> None:
    seen = set()
    for path, method, operation in iter_operations():
        label = f"{method.upper()} {path}"
        assert OPERATION_ID.match(operation["operationId"]), label
        assert operation["operationId"] not in seen, f"duplicate operationId {operation['operationId']}"
        seen.add(operation["operationId"])
        assert operation.get("summary") and operation.get("description") and operation.get("tags"), label
    # The seed's four operations keep their ids.
    assert {"AIGateway_ChatCompletions", "AIGateway_Completions", "AIGateway_Embeddings", "AIGateway_MCP"} <= seen


def test_expected_paths_exist() -> None:
    paths = set(openapi_document()["paths"])
    for kind in ("chat/completions", "completions", "embeddings"):
        assert f"/deployments/{{deployment-id}}/{kind}" in paths
        assert f"/openai/deployments/{{deployment-id}}/{kind}" in paths
        assert f"/v1/{kind}" in paths
    assert {"/v1/models", "/mcp", "/mcp/{server}", "/a2a/{agent}", "/.well-known/agent-card.json"} <= paths


def test_every_path_is_classified_and_tagged_as_its_service() -> None:
    for path, method, operation in iter_operations():
        service = service_of(path)  # raises for a path no service claims
        assert set(operation["tags"]) <= SERVICE_TAGS[service], (method, path, service, operation["tags"])
    assert {service_of(path) for path, _, _ in iter_operations()} == set(SERVICE_TAGS)


def test_model_operations_document_every_status_with_error_bodies() -> None:
    for path, method, operation in iter_operations("model"):
        if method != "post":  # GET /v1/models answers what a listing can go wrong with
            continue
        assert set(operation["responses"]) == PAYLOAD_STATUSES, path
        for status, response in operation["responses"].items():
            response = resolve_openapi(response)
            schema = response["content"]["application/json"]["schema"]
            if status != "200":
                assert schema == {"$ref": "schemas/error.json"}, (path, status)


def test_response_headers() -> None:
    chat = openapi_document()["paths"]["/v1/chat/completions"]["post"]["responses"]
    ok = resolve_openapi(chat["200"])["headers"]
    assert {"apim-request-id", "x-request-id", "x-ms-region", "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-tokens"} <= set(ok)
    throttled = resolve_openapi(chat["429"])["headers"]
    assert {"retry-after", "retry-after-ms", "apim-request-id"} <= set(throttled)
    for status in PAYLOAD_STATUSES:
        assert "apim-request-id" in resolve_openapi(chat[status])["headers"], status


def test_jsonrpc_operations_answer_jsonrpc_and_stream_jsonrpc_events() -> None:
    """MCP and A2A: a POST takes a JSON-RPC request and answers a JSON-RPC response as JSON or as an event
    stream whose events each carry one JSON-RPC message (described per event, like the model streams)."""
    schemas = openapi_document()["components"]["schemas"]
    for service, request, response in (("mcp", "mcp-request.json", "mcp-response.json"),
                                       ("a2a", "a2a-request.json", "a2a-response.json")):
        posts = [(path, operation) for path, method, operation in iter_operations(service) if method == "post"]
        assert posts, service
        for path, operation in posts:
            body = resolve_openapi(operation["requestBody"])["content"]
            assert body["application/json"]["schema"] == {"$ref": f"schemas/{request}"}, path
            ok = resolve_openapi(operation["responses"]["200"])["content"]
            assert set(ok) == {"application/json", "text/event-stream"}, path
            assert ok["application/json"]["schema"] == {"$ref": f"schemas/{response}"}, path
            event = ok["text/event-stream"]["schema"]["$ref"].removeprefix("#/components/schemas/")
            assert schemas[event]["properties"]["data"], (path, event)
    assert set(STREAM_FRAMING) == {"model", "mcp", "a2a"}
    for path, method, operation in iter_operations("mcp"):
        if method == "get":  # the server-to-client stream
            content = resolve_openapi(operation["responses"]["200"])["content"]
            assert set(content) == {"text/event-stream"}, path


def test_streaming_operations_offer_an_event_stream() -> None:
    for path in ("/v1/chat/completions", "/v1/completions", "/deployments/{deployment-id}/chat/completions",
                 "/openai/deployments/{deployment-id}/completions"):
        content = resolve_openapi(openapi_document()["paths"][path]["post"]["responses"]["200"])["content"]
        assert set(content) == {"application/json", "text/event-stream"}, path
    embeddings = resolve_openapi(openapi_document()["paths"]["/v1/embeddings"]["post"]["responses"]["200"])
    assert set(embeddings["content"]) == {"application/json"}


def test_v1_operations_require_model_and_deployment_paths_do_not() -> None:
    for path, method, operation in iter_operations("model"):
        if method != "post":
            continue
        schema = resolve_openapi(operation["requestBody"])["content"]["application/json"]["schema"]
        if path.startswith("/v1/"):
            assert {"required": ["model"]} in schema["allOf"], path
        else:
            assert set(schema) == {"$ref"}, path
    for name in ("chat-completion-request.json", "completion-request.json", "embedding-request.json"):
        assert "model" not in schema_document(name)["required"]
        assert schema_document(name)["additionalProperties"] is False


def test_azure_paths_require_a_known_api_version() -> None:
    parameter = resolve_openapi(openapi_document()["components"]["parameters"]["ApiVersion"])
    assert parameter["in"] == "query" and parameter["required"] is True
    assert REQUIRED_API_VERSIONS <= set(parameter["schema"]["enum"])
    for path, item in openapi_document()["paths"].items():
        names = {resolve_openapi(p)["name"] for p in item.get("parameters", [])}
        azure = path.startswith("/openai/") or service_of(path) == "contentsafety"
        assert ("api-version" in names) == azure, path


def test_payload_schemas_live_only_in_the_schema_files() -> None:
    """openapi.yaml references payload schemas; the only schemas written inline are the SSE event envelopes
    (one per streaming service's payload), the deployment-name path parameter and the `required: [model]` of
    the /v1 bodies."""
    inline = openapi_document()["components"]["schemas"]
    assert set(inline) == {"ChatCompletionStreamEvent", "CompletionStreamEvent", "McpStreamEvent", "A2AStreamEvent",
                           "DeploymentName"}
    for where, media_type, media in iter_media_types():
        schema = media["schema"]
        if media_type == "text/event-stream":
            assert schema["$ref"].startswith("#/components/schemas/"), where
        elif "allOf" in schema:
            assert schema["allOf"][0]["$ref"].startswith("schemas/") and schema["allOf"][1] == {"required": ["model"]}
        else:
            assert schema["$ref"].startswith("schemas/"), where


def test_security_schemes() -> None:
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert schemes["api-key"] == {**schemes["api-key"], "type": "apiKey", "in": "header", "name": "api-key"}
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"api-key": []}, {"bearer": []}]


def test_schema_files_are_pretty_and_parse() -> None:
    for name in SCHEMA_FILES:
        text = (SCHEMAS_DIR / name).read_text(encoding="utf-8")
        assert text.endswith("\n") and json.loads(text)
