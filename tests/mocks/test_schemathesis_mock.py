"""``schemathesis run`` of specs/openapi.yaml against a live mock, with every built-in check.

Schemathesis' engine (examples, coverage and fuzzing phases; positive and negative data; derandomized
with a fixed seed, so every run sends the same requests) drives a real uvicorn mock over HTTP. Two runs:

- auth ``open`` (the mock's default): every check except ``ignored_auth`` — open mode accepts any key
  by design, so "API accepts requests without authentication" is its documented behaviour, not a bug;
- auth ``keys`` with the key supplied through the spec's ``api-key`` security scheme: every check,
  ``ignored_auth`` included (Schemathesis strips / corrupts the key and expects 401).

Scope, and why:
- Only the model API (``/deployments/…``, ``/openai/deployments/…``, ``/v1/…``: the 11 operations of the
  AI, AzureOpenAI and OpenAIV1 tags) is run. The other services in openapi.yaml (MCP, Content Safety) are
  separate contracts with their own transports and state, run by their own suites.
- ``max_response_time`` stays off: it needs a limit, and timing is the benchmarks' business, not a test's.
- Rate limits are raised far out of reach: hundreds of requests a second on one deployment would trip
  Azure-like RPM windows; a 429 is conformant (and checked), but then the case never reaches the model.
  Rate limiting has its own tests.
- Positive path parameters and ``/v1`` ``model`` values are mapped onto deployments serving the
  operation (``schemathesis_support.route_to_served``), so positive data is answered by the model rather
  than by Azure's honest 404 DeploymentNotFound / 400 OperationNotSupported.
"""

from __future__ import annotations

from collections import Counter

import pytest

from aigw.mocks.config import MockConfig, default_config
from conftest import REPO, mock_config, running_mock
from schemathesis_support import SERVED, RunReport, engine_config, load_openapi, route_to_served, run

SPEC = str(REPO / "specs" / "openapi.yaml")
KEY = "schemathesis-key"
MAX_EXAMPLES = 20
MODEL_API = r"^/(deployments|openai/deployments|v1)/"
OPERATIONS = 11

# Every check Schemathesis 4.32 ships for OpenAPI that applies to this API, by name. Excluded, with reason:
# max_response_time (see above); ignored_auth in open mode (see above). The stateful-only checks
# (use_after_free, ensure_resource_availability) run but have nothing to find without links.
ALL_CHECKS = {
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance",
    "missing_required_header", "unsupported_method", "allow_header_conformance", "use_after_free",
    "ensure_resource_availability", "object_level_authorization", "ignored_auth",
}


def _unthrottled(**overrides) -> MockConfig:
    deployments = default_config().model_dump()["deployments"]
    for deployment in deployments:
        deployment["tpm"] = deployment["rpm"] = 1_000_000_000
    return mock_config(deployments=deployments, **overrides)


def _run(mock: MockConfig, **config) -> RunReport:
    with running_mock(mock) as (url, _app):
        schema = load_openapi(SPEC, engine_config(url, mode="all", max_examples=MAX_EXAMPLES, **config))
        return run(schema.include(path_regex=MODEL_API), map_case=route_to_served)


@pytest.fixture(scope="module")
def open_run() -> RunReport:
    return _run(_unthrottled(), checks={"ignored_auth": {"enabled": False}})


@pytest.fixture(scope="module")
def keys_run() -> RunReport:
    return _run(
        _unthrottled(auth={"mode": "keys", "keys": [KEY]}),
        auth={"openapi": {"api-key": {"api_key": KEY}}},
    )


def _assert_clean(report: RunReport) -> None:
    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, f"{len(report.failures)} check failures:\n" + "\n\n".join(report.failures[:40])
    assert report.stop_reason == "completed", report.summary()


def _assert_exercised(report: RunReport) -> None:
    """Guard against a green run that tested little: every operation got positive and negative data,
    positive data reached the model (200), negative data was turned away (4xx)."""
    labels = report.labels()
    assert len(labels) == OPERATIONS, sorted(labels)
    for label in labels:
        positive = report.statuses(mode="positive", label=label)
        negative = report.statuses(mode="negative", label=label)
        assert positive[200] >= 5, f"{label}: positive cases answered {dict(positive)}"
        assert sum(n for status, n in negative.items() if status and 400 <= status < 500) >= 5, (
            f"{label}: negative cases answered {dict(negative)}"
        )
    phases = Counter(record.phase for record in report.cases)
    assert {"EXAMPLES", "COVERAGE", "FUZZING"} <= set(phases), phases
    assert len(report.cases) >= 2000, report.summary()


def test_open_mode_passes_every_check(open_run: RunReport) -> None:
    print(open_run.summary())
    _assert_clean(open_run)
    assert set(open_run.checks_run) == ALL_CHECKS - {"ignored_auth"}, open_run.checks_run


def test_open_mode_exercises_every_operation(open_run: RunReport) -> None:
    _assert_exercised(open_run)
    # Positive data really reached the model: 200s from deployments of every kind.
    served = {record.case.path_parameters.get("deployment-id") for record in open_run.cases if record.status == 200}
    for kind in ("chat", "completions", "embeddings"):
        assert served & set(SERVED[kind]), f"no {kind} deployment answered 200"


def test_keys_mode_passes_every_check_including_ignored_auth(keys_run: RunReport) -> None:
    print(keys_run.summary())
    _assert_clean(keys_run)
    assert set(keys_run.checks_run) == ALL_CHECKS, keys_run.checks_run
    assert keys_run.checks_run["ignored_auth"] >= OPERATIONS


def test_keys_mode_exercises_every_operation(keys_run: RunReport) -> None:
    _assert_exercised(keys_run)
