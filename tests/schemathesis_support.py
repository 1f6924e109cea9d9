"""Run Schemathesis' own engine (what ``schemathesis run`` drives) against a live mock, from Python.

The engine runs its phases (examples, coverage, fuzzing; stateful is not applicable: the spec has no
links) and its checks; we read its event stream into a ``RunReport``: the failures each check found,
every case with the status it got and whether it was generated as positive or negative data. Tests
then assert on that report — no failures, no errors — and on how much was exercised, so a run that
quietly tested nothing cannot pass.

Generated path parameters and ``model`` names are free strings in the contract (deployments are
configuration, not contract), so positive cases mostly name deployments that do not exist (an honest
404) or that serve another operation (Azure's 400 OperationNotSupported). ``route_to_served`` maps
the *positive* parts of a case onto deployments that serve its operation, so positive data really
reaches the model; negative parts are left as generated.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import Status, events, from_schema
from schemathesis.generation.case import Case
from schemathesis.hooks import HookContext

from aigw.contract_tests.capabilities import Capabilities, load_capabilities
from aigw.contract_tests.schema_engine import fit_positive_body, integers_as_integers  # one rule for both runs
from aigw.mocks.config import default_config

SEED = 20241021
API_VERSION = "2024-10-21"

# The default config's deployments, by the operation they serve (mocks/default.yaml).
SERVED = {
    "chat": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4", "gpt-35-turbo"),
    "completions": ("gpt-35-turbo-instruct",),
    "embeddings": ("text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large"),
}
SERVED["models"] = SERVED["chat"] + SERVED["completions"] + SERVED["embeddings"]


def operation_kind(path: str) -> str:
    """chat | completions | embeddings | models, from an operation's path template."""
    for suffix, kind in (("/chat/completions", "chat"), ("/completions", "completions"), ("/embeddings", "embeddings")):
        if path.endswith(suffix):
            return kind
    return "models"


def _pick(kind: str, generated: Any) -> str:
    # Stable (not hash()-salted) choice, so the same generated value always maps to the same deployment.
    choices = SERVED[kind]
    return choices[zlib.crc32(repr(generated).encode()) % len(choices)]


def _is_positive(case: Case, location: ParameterLocation) -> bool:
    return case.meta is None or not case.meta.is_negative_at(location)


def _embedding_model_for(body: dict[str, Any], generated: Any) -> str:
    # `dimensions` is accepted by text-embedding-3-* only, up to the model's size (Azure and OpenAI
    # answer 400 otherwise, a per-model rule the contract cannot state): route such a body there.
    dimensions = body.get("dimensions")
    if isinstance(dimensions, int):
        return "text-embedding-3-small" if dimensions <= 1536 else "text-embedding-3-large"
    return _pick("embeddings", generated)


@functools.lru_cache(maxsize=None)
def _limits_of(deployment: str) -> Capabilities:
    """The deployment's model limits (mocks/default.yaml), as the capabilities the fitting rule reads."""
    found = next(d for d in default_config().deployments if d.name == deployment)
    return load_capabilities("backend", overrides={
        "context_window": found.context_window, "max_completion_tokens": found.max_completion_tokens,
        "completions_context_window": found.context_window, "embeddings_max_input_tokens": found.max_input_tokens})


def route_to_served(context: HookContext | None, case: Case) -> Case:
    """``map_case`` hook: the positive parts of a case address deployments that serve the operation, and a
    positive body is fitted to what that deployment accepts beyond the contract (model limits, valid JSON
    Schemas: the same rule ``aigw check`` applies)."""
    kind = operation_kind(case.operation.path)
    body = case.body if isinstance(case.body, dict) else None
    body_positive = body is not None and _is_positive(case, ParameterLocation.BODY)
    if body_positive:
        case.body = body = integers_as_integers(body)
    if case.path_parameters and _is_positive(case, ParameterLocation.PATH):
        for name in ("deployment-id", "model"):
            generated = case.path_parameters.get(name)
            if isinstance(generated, str):
                if kind == "embeddings" and body_positive:
                    case.path_parameters[name] = _embedding_model_for(body, generated)
                else:
                    case.path_parameters[name] = _pick(kind, generated)
    if body_positive and "model" in body and not case.path_parameters:
        # Only where the body's model routes the request (/v1/...); deployment paths ignore it, as Azure does.
        generated = body["model"]
        body["model"] = _embedding_model_for(body, generated) if kind == "embeddings" else _pick(kind, generated)
    served = (case.path_parameters or {}).get("deployment-id") or (body or {}).get("model")
    if body_positive and isinstance(served, str) and served in SERVED["models"]:
        case.body = fit_positive_body(kind, body, _limits_of(served), served)
    return case


