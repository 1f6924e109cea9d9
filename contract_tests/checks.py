"""Our own response checks: what the OpenAPI document cannot say about a model-API answer.

Plain functions over a request body and a parsed response (``check_chat_completion`` and friends
return a list of problems, empty when fine) so every group can reuse them and they can be unit-tested
against canned exchanges. ``response_problems`` sorts problems by *check name*, so the schema group
reports each rule as its own testcase per operation; ``registered_checks()`` installs them as
Schemathesis checks for the duration of a run only (Schemathesis' registry is process-global, and
other Schemathesis users in the same process must not inherit them).
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any, Callable, Iterator

import jsonschema
import orjson

from aigw.protocol import spec

KINDS = ("chat", "completions", "embeddings", "models")
FINISH_REASONS = {"chat": {"stop", "length", "tool_calls", "content_filter", "function_call"},
                  "completions": {"stop", "length", "content_filter"}}
OBJECTS = {"chat": "chat.completion", "completions": "text_completion", "embeddings": "list"}
ID_FORMATS = {"chat": re.compile(r"^chatcmpl-[A-Za-z0-9_-]+$"), "completions": re.compile(r"^cmpl-[A-Za-z0-9_-]+$")}
CREATED_TOLERANCE_S = 86400  # targets' clocks (and mocks' virtual clocks) drift; this catches ms and 0, not skew

# check name → operation kinds it applies to; the order is the report's order.
CHECKS: dict[str, tuple[str, ...]] = {
    "usage_arithmetic": ("chat", "completions", "embeddings"),
    "max_tokens_respected": ("chat", "completions"),
    "finish_reason_consistency": ("chat", "completions"),
    "object_values": KINDS,
    "created_near_now": ("chat", "completions"),
    "id_format": ("chat", "completions"),
    "n_choices": ("chat", "completions", "embeddings"),
    "tool_call_arguments": ("chat",),
    "json_mode_content": ("chat",),
    "error_body_shape": KINDS,
    "request_id_header": KINDS,
}


def checks_for(kind: str) -> list[str]:
    return [name for name, kinds in CHECKS.items() if kind in kinds]


def operation_kind(path: str) -> str:
    """chat | completions | embeddings | models, from a path or path template."""
    path = path.split("?", 1)[0]
    for suffix, kind in (("/chat/completions", "chat"), ("/completions", "completions"), ("/embeddings", "embeddings")):
        if path.endswith(suffix):
            return kind
    return "models"


# -- response bodies ------------------------------------------------------------------------------------

def check_usage(usage: Any, *, embeddings: bool = False) -> list[str]:
    if not isinstance(usage, dict):
        return [f"usage is missing or not an object: {usage!r}"]
    problems = []
    prompt, total = usage.get("prompt_tokens"), usage.get("total_tokens")
    completion = usage.get("completion_tokens", 0 if embeddings else None)
    for name, value in (("prompt_tokens", prompt), ("completion_tokens", completion), ("total_tokens", total)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"usage.{name} is {value!r}, not a non-negative integer")
    if not problems and total != prompt + completion:
        problems.append(f"usage.total_tokens {total} != prompt_tokens {prompt} + completion_tokens {completion}")
    return problems


def _max_tokens(request: dict[str, Any], kind: str) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = request.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 16 if kind == "completions" else None  # the legacy API's documented default


def _tools_by_name(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Declared functions: ``tools`` and the legacy ``functions`` list."""
    tools = {}
    functions = [t.get("function") if isinstance(t, dict) else None for t in request.get("tools") or []]
    for function in functions + list(request.get("functions") or []):
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools[function["name"]] = function
    return tools


def _forced_function(request: dict[str, Any]) -> bool:
    """tool_choice / function_call naming one function: the API then ends with finish_reason "stop"."""
    choice, legacy = request.get("tool_choice"), request.get("function_call")
    return (isinstance(choice, dict) and choice.get("type") == "function") or isinstance(legacy, dict)


def _prompt_count(request: dict[str, Any]) -> int:
    prompt = request.get("prompt")
    if isinstance(prompt, list) and prompt and not all(isinstance(p, int) for p in prompt):
        return len(prompt)  # a batch of prompts (strings or token lists); a flat token list is one prompt
    return 1


def _tool_call_problems(request: dict[str, Any], message: dict[str, Any], where: str, finish_reason: Any = None) -> list[str]:
    calls = message.get("tool_calls") or []
    if calls and request.get("tool_choice") == "none":
        return [f"{where}: tool_choice is 'none' but the message has tool_calls"]
    tools, problems = _tools_by_name(request), []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            problems.append(f"{where}.tool_calls[{i}] has no function object")
            continue
        name = function.get("name")
        if name not in tools:
            problems.append(f"{where}.tool_calls[{i}] calls {name!r}, which the request did not declare ({', '.join(tools) or 'no tools'})")
            continue
        if finish_reason == "length":
            continue  # cut at max_tokens: the arguments may legitimately stop mid-JSON
        try:
            arguments = orjson.loads(function.get("arguments") or "")
        except (orjson.JSONDecodeError, TypeError):
            problems.append(f"{where}.tool_calls[{i}].function.arguments is not valid JSON: {function.get('arguments')!r:.200}")
            continue
        parameters = tools[name].get("parameters")
        if isinstance(parameters, dict):
            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(parameters).iter_errors(arguments))
            if error is not None:
                problems.append(f"{where}.tool_calls[{i}] arguments do not match {name}'s parameters: {error.message[:200]}")
    return problems


