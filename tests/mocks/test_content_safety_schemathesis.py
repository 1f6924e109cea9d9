"""Schemathesis drives the Content Safety paths of specs/openapi.yaml against the running mock: generated valid
and invalid requests never get a 5xx, and every answer conforms to the documented statuses, media types and
schemas."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from aigw.protocol.spec import _spec_root
from conftest import running_mock

SCHEMA = schemathesis.openapi.from_path(str(_spec_root() / "openapi.yaml")).include(path_regex=r"^/contentsafety/")
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
CHECKS = [checks.not_a_server_error, openapi_checks.status_code_conformance, openapi_checks.content_type_conformance,
          openapi_checks.response_schema_conformance]


@pytest.fixture(scope="module")
def base_url():
    with running_mock() as (url, _):
        yield url


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_content_safety_paths_hold_their_contract(case, base_url):
    case.call_and_validate(base_url=base_url, checks=CHECKS)
