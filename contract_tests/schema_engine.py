"""The schema group's engine: Schemathesis over specs/openapi.yaml against the target, one operation at a time.

Schemathesis' own engine (what ``schemathesis run`` drives) runs its examples, coverage and fuzzing
phases with positive and negative data and every built-in check, plus ours (``checks.py``). Its event
stream is folded into an ``OperationResult``: for each check, how often it ran and the failures it
found, each with the exchange as a reproducer. The suite turns that into one pytest testcase per
check per operation.

Scope, from the target's capabilities: only the model-API operations the target declares (Azure
``/openai/deployments`` paths, ``/v1``, the seed's ``/deployments``; completions, embeddings and the
model list only where declared). Generated deployment names and ``/v1`` model names are free strings
in the contract, so the *positive* parts of a case are mapped onto the target's declared deployments
(otherwise valid data would only ever meet an honest 404); negative parts stay as generated.

Two more rules of the real API are not in the contract, so positive bodies are fitted to them too
(``fit_positive_body``): model limits — a schema-valid ``max_tokens`` of two billion is a 400 from Azure
OpenAI ("max_tokens is too large"), so completion caps are kept within the context window left by the
prompt and the whole request's completion allowance (cap × choices) within one answer's cap, a request any
deployment can serve without its admission estimate exceeding a whole TPM window; and JSON Schemas — a
tool's ``parameters`` or a ``response_format`` schema must be a valid JSON Schema (the contract can only
say "an object"), so an invalid one is replaced by ``{"type": "object"}``.

Valid data may still be throttled (429, with Retry-After) by a target with rate limits — the spec
allows it and the rate-limit group judges it; so ``positive_data_acceptance`` accepts 429 too. Use an
unthrottled key (``--fuzz-key``) so fuzzing reaches the model.
"""

from __future__ import annotations

import importlib.resources
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aigw.contract_tests.capabilities import Capabilities
from aigw.contract_tests.checks import operation_kind
from aigw.contract_tests.target import Exchange, Target
from aigw.protocol.spec import json_schema_fault, load_openapi
from aigw.protocol.tokens import TokenCountError, count_chat_prompt, count_prompts