def _json_mode_problems(request: dict[str, Any], text: Any, finish_reason: Any, where: str) -> list[str]:
    response_format = request.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("json_object", "json_schema") or finish_reason != "stop" or not isinstance(text, str):
        return []  # a "length" answer may be cut mid-JSON: the API documents that
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [f"{where}: response_format {kind} but the content is not JSON: {text[:120]!r}"]
    if kind == "json_object" and not isinstance(value, dict):
        return [f"{where}: response_format json_object but the content is {type(value).__name__}, not an object"]
    schema = (response_format.get("json_schema") or {}) if kind == "json_schema" else {}
    if isinstance(schema, dict) and schema.get("strict") and isinstance(schema.get("schema"), dict):
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema["schema"]).iter_errors(value))
        if error is not None:
            return [f"{where}: strict json_schema not honoured: {error.message[:200]}"]
    return []


def _choice_problems(kind: str, request: dict[str, Any], body: dict[str, Any], problems: dict[str, list[str]]) -> None:
    choices = body.get("choices")
    if not isinstance(choices, list):
        problems["n_choices"].append(f"choices is {type(choices).__name__}, not a list")
        return
    n = request.get("n") if isinstance(request.get("n"), int) else 1
    prompts = _prompt_count(request) if kind == "completions" else 1
    if len(choices) != n * prompts:
        problems["n_choices"].append(f"{len(choices)} choices for n={n}" + (f" × {prompts} prompts" if prompts > 1 else ""))
    indexes = sorted(c.get("index") for c in choices if isinstance(c, dict) and isinstance(c.get("index"), int))
    if indexes != list(range(len(choices))):
        problems["n_choices"].append(f"choice indexes are {indexes}, not 0..{len(choices) - 1}")
    limit = _max_tokens(request, kind)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    completion = usage.get("completion_tokens")
    if limit is not None and isinstance(completion, int) and completion > limit * max(len(choices), 1):
        problems["max_tokens_respected"].append(f"completion_tokens {completion} > max_tokens {limit} × {len(choices)} choices")
    for i, choice in enumerate(c for c in choices if isinstance(c, dict)):
        where, reason = f"choices[{i}]", choice.get("finish_reason")
        if reason not in FINISH_REASONS[kind]:
            problems["finish_reason_consistency"].append(f"{where}.finish_reason {reason!r} is not one of {sorted(FINISH_REASONS[kind])}")
        if kind != "chat":
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        has_calls = bool(message.get("tool_calls") or message.get("function_call"))
        if has_calls and reason not in ("tool_calls", "function_call", "length", "content_filter") and not (
                reason == "stop" and _forced_function(request)):
            problems["finish_reason_consistency"].append(f"{where}: finish_reason {reason!r} with tool_calls")
        if not has_calls and reason in ("tool_calls", "function_call"):
            problems["finish_reason_consistency"].append(f"{where}: finish_reason {reason!r} without any tool call")
        if reason == "length" and limit is not None and n == 1 and isinstance(completion, int) and completion < limit:
            problems["finish_reason_consistency"].append(f"{where}: finish_reason 'length' but only {completion} of max_tokens {limit} used")
        problems["tool_call_arguments"] += _tool_call_problems(request, message, where, reason)
        problems["json_mode_content"] += _json_mode_problems(request, message.get("content"), reason, where)


def _embedding_problems(request: dict[str, Any], body: dict[str, Any], problems: dict[str, list[str]]) -> None:
    inputs = request.get("input")
    expected = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    data = body.get("data")
    if not isinstance(data, list):
        problems["n_choices"].append("data is not a list")
        return
    if len(data) != expected:
        problems["n_choices"].append(f"{len(data)} embeddings for {expected} inputs")
    if sorted(d.get("index") for d in data if isinstance(d, dict)) != list(range(len(data))):
        problems["n_choices"].append("data indexes are not 0..n-1")
    bad = {d.get("object") for d in data if isinstance(d, dict)} - {"embedding"}
    if bad:
        problems["object_values"].append(f"data[].object is {sorted(map(str, bad))}, not 'embedding'")
    dims = request.get("dimensions")
    if isinstance(dims, int) and request.get("encoding_format", "float") == "float":
        wrong = [len(d["embedding"]) for d in data if isinstance(d, dict) and isinstance(d.get("embedding"), list) and len(d["embedding"]) != dims]
        if wrong:
            problems["n_choices"].append(f"embedding length {wrong[0]} != requested dimensions {dims}")


