"""schema: Schemathesis over specs/openapi.yaml against the target, one testcase per check per operation.

Each operation the target declares is fuzzed once (all phases, positive and negative data, seeded by
``--seed``, ``--max-examples`` per scenario) the first time one of its testcases runs; every check —
Schemathesis' built-in ones and ours from ``checks.py`` — then passes or fails as its own testcase, with
up to five distinct failing exchanges attached as reproducers. A check no generated case exercised is
"not applicable", and ``engine`` guards against a run that reached nothing (no 2xx at all). With
``--mock-admin`` the mocks are reset before each operation, so their rate limits start empty.
"""

from __future__ import annotations

import pytest

from aigw.contract_tests.checks import checks_for
from aigw.contract_tests.plugin import configured_target
from aigw.contract_tests.schema_engine import OperationResult, builtin_checks, run_operation, select_operations
from aigw.contract_tests.target import Target

pytestmark = pytest.mark.aigw(group="schema")
ENGINE = "engine"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "schema_check" not in metafunc.fixturenames:
        return
    target = configured_target(metafunc.config)
    params = []
    for operation in select_operations(target) if target else []:
        for check in (ENGINE, *builtin_checks(target), *checks_for(operation.kind)):
            params.append(pytest.param((operation, check), id=f"{operation.label} {check}"))
    metafunc.parametrize("schema_check", params or [pytest.param(None, id="no-operations")])


@pytest.fixture(scope="session")
def schema_results() -> dict[str, OperationResult]:
    return {}


def test_operation_check(aigw_target: Target, schema_results: dict[str, OperationResult], schema_check) -> None:
    if schema_check is None:
        pytest.skip("not applicable: the target declares no model-API operation of specs/openapi.yaml")
    operation, check = schema_check
    result = schema_results.get(operation.label)
    if result is None:
        # Each operation is fuzzed with fresh rate-limit windows in the mocks behind the target (when given):
        # the operations before it share a backend's per-deployment limits, and answers that are all 429 judge nothing.
        for admin in aigw_target.mock_admins:
            admin.reset()
        result = schema_results[operation.label] = run_operation(aigw_target, operation)
    if check == ENGINE:
        assert not result.errors, f"Schemathesis could not run {operation.label}:\n" + "\n".join(result.errors[:10])
        reached = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
        assert reached, (f"no generated request to {operation.label} was answered 2xx ({result.cases} cases, statuses "
                         f"{dict(result.statuses)}): the checks saw only errors — wrong deployment names or keys?")
        return
    entry = result.checks.get(check)
    if entry is None or entry.ran == 0:
        pytest.skip(f"not applicable: no generated case exercised {check} on {operation.label}")
    if entry.failures:
        aigw_target.exchanges.extend(entry.reproducers)
        pytest.fail(f"{check} failed on {operation.label}: {len(entry.failures)} distinct failure(s) in {entry.ran} checked "
                    f"responses:\n- " + "\n- ".join(entry.failures[:10]), pytrace=False)
