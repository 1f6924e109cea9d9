"""Loading the contract (and the official contracts) for the tests in this folder.

The project's own loader (`aigw.protocol.spec`) is the lead's; these tests read the files directly with
`jsonschema` + `referencing`, so they judge the documents themselves rather than any loader.

URIs: every schema in `specs/schemas/` has `$id` `https://aigw-suite.dev/schemas/<file>`, and openapi.yaml is
registered as `https://aigw-suite.dev/openapi.yaml`, so its relative refs (`schemas/<file>`) land on those ids -
the same layout as on disk.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = REPO_ROOT / "specs"
SCHEMAS_DIR = SPECS_DIR / "schemas"
SHARED_DIR = REPO_ROOT / ".." / "shared"

BASE_URI = "https://aigw-suite.dev/"
OPENAPI_URI = BASE_URI + "openapi.yaml"
SCHEMA_FILES = (
    "common.json",
    "chat-completion-request.json",
    "chat-completion-response.json",
    "chat-completion-chunk.json",
    "completion-request.json",
    "completion-response.json",
    "completion-chunk.json",
    "embedding-request.json",
    "embedding-response.json",
    "model.json",
    "model-list.json",
    "error.json",
    "mcp-request.json",
    "mcp-response.json",
    "contentsafety-common.json",
    "contentsafety-analyze-text-request.json",
    "contentsafety-analyze-text-response.json",
    "contentsafety-shield-prompt-request.json",
    "contentsafety-shield-prompt-response.json",
    "contentsafety-blocklist-request.json",
    "contentsafety-blocklist-items-request.json",
    "contentsafety-blocklist-items-removal-request.json",
    "contentsafety-error.json",
    "a2a-agent-card.json",
    "a2a-task.json",
    "a2a-request.json",
    "a2a-response.json",
    "a2a-stream-event.json",
)
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def _yaml_loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=None)
def openapi_document() -> dict[str, Any]:
    return yaml.load((SPECS_DIR / "openapi.yaml").read_text(encoding="utf-8"), Loader=_yaml_loader())


@lru_cache(maxsize=None)
def schema_document(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def registry() -> Registry:
    """Every schema file under its `$id`, plus openapi.yaml, so any of our refs resolves offline."""
    resources = [(schema_document(name)["$id"], Resource.from_contents(schema_document(name))) for name in SCHEMA_FILES]
    resources.append((OPENAPI_URI, DRAFT202012.create_resource(openapi_document())))
    return Registry().with_resources(resources)


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for one schema file (formats checked)."""
    return Draft202012Validator(schema_document(name), registry=registry(), format_checker=FORMAT_CHECKER)


