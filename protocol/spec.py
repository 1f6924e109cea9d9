"""The contract files (specs/) loaded once, and compiled validators for the hot path.

specs/openapi.yaml and specs/schemas/*.json ship inside the package as ``aigw.specs``; every schema
carries an ``$id`` under ``https://aigw-suite.dev/schemas/`` and refers to its siblings relatively,
so one registry of all of them resolves every reference without touching the network.
Validation uses jsonschema-rs (compiled, ~0.2 µs for a small body) and turns its errors into the
``param`` path and message OpenAI's API uses, because clients show those to people.
"""

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema_rs
import yaml

SCHEMA_BASE = "https://aigw-suite.dev/schemas/"


def json_schema_fault(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (2020-12, or draft-07 as tool schemas often are); None if it is.

    The API rejects a tool's ``parameters`` or a ``response_format`` schema that is not one, a rule the
    contract's ``type: object`` cannot state: the mock answers such requests with a 400, the contract suite
    keeps its generated valid data clear of them.
    """
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        return None
    except jsonschema.SchemaError as exc:
        try:
            jsonschema.Draft7Validator.check_schema(schema)
            return None
        except jsonschema.SchemaError:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            return f"invalid JSON Schema at {where}: {exc.message}"


def _spec_root():
    return resources.files("aigw.specs")


@functools.cache
def load_openapi() -> dict[str, Any]:
    """The OpenAPI document as a dict (references left as written)."""
    return yaml.safe_load((_spec_root() / "openapi.yaml").read_text("utf-8"))


@functools.cache
def schema_names() -> tuple[str, ...]:
    folder = _spec_root() / "schemas"
    return tuple(sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")))


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """One schema by file stem, e.g. ``load_schema("chat-completion-request")``."""
    if name not in schema_names():
        raise KeyError(f"no schema named {name!r} in specs/schemas (have: {', '.join(schema_names())})")
    return json.loads((_spec_root() / "schemas" / f"{name}.json").read_text("utf-8"))


@functools.cache
def registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(SCHEMA_BASE + f"{n}.json", load_schema(n)) for n in schema_names()])


@functools.cache
def validator(name: str):
    """A compiled validator for one schema; cached for the process."""
    return jsonschema_rs.validator_for(load_schema(name), registry=registry(), base_uri=SCHEMA_BASE + f"{name}.json",
                                      validate_formats=True)


@dataclass(frozen=True)
class SchemaIssue:
    """One violation, phrased for an OpenAI-shaped 400 body."""

    param: str | None
    message: str
    code: str
    unknown_argument: str | None = None


def param_path(path: list[str | int]) -> str | None:
    """``["messages", 0, "role"]`` → ``messages[0].role`` (OpenAI's own spelling)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def check(name: str, instance: Any) -> list[SchemaIssue]:
    """All violations of schema ``name``, most useful first; empty when valid.

    Fast path: a valid instance costs one ``is_valid`` call.
    """
    v = validator(name)
    try:
        if v.is_valid(instance) and not _integral_floats(name, instance):
            return []
        issues = [_issue(error) for error in v.iter_errors(instance)]
    except ValueError as exc:  # jsonschema-rs stops at ~255 levels of nesting
        return [SchemaIssue(None, f"The request body is nested too deeply to process ({exc}).", "invalid_value")]
    issues += [SchemaIssue(p, f"Invalid type for '{p}': expected an integer, but got a decimal number instead.", "invalid_type")
               for p in _integral_floats(name, instance)]
    # An unknown top-level argument is what the real API reports first.
    issues.sort(key=lambda i: (i.unknown_argument is None, i.param is not None and "." in (i.param or ""), i.param or ""))
    return issues


@functools.cache
def integer_properties(name: str) -> frozenset[str]:
    """Top-level properties of a schema typed integer (alone, nullable, or in an anyOf/oneOf branch).

    JSON Schema counts 5.0 as an integer, but the real API rejects a decimal where it wants an
    integer ("expected an integer, but got a decimal number instead"), and so must we.
    """
    names = set()
    for prop, sub in (load_schema(name).get("properties") or {}).items():
        sub = _deref(name, sub)
        branches = [sub] + [_deref(name, b) for b in sub.get("anyOf", []) + sub.get("oneOf", [])]
        for branch in branches:
            kind = branch.get("type")
            if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
                names.add(prop)
    return frozenset(names)


def _deref(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Follow one local or sibling-file ``$ref`` (``common.json#/$defs/X``, ``#/$defs/X``)."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    file, _, pointer = ref.partition("#")
    target: Any = load_schema(file[: -len(".json")] if file else name)
    for part in filter(None, pointer.split("/")):
        target = target[part]
    return _deref(file[: -len(".json")] if file else name, target)


def _integral_floats(name: str, instance: Any) -> list[str]:
    """Top-level integer fields given as decimals, and decimals inside token arrays (prompt/input)."""
    if not isinstance(instance, dict):
        return []
    integers = integer_properties(name)
    bad = [p for p, value in instance.items() if isinstance(value, float) and p in integers]
    for field in ("prompt", "input"):
        value = instance.get(field)
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, float) or (isinstance(item, list) and any(isinstance(t, float) for t in item)):
                    bad.append(f"{field}[{i}]")
                    break
    return bad


def _issue(error: jsonschema_rs.ValidationError) -> SchemaIssue:
    path = list(error.instance_path)
    param = param_path(path)
    where = f"'{param}'" if param else "the request body"
    keyword = _keyword(error)
    if keyword == "additionalProperties":
        extra = _unexpected_names(error.message)
        name = param_path(path + [extra[0]]) if extra else param
        if not path and extra:
            return SchemaIssue(name, f"Unrecognized request argument supplied: {extra[0]}", "unknown_parameter", extra[0])
        return SchemaIssue(name, f"Unrecognized parameter {name!r} in {where}.", "unknown_parameter")
    if keyword == "required":
        missing = _quoted(error.message)
        name = param_path(path + [missing]) if missing else param
        return SchemaIssue(name, f"Missing required parameter: '{name}'.", "missing_required_parameter")
    if keyword == "type":
        return SchemaIssue(param, f"Invalid type for {where}: {error.message}.", "invalid_type")
    if keyword in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return SchemaIssue(param, f"Invalid value for {where}: {error.message}.", "invalid_value")
    if keyword in {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}:
        return SchemaIssue(param, f"Invalid {where}: {error.message}.", "invalid_value")
    if keyword in {"enum", "const"}:
        return SchemaIssue(param, f"Invalid value for {where}: {error.message}.", "invalid_value")
    return SchemaIssue(param, f"Invalid {where}: {error.message}.", "invalid_value")


def _keyword(error: jsonschema_rs.ValidationError) -> str:
    for part in reversed(list(error.schema_path)):
        if isinstance(part, str) and not part.isdigit():
            return part
    return ""


def _quoted(message: str) -> str | None:
    start = message.find('"')
    end = message.find('"', start + 1)
    return message[start + 1 : end] if 0 <= start < end else None


def _unexpected_names(message: str) -> list[str]:
    # jsonschema-rs: "Additional properties are not allowed ('a', 'b' were unexpected)"
    inside = message[message.find("(") + 1 : message.rfind(" w")]
    return [part.strip().strip("'") for part in inside.split(",") if part.strip()]