def engine_config(
    base_url: str,
    *,
    mode: str,
    max_examples: int,
    checks: dict[str, dict[str, Any]] | None = None,
    checks_enabled: bool = True,
    auth: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> SchemathesisConfig:
    """A config as `schemathesis.toml` would give it: deterministic, bounded, no cache, no stop on failure."""
    data: dict[str, Any] = {
        "seed": SEED,
        "base-url": base_url,
        "max-failures": 10_000,
        "suppress-health-check": ["all"],
        "cache": {"enabled": False},
        "workers": 1,
        "request-timeout": 30,
        "generation": {"mode": mode, "max-examples": max_examples, "deterministic": True},
        "checks": {"enabled": checks_enabled, **(checks or {})},
        # Stateful testing walks links between operations; the model API is stateless (no call creates
        # something another one reads), so the phase has nothing to do here.
        "phases": {"stateful": {"enabled": False}},
    }
    if auth:
        data["auth"] = auth
    if headers:
        data["headers"] = headers
    data.update(extra or {})
    return SchemathesisConfig.from_dict(data)


@dataclass
class CaseRecord:
    label: str
    phase: str
    mode: str  # positive | negative
    status: int | None
    case: Case
    checks: set[str] = field(default_factory=set)  # checks that ran on this case's response


@dataclass
class RunReport:
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cases: list[CaseRecord] = field(default_factory=list)
    checks_run: Counter = field(default_factory=Counter)  # check name -> times run
    stop_reason: str = ""
    elapsed: float = 0.0

    def statuses(self, *, mode: str | None = None, label: str | None = None) -> Counter:
        return Counter(
            r.status for r in self.cases if (mode is None or r.mode == mode) and (label is None or r.label == label)
        )

    def labels(self, *, mode: str | None = None, status: int | None = None) -> set[str]:
        return {r.label for r in self.cases if (mode is None or r.mode == mode) and (status is None or r.status == status)}

    def summary(self) -> str:
        by_mode = Counter(r.mode for r in self.cases)
        return (
            f"{len(self.cases)} cases ({dict(by_mode)}) in {self.elapsed:.1f}s, stop: {self.stop_reason}; "
            f"statuses {dict(self.statuses())}; checks {dict(self.checks_run)}"
        )


def _describe_failure(label: str, check: str, failure: Any, case: Case, response: Any) -> str:
    body = repr(case.body)[:400] if isinstance(case.body, (dict, list, str)) else "-"
    status = response.status_code if response is not None else None
    answer = response.content[:400].decode("utf-8", "replace") if response is not None else "-"
    return (
        f"{label} [{check}] {failure.title} (got {status}): {failure.message.strip()[:600]}\n"
        f"    request: {case.method} {case.formatted_path} query={case.query} headers={case.headers} body={body}\n"
        f"    response: {answer}"
    )


def _record(report: RunReport, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    responses = {cid: i.response.status_code for cid, i in recorder.interactions.items() if i.response is not None}
    records = {}
    for case_id, node in recorder.cases.items():
        case = node.value
        mode = case.meta.generation.mode.value if case.meta is not None else "positive"
        records[case_id] = CaseRecord(recorder.label, event.phase.name, mode, responses.get(case_id), case)
        report.cases.append(records[case_id])
    for case_id, checks in recorder.checks.items():
        for check in checks:
            report.checks_run[check.name] += 1
            if case_id in records:
                records[case_id].checks.add(check.name)
            if check.failure_info is not None:
                case = recorder.cases[case_id].value
                interaction = recorder.interactions.get(case_id)
                response = interaction.response if interaction is not None else None
                report.failures.append(_describe_failure(recorder.label, check.name, check.failure_info.failure, case, response))
    if event.status == Status.ERROR:
        report.errors.append(f"{recorder.label} ({event.phase.name}): scenario errored")


def run(schema: Any, *, map_case: Callable[[HookContext, Case], Case] | None = None) -> RunReport:
    """Execute every phase of the engine on ``schema`` and collect what happened."""
    if map_case is not None:
        schema.hooks.register_hook_with_name(map_case, "map_case")

        def map_examples(context: HookContext, examples: list[Case]) -> None:
            # The engine's examples phase does not run `map_case`; the examples are positive cases too.
            examples[:] = [map_case(context, case) for case in examples]

        schema.hooks.register_hook_with_name(map_examples, "before_add_examples")
    report = RunReport()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format() if hasattr(event.info, 'format') else event.value!r}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason)
    report.elapsed = time.monotonic() - started
    return report


def load_openapi(path: str, config: SchemathesisConfig) -> Any:
    return schemathesis.openapi.from_path(path, config=config)
