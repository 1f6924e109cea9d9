"""``schemathesis run`` of the protocol services in specs/openapi.yaml — MCP, A2A, Azure AI Content Safety —
against a live mock, with every built-in check plus ``jsonrpc_conformance`` (tests/schemathesis_jsonrpc.py).

The same engine as the model API's run (tests/mocks/test_schemathesis_mock.py): examples, coverage and
fuzzing phases, positive and negative data, derandomized by a fixed seed. Built-in checks excluded, with
the reason: ``max_response_time`` (timing is the benchmarks' business); ``ignored_auth`` (auth ``open``, the
mock's default, accepts any key by design; the services' auth refusals have their own tests);
``positive_data_acceptance`` on MCP and A2A is kept — it holds because a JSON-RPC error comes inside 200,
which is exactly why ``jsonrpc_conformance`` exists.

Scope, and why:
- The MCP GET stream (``GET /mcp``, ``GET /mcp/{server}``) is left out: it stays open until the session
  ends, which a request/response engine cannot consume (every positive case would wait out its timeout).
  Its contract is checked on real streams in tests/mocks/mcp/test_mcp_transport.py and the spec tests.
- ``schemathesis_jsonrpc.ServiceRouter`` maps the positive parts of a case onto what exists (a configured
  server or agent, a live MCP session, the A2A-Version of the method's generation), so positive data
  reaches the methods rather than an honest 400/404; negative parts stay as generated.
- A2A tasks settle at once (``work_seconds: 0``): a SendMessage waits for its task, and the lifecycle on
  the virtual clock has its own tests.
"""

from __future__ import annotations

from collections import Counter

import pytest

from aigw.mocks.a2a import legacy
from conftest import REPO, mock_config, running_mock
from schemathesis_jsonrpc import JSONRPC_OPERATIONS, ServiceRouter, jsonrpc_conformance, jsonrpc_service, registered
from schemathesis_support import RunReport, engine_config, load_openapi, run

SPEC = str(REPO / "specs" / "openapi.yaml")
# The model API is excluded (rather than the services included): with per-operation settings in the config
# (JSONRPC_OPERATIONS), Schemathesis 4.32 drops an `include` filter but keeps `exclude`.
MODEL_API = r"^/(deployments|openai/deployments|v1)/"
MAX_EXAMPLES = 15
MCP_GET_STREAMS = {"GET /mcp", "GET /mcp/{server}"}
BUILT_IN_CHECKS = {
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance",
    "missing_required_header", "unsupported_method", "allow_header_conformance", "use_after_free",
    "ensure_resource_availability", "object_level_authorization",
}


@pytest.fixture(scope="module")
def services_run() -> tuple[RunReport, ServiceRouter]:
    config = mock_config()
    data = config.model_dump()
    data["a2a"]["work_seconds"] = 0
    config = type(config).model_validate(data)
    with running_mock(config) as (url, _app):
        router = ServiceRouter(url, tuple(s.name for s in config.mcp.servers), tuple(a.name for a in config.a2a.agents),
                               frozenset(legacy.METHODS))
        schema = load_openapi(SPEC, engine_config(url, mode="all", max_examples=MAX_EXAMPLES,
                                                  checks={"ignored_auth": {"enabled": False}},
                                                  extra={"operations": JSONRPC_OPERATIONS}))
        schema = schema.exclude(path_regex=MODEL_API).exclude(method="GET", path_regex=r"^/mcp")
        try:
            with registered(jsonrpc_conformance):
                report = run(schema, map_case=router)
        finally:
            router.close()
    return report, router


def test_services_pass_every_check(services_run) -> None:
    report, _ = services_run
    print(report.summary())
    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, f"{len(report.failures)} check failures:\n" + "\n\n".join(report.failures[:40])
    assert report.stop_reason == "completed", report.summary()
    assert set(report.checks_run) == BUILT_IN_CHECKS | {"jsonrpc_conformance"}, report.checks_run


def test_every_service_operation_was_exercised(services_run) -> None:
    """Guard against a green run that tested little."""
    report, router = services_run
    labels = report.labels()
    assert len(labels) == 17 and not labels & MCP_GET_STREAMS, sorted(labels)  # 4 MCP, 3 A2A, 10 Content Safety
    for label in labels:
        negative = report.statuses(mode="negative", label=label)
        assert sum(n for status, n in negative.items() if status and 400 <= status < 500) >= 1 or label.startswith("GET"), (
            f"{label}: negative cases answered {dict(negative)}")
    answered = Counter(r.label for r in report.cases if r.mode == "positive" and r.status in (200, 201, 202, 204))
    for label in ("POST /mcp", "POST /mcp/{server}", "DELETE /mcp", "DELETE /mcp/{server}", "POST /a2a/{agent}",
                  "GET /a2a/{agent}/.well-known/agent-card.json", "POST /contentsafety/text:analyze",
                  "POST /contentsafety/text:shieldPrompt", "PATCH /contentsafety/text/blocklists/{blocklistName}"):
        assert answered[label] >= 3, f"{label}: positive cases answered {dict(report.statuses(mode='positive', label=label))}"
    assert answered["GET /.well-known/agent-card.json"] >= 1  # no parameters: little to vary
    assert router.sessions_opened >= 4  # one per MCP path at least, and one per positive DELETE
    jsonrpc_cases = [r for r in report.cases if jsonrpc_service(r.case.operation.path) and r.case.method == "POST"]
    assert len(jsonrpc_cases) >= 100 and all("jsonrpc_conformance" in r.checks for r in jsonrpc_cases if r.status)
    assert {"EXAMPLES", "COVERAGE", "FUZZING"} <= {r.phase for r in report.cases}