def response_problems(kind: str, request: Any, body: Any, *, now: float | None = None) -> dict[str, list[str]]:
    """Every problem of a 200 JSON answer to ``kind``, by check name."""
    problems: dict[str, list[str]] = {name: [] for name in CHECKS}
    request = request if isinstance(request, dict) else {}
    if not isinstance(body, dict):
        problems["object_values"].append(f"the body is {type(body).__name__}, not an object")
        return problems
    obj = body.get("object")
    if kind == "models":
        if obj not in ("list", "model"):
            problems["object_values"].append(f"object is {obj!r}, not 'list' or 'model'")
        return problems
    if obj != OBJECTS[kind]:
        problems["object_values"].append(f"object is {obj!r}, not {OBJECTS[kind]!r}")
    problems["usage_arithmetic"] += check_usage(body.get("usage"), embeddings=kind == "embeddings")
    if kind == "embeddings":
        _embedding_problems(request, body, problems)
        return problems
    identifier = body.get("id")
    if not isinstance(identifier, str) or not ID_FORMATS[kind].match(identifier):
        problems["id_format"].append(f"id {identifier!r} does not match {ID_FORMATS[kind].pattern}")
    created = body.get("created")
    now = time.time() if now is None else now
    if not isinstance(created, int) or isinstance(created, bool):
        problems["created_near_now"].append(f"created is {created!r}, not an integer (Unix seconds)")
    elif abs(created - now) > CREATED_TOLERANCE_S:
        problems["created_near_now"].append(f"created {created} is {created - now:+.0f} s from now (Unix seconds expected)")
    _choice_problems(kind, request, body, problems)
    return problems


def check_chat_completion(request_body: Any, response_json: Any) -> list[str]:
    return [p for group in response_problems("chat", request_body, response_json).values() for p in group]


def check_completion(request_body: Any, response_json: Any) -> list[str]:
    return [p for group in response_problems("completions", request_body, response_json).values() for p in group]


def check_embeddings(request_body: Any, response_json: Any) -> list[str]:
    return [p for group in response_problems("embeddings", request_body, response_json).values() for p in group]


# -- errors and headers ---------------------------------------------------------------------------------

def check_error_body(status: int, content_type: str | None, body: bytes) -> list[str]:
    """A 4xx/5xx must explain itself: JSON in one of error.json's two shapes, with the status repeated right."""
    if status < 400:
        return []
    if not (content_type or "").split(";")[0].strip().lower().endswith("json"):
        return [f"{status} answered with content-type {content_type!r}, not JSON"]
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [f"{status} body is not JSON: {body[:120]!r}"]
    issues = spec.check("error", value)
    if issues:
        return [f"{status} error body does not match error.json: {issues[0].message}"]
    if isinstance(value, dict) and "statusCode" in value and value["statusCode"] != status:
        return [f"statusCode {value['statusCode']} in the body of a {status} response"]
    return []


def check_request_id(headers: dict[str, str], name: str = "apim-request-id") -> list[str]:
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return [] if value and value.strip() else [f"response has no {name} header"]


# -- Schemathesis --------------------------------------------------------------------------------------

def _response_json(response: Any) -> Any:
    content_type = (response.headers.get("content-type") or [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if response.status_code != 200 or "json" not in content_type:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _header(response: Any, name: str) -> str | None:
    value = response.headers.get(name.lower()) or response.headers.get(name)
    return value[0] if isinstance(value, list) else value


def _schemathesis_check(name: str, request_id_header: str) -> Callable:
    # Schemathesis' protocol: raise on failure, return a truthy value to say "not applicable", None when it passed.
    def check(ctx: Any, response: Any, case: Any) -> bool | None:
        kind = operation_kind(case.operation.path)
        if kind not in CHECKS[name]:
            return True
        if name == "error_body_shape":
            if response.status_code < 400:
                return True
            problems = check_error_body(response.status_code, _header(response, "content-type"), response.content)
        elif name == "request_id_header":
            problems = [] if _header(response, request_id_header) else [f"response has no {request_id_header} header"]
        else:
            body = _response_json(response)
            if body is None:
                return True
            problems = response_problems(kind, case.body, body)[name]
        if problems:
            raise AssertionError("; ".join(problems))
        return None

    check.__name__ = f"aigw_{name}"
    check.__doc__ = f"aigw contract check {name}"
    return check


@contextlib.contextmanager
def registered_checks(request_id_header: str = "apim-request-id") -> Iterator[list[str]]:
    """Register our checks with Schemathesis for the ``with`` block; yields their registered names."""
    from schemathesis.checks import CHECKS as REGISTRY, check as register

    functions = [_schemathesis_check(name, request_id_header) for name in CHECKS]
    for function in functions:
        if function.__name__ in REGISTRY.get_all_names():
            REGISTRY.unregister(function.__name__)
        register(function)
    try:
        yield [f.__name__ for f in functions]
    finally:
        for function in functions:
            if function.__name__ in REGISTRY.get_all_names():
                REGISTRY.unregister(function.__name__)
