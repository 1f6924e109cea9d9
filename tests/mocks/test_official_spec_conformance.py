"""Every response of the mock validates against the OFFICIAL contracts, checked by Schemathesis.

Schemathesis loads OpenAI's OpenAPI document (base URL = mock + ``/v1``) and Azure OpenAI's inference
2024-10-21 document (base URL = mock + ``/openai``), restricted to the operations the mock serves,
generates positive data from THEIR request schemas and runs ``not_a_server_error``,
``content_type_conformance`` and ``response_schema_conformance`` on every answer.

The official request schemas are looser than ours (``additionalProperties`` open, ``nullable`` leftovers,
Azure-only ``input_type``), so some generated bodies are ones our contract — and the mock, like
api.openai.com — rightly rejects with 400. Handled honestly:
- top-level fields our contract does not know are dropped from generated bodies (they are optional in the
  official schemas, so the body stays positive data there), counted;
- every remaining case is classified by our own request schema: each body it accepts must get 200, each
  it rejects must get 400, and at least 45% of the cases (every operation some) must be 200s;
- every 200 must have had ``response_schema_conformance`` run on it, and nothing may fail.

Restrictions, each for a documented reason:
- ``stream`` / ``stream_options`` are removed: Azure's document gives 200 only ``application/json``, and
  OpenAI's describes ``text/event-stream`` with the chunk object itself as the per-event schema, which no
  SSE event (``{data, event}``, nor ``data: [DONE]``) can satisfy. Stream chunks are covered instead by
  test_schemathesis_mock.py (mock events ⊂ our chunk schemas) and tests/specs/test_official_compat.py (our
  chunk schemas ⊂ the official chunk schemas).
- Azure's ``default`` (error) response is removed: it types ``error.param`` as a non-null string, but Azure
  sends ``"param": null`` (../shared/reference/azure-ai-gateway-facts.md: ``param: str|null``). Our error
  bodies are checked against our own contract in test_schemathesis_mock.py.
- OpenAI only: ``encoding_format: base64`` is removed: its ``Embedding.embedding`` is typed as an array of
  numbers only, though api.openai.com answers base64 with a string (upstream SOURCES.md notes this quirk).
- ``deployment-id`` / ``model`` are mapped onto deployments serving the operation, ``api-version`` onto
  2024-10-21 (the document's own version).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import yaml

import schemathesis
from aigw.mocks.config import default_config
from aigw.protocol.spec import check, load_schema
from conftest import mock_config, running_mock, shared_dir
from schemathesis_support import API_VERSION, RunReport, engine_config, operation_kind, route_to_served, run

MAX_EXAMPLES = 30
OUR_REQUEST_SCHEMA = {"chat": "chat-completion-request", "completions": "completion-request", "embeddings": "embedding-request"}
CHECKS = {"not_a_server_error", "content_type_conformance", "response_schema_conformance"}

OPENAI_OPERATIONS = {"/chat/completions": "post", "/completions": "post", "/embeddings": "post",
                     "/models": "get", "/models/{model}": "get"}
AZURE_OPERATIONS = {"/deployments/{deployment-id}/chat/completions": "post",
                    "/deployments/{deployment-id}/completions": "post",
                    "/deployments/{deployment-id}/embeddings": "post"}


def _upstream(name: str) -> Any:
    path = shared_dir() / "reference" / "upstream-specs" / name
    with path.open(encoding="utf-8") as handle:
        if name.endswith(".json"):
            return json.load(handle)
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _only(document: dict[str, Any], operations: dict[str, str], *, drop_default: bool = False) -> dict[str, Any]:
    paths = {}
    for path, method in operations.items():
        item = document["paths"][path]
        operation = dict(item[method])
        if drop_default:
            operation["responses"] = {k: v for k, v in operation["responses"].items() if k != "default"}
        paths[path] = {key: value for key, value in item.items() if key == "parameters"} | {method: operation}
    return document | {"paths": paths}


class OfficialCases:
    """``map_case`` for an official document: route, pin the api-version, drop what our contract lacks."""

    def __init__(self, *, base64_embeddings: bool = True) -> None:
        self.base64_embeddings = base64_embeddings
        self.dropped: Counter = Counter()
        self.known = {kind: set(load_schema(name)["properties"]) for kind, name in OUR_REQUEST_SCHEMA.items()}

    def __call__(self, context: Any, case: Any) -> Any:
        kind = operation_kind(case.operation.path)
        if isinstance(case.body, dict) and kind in self.known:
            for name in [name for name in case.body if name not in self.known[kind] or name in ("stream", "stream_options")]:
                self.dropped[name if name in ("stream", "stream_options") else "unknown to our contract"] += 1
                del case.body[name]
            if not self.base64_embeddings and case.body.get("encoding_format") == "base64":
                self.dropped["encoding_format: base64"] += 1
                del case.body["encoding_format"]
        if case.query and "api-version" in case.query:
            case.query["api-version"] = API_VERSION
        return route_to_served(context, case)


def _unthrottled():
    deployments = default_config().model_dump()["deployments"]
    for deployment in deployments:
        deployment["tpm"] = deployment["rpm"] = 1_000_000_000
    return mock_config(deployments=deployments)


def _run(document: dict[str, Any], prefix: str, mapper: OfficialCases) -> tuple[RunReport, OfficialCases]:
    with running_mock(_unthrottled()) as (url, _app):
        config = engine_config(
            url + prefix, mode="positive", max_examples=MAX_EXAMPLES, checks_enabled=False,
            checks={name: {"enabled": True} for name in CHECKS},
        )
        report = run(schemathesis.openapi.from_dict(document, config=config), map_case=mapper)
    return report, mapper


def _assert_conformant(report: RunReport, operations: int) -> None:
    print(report.summary())
    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, f"{len(report.failures)} failures:\n" + "\n\n".join(report.failures[:30])
    assert set(report.checks_run) == CHECKS, report.checks_run
    assert len(report.labels(status=200)) == operations, report.labels(status=200)

    ok, rejected, wrong = 0, Counter(), []
    for record in report.cases:
        assert record.mode == "positive"
        kind = operation_kind(record.case.operation.path)
        issues = check(OUR_REQUEST_SCHEMA[kind], record.case.body) if kind in OUR_REQUEST_SCHEMA else []
        expected = 400 if issues else 200
        if record.status != expected:
            wrong.append(f"{record.label}: expected {expected}, got {record.status} for {record.case.body!r:.300}")
        if record.status == 200:
            ok += 1
            assert "response_schema_conformance" in record.checks, f"{record.label}: a 200 was not validated"
        else:
            rejected[f"{record.label}: {issues[0].param if issues else '-'}"] += 1
    print(f"{ok} answered 200 and validated; rejected by our stricter request schema: {dict(rejected)}")
    assert not wrong, "\n".join(wrong[:20])
    # The official schemas' looser bounds (best_of 0, null prompts, token ids past the vocabulary, ...) are
    # exactly what the coverage phase aims at, so about half the cases are rightly 400s: at least 45% must
    # reach the model, and every operation must be answered with 200s.
    assert ok >= 0.45 * len(report.cases), f"only {ok} of {len(report.cases)} cases reached a 200: {dict(rejected)}"
    for label in report.labels():
        assert report.statuses(label=label)[200] >= 5, f"{label}: {dict(report.statuses(label=label))}"


def test_mock_responses_validate_against_openai_official_spec() -> None:
    document = _only(_upstream("openai-openapi.yaml"), OPENAI_OPERATIONS)
    report, mapper = _run(document, "/v1", OfficialCases(base64_embeddings=False))
    print("dropped from generated bodies:", dict(mapper.dropped))
    _assert_conformant(report, operations=len(OPENAI_OPERATIONS))


def test_mock_responses_validate_against_azure_official_spec() -> None:
    document = _only(_upstream("azure-openai-inference-2024-10-21.json"), AZURE_OPERATIONS, drop_default=True)
    report, mapper = _run(document, "/openai", OfficialCases())
    print("dropped from generated bodies:", dict(mapper.dropped))
    _assert_conformant(report, operations=len(AZURE_OPERATIONS))