MODEL_API_TAGS = {"AzureOpenAI": "azure_paths", "OpenAIV1": "v1_paths", "AI": "seed_paths"}
KIND_CAPABILITY = {"completions": "completions", "embeddings": "embeddings", "models": "models"}
# Schemathesis' built-in checks that apply to this API. Left out: max_response_time (timing is the
# benchmarks' business). ignored_auth only runs where the target declares enforced keys.
BUILTIN_CHECKS = (
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance", "missing_required_header",
    "unsupported_method", "ignored_auth",
)
MAX_REPRODUCERS = 5


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    kind: str

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def select_operations(target: Target) -> list[Operation]:
    """The spec's model-API operations this target declares, in spec order."""
    capabilities = target.capabilities
    selected = []
    for path, item in load_openapi()["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            tags = [tag for tag in operation.get("tags", []) if tag in MODEL_API_TAGS]
            if not tags or not any(capabilities.supports(MODEL_API_TAGS[tag]) for tag in tags):
                continue
            kind = operation_kind(path)
            needed = KIND_CAPABILITY.get(kind)
            if needed and not capabilities.supports(needed):
                continue
            if kind == "completions" and not target.completions_deployment:
                continue
            selected.append(Operation(method.upper(), path, kind))
    return selected


def builtin_checks(target: Target) -> list[str]:
    return [name for name in BUILTIN_CHECKS if name != "ignored_auth" or target.capabilities.auth]


@dataclass
class CheckResult:
    ran: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: list[int | None] = field(default_factory=list)  # the answer each failure was found on
    reproducers: list[Exchange] = field(default_factory=list)


@dataclass
class OperationResult:
    operation: Operation
    checks: dict[str, CheckResult] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    cases: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    refuzzed: bool = False  # fuzzed a second time because the first saw the target throttled

    def check(self, name: str) -> CheckResult:
        return self.checks.setdefault(name, CheckResult())


# -- mapping positive data onto the target's deployments -------------------------------------------------

def integers_as_integers(value: Any) -> Any:
    # JSON Schema counts 104.0 as an integer; the real API rejects a decimal where it wants an integer,
    # a rule no schema can state. Positive data is sent with integral numbers written as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: integers_as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integers_as_integers(item) for item in value]
    return value


TOKEN_MARGIN = 1.1  # a target's tokenizer may count a little differently from ours


def fit_positive_body(kind: str, body: dict, capabilities: Capabilities, model: str) -> dict:
    """A valid body, fitted to what the API accepts beyond the contract (see the module docstring)."""
    if kind == "chat":
        _valid_schemas(body)
    return fit_to_model_limits(kind, body, capabilities, model)


def _valid_schemas(body: dict) -> None:
    holders = [tool.get("function") for tool in body.get("tools") or [] if isinstance(tool, dict)]
    holders += list(body.get("functions") or [])
    for holder in holders:
        if isinstance(holder, dict) and "parameters" in holder and json_schema_fault(holder["parameters"]):
            holder["parameters"] = {"type": "object"}
    json_schema = (body.get("response_format") or {}).get("json_schema") if isinstance(body.get("response_format"), dict) else None
    if isinstance(json_schema, dict) and "schema" in json_schema and json_schema_fault(json_schema["schema"]):
        json_schema["schema"] = {"type": "object"}


def fit_to_model_limits(kind: str, body: dict, capabilities: Capabilities, model: str) -> dict:
    """Completion caps of a valid chat or completions body, lowered to what the deployment accepts (see module doc)."""
    if kind == "chat":
        window, cap, fields, copies = capabilities.context_window, capabilities.max_completion_tokens, \
            ("max_tokens", "max_completion_tokens"), _positive(body.get("n"))
        prompt = _counted(lambda: count_chat_prompt(body["messages"], model, body.get("tools") or body.get("functions")), body)
    elif kind == "completions":
        window, cap, fields = capabilities.completions_context_window, None, ("max_tokens",)
        copies = max(_positive(body.get("n")), _positive(body.get("best_of")))
        prompt = _counted(lambda: max(count_prompts(body["prompt"], model), default=0), body)
    else:
        return body
    limits = [limit for limit in (cap, window - int(prompt * TOKEN_MARGIN) - 16 if window else None) if limit is not None]
    if not limits:
        return body
    per_choice = max(1, min(limits))
    total = cap or window
    per_choice = max(1, min(per_choice, total // copies))
    for field in fields:
        value = body.get(field)
        if type(value) is int and value > per_choice:
            body[field] = per_choice
    return body


def _positive(value: Any) -> int:
    return value if type(value) is int and value > 0 else 1


def _counted(count, body: dict) -> int:
    try:
        return count()
    except (TokenCountError, KeyError, TypeError, ValueError):
        import json

        return len(json.dumps(body, default=str)) // 2  # unreadable for our counter: a generous guess


def case_mapper(target: Target):
    from schemathesis.core.parameters import ParameterLocation

    def positive(case: Any, location: Any) -> bool:
        return case.meta is None or not case.meta.is_negative_at(location)

    def map_case(context: Any, case: Any) -> Any:
        kind = operation_kind(case.operation.path)
        deployment = target.deployment_for(kind)
        body = case.body if isinstance(case.body, dict) else None
        body_positive = body is not None and positive(case, ParameterLocation.BODY)
        if body_positive:
            case.body = body = fit_positive_body(kind, integers_as_integers(body), target.capabilities, deployment)
            dimensions = body.get("dimensions")
            if kind == "embeddings" and isinstance(dimensions, int) and dimensions > target.capabilities.embedding_max_dimensions:
                body["dimensions"] = target.capabilities.embedding_max_dimensions
        if case.path_parameters and positive(case, ParameterLocation.PATH):
            for name in ("deployment-id", "model"):
                if isinstance(case.path_parameters.get(name), str):
                    case.path_parameters[name] = deployment
        if body_positive and "model" in body and not case.path_parameters:
            body["model"] = deployment  # /v1: the body's model routes the request
        return case

    return map_case


# -- running -----------------------------------------------------------------------------------------------

def engine_config(target: Target, our_checks: list[str]) -> Any:
    from schemathesis.config import SchemathesisConfig

    key = target.fuzz_key or target.main_key
    data: dict[str, Any] = {
        "seed": target.seed,
        "base-url": target.base_url,
        "max-failures": 10_000,
        "suppress-health-check": ["all"],
        "cache": {"enabled": False},
        "workers": 1,
        "request-timeout": 60,
        "generation": {"mode": "all", "max-examples": target.max_examples, "deterministic": True},
        "checks": {
            "enabled": False,  # only what we name below: a check added by a later Schemathesis is reviewed first
            **{name: {"enabled": True} for name in (*builtin_checks(target), *our_checks)},
            "positive_data_acceptance": {"enabled": True, "expected-statuses": ["2xx", "401", "403", "404", "429"]},
        },
        # Stateful testing walks links between operations; the model API is stateless.
        "phases": {"stateful": {"enabled": False}},
    }
    if key:
        scheme = "bearer" if target.paths == "v1" and target.profile != "gateway" else "api-key"
        data["auth"] = {"openapi": {scheme: {"bearer": key} if scheme == "bearer" else {"api_key": key}}}
    return SchemathesisConfig.from_dict(data)


def load_schema(config: Any) -> Any:
    import schemathesis

    with importlib.resources.as_file(importlib.resources.files("aigw.specs") / "openapi.yaml") as path:
        return schemathesis.openapi.from_path(str(path), config=config)


def _exchange(case: Any, response: Any) -> Exchange:
    request = response.request
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode() or None
    headers = {k: (v[0] if isinstance(v, list) else v) for k, v in response.headers.items()}
    return Exchange(request.method, request.url, dict(request.headers), body, response.status_code, headers,
                    response.content or b"", response.elapsed)


def run_operation(target: Target, operation: Operation) -> OperationResult:
    """Every phase of the engine on one operation; results by check."""
    from schemathesis.engine import Status, events, from_schema

    from aigw.contract_tests.checks import registered_checks

    result = OperationResult(operation)
    started = time.monotonic()
    with registered_checks(target.capabilities.request_id_header) as ours:
        schema = load_schema(engine_config(target, ours)).include(method=operation.method, path=operation.path)
        map_case = case_mapper(target)
        schema.hooks.register_hook_with_name(map_case, "map_case")

        def map_examples(context: Any, examples: list) -> None:
            examples[:] = [map_case(context, case) for case in examples]  # the examples phase skips map_case

        schema.hooks.register_hook_with_name(map_examples, "before_add_examples")
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _record(result, event)
                if event.status == Status.ERROR:
                    result.errors.append(f"{event.phase.name}: scenario errored")
            elif isinstance(event, events.NonFatalError):
                result.errors.append(event.info.format() if hasattr(event.info, "format") else repr(event.value))
            elif isinstance(event, events.FatalError):
                result.errors.append(f"fatal: {event.exception!r}")
    result.elapsed_s = time.monotonic() - started
    return result


def _record(result: OperationResult, event: Any) -> None:
    recorder = event.recorder
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            result.statuses[interaction.response.status_code] += 1
    result.cases += len(recorder.cases)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            name = check.name.removeprefix("aigw_")
            entry = result.check(name)
            entry.ran += 1
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            message = f"{failure.title}: {failure.message.strip()[:600]}"
            if response is not None:
                message += f" (got {response.status_code})"
            if message not in entry.failures:
                entry.failures.append(message)
                entry.statuses.append(response.status_code if response is not None else None)
                if response is not None and len(entry.reproducers) < MAX_REPRODUCERS:
                    entry.reproducers.append(_exchange(recorder.cases[case_id].value, response))