def _anchor_local_refs(node: Any) -> Any:
    """Make `#/...` refs of an OpenAPI-embedded schema point into openapi.yaml explicitly."""
    if isinstance(node, dict):
        out = {key: _anchor_local_refs(value) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            out["$ref"] = OPENAPI_URI + ref
        return out
    if isinstance(node, list):
        return [_anchor_local_refs(item) for item in node]
    return node


def openapi_schema_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema written inside openapi.yaml (a media type's `schema`)."""
    wrapper = {"$id": BASE_URI + "openapi-embedded.json", "allOf": [_anchor_local_refs(schema)]}
    return Draft202012Validator(wrapper, registry=registry(), format_checker=FORMAT_CHECKER)


def resolve_openapi(node: Any) -> Any:
    """Follow OpenAPI-level `#/components/...` refs (responses, request bodies, examples, parameters)."""
    document = openapi_document()
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
        seen += 1
        if seen > 16:
            raise ValueError("reference cycle in openapi.yaml")
    return node


HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")

# --- which service a path belongs to ---------------------------------------------------------------------
# openapi.yaml describes several services behind one gateway, and the contract's rules differ between them:
#
#   model          the Azure OpenAI / OpenAI-compatible model API. Its rules: every payload status documented
#                  with the OpenAI/APIM error body, `model` required on /v1 bodies and absent from the deployment
#                  paths' schemas, `api-version` on /openai/ paths, streams of JSON chunks ending in `[DONE]`.
#   mcp, a2a       JSON-RPC services (MCP streamable HTTP; A2A's JSON-RPC binding and agent cards). Errors are
#                  JSON-RPC error objects, mostly inside HTTP 200; streams carry one JSON-RPC message per event
#                  and have no terminator.
#   contentsafety  Azure AI Content Safety: its own error body, its own api-version parameter, no streams.
#
# The classification is by path prefix and exhaustive: a path no prefix claims raises, so a new path must be
# placed here (and so under the right rules) before any test passes. The model rules are not loosened for the
# other services: a test of a model rule runs it on exactly the paths classified `model`.
SERVICE_PREFIXES: dict[str, tuple[str, ...]] = {
    "model": ("/deployments/", "/openai/deployments/", "/v1/"),
    "mcp": ("/mcp",),
    "a2a": ("/a2a/", "/.well-known/agent-card.json"),
    "contentsafety": ("/contentsafety/",),
}
# The tags each service's operations carry (checked by test_spec_documents).
SERVICE_TAGS = {"model": {"AI", "AzureOpenAI", "OpenAIV1"}, "mcp": {"MCP"}, "a2a": {"A2A"}, "contentsafety": {"ContentSafety"}}
# How each service frames an event stream: `chunks` (JSON chunks, then `data: [DONE]`) or `jsonrpc` (one
# JSON-RPC message per event, no terminator; MCP may add a priming event with empty data, SEP-1699).
STREAM_FRAMING = {"model": "chunks", "mcp": "jsonrpc", "a2a": "jsonrpc"}


def service_of(path: str) -> str:
    """The service a path template belongs to (see SERVICE_PREFIXES); ValueError for an unclassified path."""
    for service, prefixes in SERVICE_PREFIXES.items():
        for prefix in prefixes:
            # "/x/" claims what lies below it; "/x" claims itself and what lies below it.
            if path.startswith(prefix) if prefix.endswith("/") else (path == prefix or path.startswith(prefix + "/")):
                return service
    raise ValueError(f"{path} is not classified: add its prefix to SERVICE_PREFIXES in spec_support.py")


def iter_operations(service: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation, or of one service's."""
    for path, item in openapi_document()["paths"].items():
        if service is not None and service_of(path) != service:
            continue
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def iter_media_types(service: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, media type, media type object) for every request body and response of every operation
    (or of one service's); `where` is "METHOD /path status" or "METHOD /path request"."""
    for path, method, operation in iter_operations(service):
        if "requestBody" in operation:
            body = resolve_openapi(operation["requestBody"])
            for media_type, media in body.get("content", {}).items():
                yield f"{method.upper()} {path} request", media_type, media
        for status, response in operation["responses"].items():
            response = resolve_openapi(response)
            for media_type, media in response.get("content", {}).items():
                yield f"{method.upper()} {path} {status}", media_type, media


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Split an event stream into events shaped like Schemathesis' ({data, event, id?, retry?})."""
    events: list[dict[str, Any]] = []
    data: list[str] = []
    fields: dict[str, Any] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                events.append({"data": "\n".join(data), "event": fields.get("event") or "message", **_extra(fields)})
            data, fields = [], {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name in ("event", "id"):
            fields[name] = value
        elif name == "retry" and value.isdigit():
            fields[name] = int(value)
    if data:
        events.append({"data": "\n".join(data), "event": fields.get("event") or "message", **_extra(fields)})
    return events


def _extra(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: fields[key] for key in ("id", "retry") if key in fields}


def content_schema_of(event_schema: dict[str, Any]) -> dict[str, Any]:
    """The schema an SSE event schema gives its JSON `data` (its `contentSchema`, on `data` itself or on one
    branch of its `anyOf`), as written in openapi.yaml; validate with `openapi_schema_validator`."""
    data = event_schema["properties"]["data"]
    for branch in [data, *data.get("anyOf", [])]:
        if "contentSchema" in branch:
            return branch["contentSchema"]
    raise LookupError("event schema has no contentSchema")


# --- the official contracts -------------------------------------------------------------------------------

OPENAI_URI = "https://official.test/openai-openapi.yaml"
AZURE_URI = "https://official.test/azure-openai-inference-2024-10-21.json"
UPSTREAM_DIR = SHARED_DIR / "reference" / "upstream-specs"


def honour_nullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 `nullable: true` (left over in OpenAI's 3.1 file, native in Azure's 3.0 file) as
    `anyOf [schema, null]`, which is what both vendors mean and what a plain 2020-12 validator would ignore."""
    if isinstance(node, dict):
        out = {key: honour_nullable(value) for key, value in node.items() if not (key == "nullable" and value is True)}
        if node.get("nullable") is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [honour_nullable(item) for item in node]
    return node


@lru_cache(maxsize=None)
def official_registry() -> Registry:
    openai = yaml.load((UPSTREAM_DIR / "openai-openapi.yaml").read_text(encoding="utf-8"), Loader=_yaml_loader())
    azure = json.loads((UPSTREAM_DIR / "azure-openai-inference-2024-10-21.json").read_text(encoding="utf-8"))
    return Registry().with_resources(
        [
            (OPENAI_URI, DRAFT202012.create_resource(honour_nullable(openai))),
            (AZURE_URI, DRAFT202012.create_resource(honour_nullable(azure))),
        ]
    )


def official_validator(document_uri: str, pointer: str, *, patch: Any = None) -> Draft202012Validator:
    """A validator for a schema inside an official document, e.g. (OPENAI_URI, "/components/schemas/X").

    `patch`, when given, is a function applied to a deep copy of the resolved schema - used only where a
    test documents why the official contract must be read differently."""
    if patch is None:
        schema: dict[str, Any] = {"$ref": document_uri + "#" + pointer}
        return Draft202012Validator(schema, registry=official_registry(), format_checker=FORMAT_CHECKER)
    resolved = official_registry().resolver().lookup(document_uri + "#" + pointer).contents
    schema = _anchor_refs(copy.deepcopy(resolved), document_uri)
    patch(schema)
    return Draft202012Validator(schema, registry=official_registry(), format_checker=FORMAT_CHECKER)


def _anchor_refs(node: Any, document_uri: str) -> Any:
    if isinstance(node, dict):
        out = {key: _anchor_refs(value, document_uri) for key, value in node.items()}
        if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#"):
            out["$ref"] = document_uri + out["$ref"]
        return out
    if isinstance(node, list):
        return [_anchor_refs(item, document_uri) for item in node]
    return node
