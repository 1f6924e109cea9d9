"""schema: Schemathesis over specs/openapi.yaml against the target, one testcase per check per operation.

Each operation the target declares is fuzzed once (all phases, positive and negative data, seeded by
``--seed``, ``--max-examples`` per scenario) the first time one of its testcases runs; every check —
Schemathesis' built-in ones and ours from ``checks.py`` — then passes or fails as its own testcase, with
up to five distinct failing exchanges attached as reproducers. A check no generated case exercised is
"not applicable", and ``engine`` guards against a run that reached nothing (no 2xx at all). Before each
operation the target is reset where it can be (``--mock-admin``, ``--reset-url``), so rate limits start
empty and no breaker is open. A check that failed only on throttled (429) or unavailable (503) answers
judged nothing: the operation is fuzzed once more after the target has settled, and the check is
reported inconclusive if that happens again (``aigw.contract_tests.state``).
"""

from __future__ import annotations

import pytest

from aigw.contract_tests import state
from aigw.contract_tests.checks import checks_for
from aigw.contract_tests.plugin import configured_target, notifier
from aigw.contract_tests.schema_engine import Operation, OperationResult, builtin_checks, run_operation, select_operations
from aigw.contract_tests.target import Target

# Throttled answers are handled here (the whole operation is fuzzed again), not by the plugin's rerun.
pytestmark = pytest.mark.aigw(group="schema", judges=tuple(state.THROTTLED))
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


def _fuzz(target: Target, operation: Operation) -> OperationResult:
    """Every phase on ``operation``, from a reset target (its rate limits empty, no breaker open)."""
    problems = target.reset_state()
    if problems:
        state.inconclusive("the target could not be reset before fuzzing: " + "; ".join(problems)[:400])
    return run_operation(target, operation)


def _failure(result: OperationResult, check: str) -> tuple[str, bool] | None:
    """(message, found only on throttled answers) for a failing check; None when it passed."""
    if check == ENGINE:
        reached = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
        if reached:
            return None
        throttled = bool(result.statuses) and set(result.statuses) <= state.THROTTLED
        return (f"no generated request to {result.operation.label} was answered 2xx ({result.cases} cases, statuses "
                f"{dict(result.statuses)}): the checks saw only errors — wrong deployment names or keys?", throttled)
    entry = result.checks[check]
    if not entry.failures:
        return None
    throttled = all(status in state.THROTTLED for status in entry.statuses)
    return (f"{check} failed on {result.operation.label}: {len(entry.failures)} distinct failure(s) in {entry.ran} checked "
            "responses:\n- " + "\n- ".join(entry.failures[:10]), throttled)


def test_operation_check(aigw_target: Target, schema_results: dict[str, OperationResult], schema_check,
                         pytestconfig: pytest.Config) -> None:
    if schema_check is None:
        pytest.skip("not applicable: the target declares no model-API operation of specs/openapi.yaml")
    operation, check = schema_check
    result = schema_results.get(operation.label)
    if result is None:
        result = schema_results[operation.label] = _fuzz(aigw_target, operation)
    if check == ENGINE:
        assert not result.errors, f"Schemathesis could not run {operation.label}:\n" + "\n".join(result.errors[:10])
    elif check not in result.checks or result.checks[check].ran == 0:
        pytest.skip(f"not applicable: no generated case exercised {check} on {operation.label}")
    failure = _failure(result, check)
    if failure is not None and failure[1] and not result.refuzzed:
        # Found only on 429/503: the target was throttled or unavailable, which this group does not judge.
        max_wait = pytestconfig.option.aigw_max_wait
        blocked = state.settle(aigw_target, notifier(pytestconfig), max_wait, key=aigw_target.fuzz_key or aigw_target.main_key)
        if blocked is not None:
            state.inconclusive(state.unavailable_reason(max_wait), blocked)
        result = schema_results[operation.label] = _fuzz(aigw_target, operation)
        result.refuzzed = True
        failure = _failure(result, check) if check in result.checks or check == ENGINE else None
    if failure is None:
        return
    message, throttled = failure
    entry = result.checks.get(check)
    if entry is not None:
        aigw_target.exchanges.extend(entry.reproducers)
    if throttled:
        state.inconclusive(f"{state.unavailable_reason(pytestconfig.option.aigw_max_wait)}; when fuzzed again, {message}",
                           aigw_target.exchanges[-1] if aigw_target.exchanges else None)
    pytest.fail(message, pytrace=False)
