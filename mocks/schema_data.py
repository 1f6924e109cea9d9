"""Deterministic JSON values that validate against a JSON Schema.

The mock answers ``tools`` requests with tool calls whose ``arguments`` must validate against the tool's
``parameters`` schema, and ``response_format: json_schema`` requests with content that validates against
the given schema — the real service guarantees both in strict mode, and client code relies on it. So
this is a *constructive* generator: it reads the keywords and builds a value that satisfies them, using
only the caller's ``random.Random`` (same seed, same value).

Supported (draft 2020-12, plus draft-07 spellings still common in tool schemas): ``type`` (string or
list; ``null`` is chosen only sometimes), ``enum``, ``const``, ``properties``/``required``/
``additionalProperties``/``patternProperties``/``minProperties``/``maxProperties``/``dependentRequired``,
``items``/``prefixItems`` (and draft-07 array ``items``/``additionalItems``), ``minItems``/``maxItems``/
``uniqueItems``/``contains``/``minContains``, ``minLength``/``maxLength``/``pattern``/``format`` (date,
date-time, time, email, hostname, ipv4, ipv6, uri, uri-reference, uuid), numeric bounds (also the
draft-04 boolean ``exclusiveMinimum``/``exclusiveMaximum``) and ``multipleOf``, ``allOf`` (merged),
``anyOf`` (first branch that can be generated), ``oneOf`` (first branch whose value matches no other
branch, checked with ``jsonschema``), and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``, any
JSON pointer into the root document, recursion included).

Not supported, documented rather than guessed at: ``not``, ``if``/``then``/``else``,
``dependentSchemas``, ``unevaluated*``, ``propertyNames``, ``$dynamicRef`` and remote ``$ref``s. Patterns
use Python's regex syntax, which agrees with ECMA-262 for the character classes, groups and
quantifiers schemas use in practice; lookarounds and backreferences are not generated.
A schema that cannot be satisfied this way raises :class:`SchemaGenerationError`, never a traceback.

This module walks the schema (references, combinators, objects, arrays); leaf numbers and strings come
from :mod:`aigw.mocks.schema_scalars`, ``allOf`` merging from :mod:`aigw.mocks.schema_merge` and strings
for a ``pattern`` from :mod:`aigw.mocks.pattern_strings`.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from typing import Any

import orjson

from aigw.mocks.schema_merge import merge
from aigw.mocks.schema_scalars import ATTEMPTS, SchemaGenerationError, number, search, string, word
from aigw.mocks.textgen import COMMON_WORDS
from aigw.protocol.spec import json_schema_fault

__all__ = ["SchemaGenerationError", "instance_for_schema", "json_object_text"]

#: Past this depth objects get only required properties and arrays only ``minItems`` items, so
#: recursive schemas (trees, linked lists) terminate with small values.
MINIMAL_DEPTH = 4
#: Past this depth we give up: the schema requires unbounded nesting (or a ``$ref`` cycle).
MAX_DEPTH = 32
_NULL_PROBABILITY = 0.15
_OPTIONAL_PROPERTY_PROBABILITY = 0.6


def instance_for_schema(schema: Any, rng: random.Random) -> Any:
    """A JSON-compatible value valid against ``schema``, chosen deterministically by ``rng``.

    Schemas come from request bodies, so anything wrong with one — a malformed keyword, a dangling
    ``$ref``, runaway recursion — surfaces as SchemaGenerationError for a clean 400, never a crash.
    """
    try:
        return _Generator(schema, rng).generate(schema, 0)
    except SchemaGenerationError:
        raise
    except RecursionError:
        raise SchemaGenerationError("schema recursion is too deep to generate a value") from None
    except Exception as exc:  # malformed keywords (TypeError, ...), referencing errors of dangling $refs
        raise SchemaGenerationError(json_schema_fault(schema) or f"cannot generate a value for this schema: {type(exc).__name__}: {exc}") from None


def json_object_text(rng: random.Random) -> str:
    """A small JSON object as text, for ``response_format: {"type": "json_object"}`` answers."""
    keys = rng.sample(COMMON_WORDS, rng.randint(2, 4))
    makers: list[Callable[[], Any]] = [
        lambda: " ".join(rng.choices(COMMON_WORDS, k=rng.randint(1, 4))),
        lambda: rng.randint(0, 1000),
        lambda: round(rng.random(), 2),
        lambda: rng.random() < 0.5,
        lambda: rng.sample(COMMON_WORDS, rng.randint(1, 3)),
    ]
    return orjson.dumps({key: rng.choice(makers)() for key in keys}).decode()


class _Generator:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self._validator: Any = None

    # ---------------------------------------------------------------- dispatch

    def generate(self, schema: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SchemaGenerationError(f"schema nests deeper than {MAX_DEPTH} levels (a required $ref cycle?)")
        if schema is True:
            return word(self.rng)
        if schema is False:
            raise SchemaGenerationError("the schema 'false' accepts no value")
        if not isinstance(schema, dict):
            raise SchemaGenerationError(f"a schema must be an object or a boolean, got {type(schema).__name__}")
        if "$ref" in schema:
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            target = self._resolve(schema["$ref"])
            return self.generate(merge(target, rest) if rest else target, depth + 1)
        if "allOf" in schema:
            merged = {key: value for key, value in schema.items() if key != "allOf"}
            for member in schema["allOf"]:
                merged = merge(merged, self._dereference(member))
            return self.generate(merged, depth + 1)
        if "anyOf" in schema or "oneOf" in schema:
            return self._choice(schema, depth)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if "enum" in schema:
            return self._enum(schema)
        kind = self._pick_type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return string(schema, self.rng)
        if kind in ("integer", "number"):
            return number(schema, self.rng, integer=kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        raise SchemaGenerationError(f"unknown type {kind!r}")

    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaGenerationError(f"only local $refs ('#/...') are supported, got {ref!r}")
        node = self.root
        pointer = ref[1:]
        if pointer and not pointer.startswith("/"):
            raise SchemaGenerationError(f"$ref {ref!r}: anchors are not supported, use a JSON pointer")
        for raw in pointer.split("/")[1:]:
            part = raw.replace("%25", "%").replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise SchemaGenerationError(f"$ref {ref!r} does not resolve inside the schema") from None
        return node

    def _dereference(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and len(schema) == 1:
            schema = self._resolve(schema["$ref"])
            seen += 1
            if seen > MAX_DEPTH:
                raise SchemaGenerationError("$ref chain does not end")
        return schema

    def _choice(self, schema: dict[str, Any], depth: int) -> Any:
        """anyOf: first branch we can generate; oneOf: first whose value matches no sibling branch."""
        exclusive = "oneOf" in schema
        branches = schema["oneOf"] if exclusive else schema["anyOf"]
        handled = "oneOf" if exclusive else "anyOf"  # with both present, anyOf stays in `rest` for later
        rest = {key: value for key, value in schema.items() if key != handled}
        failures = []
        for index, branch in enumerate(branches):
            candidate_schema = merge(rest, self._dereference(branch)) if rest else branch
            # oneOf: a value can land in an overlap by chance (a "number" that happens to be whole), so a
            # branch gets a few draws before we move on to the next one.
            for _ in range(5 if exclusive else 1):
                try:
                    value = self.generate(candidate_schema, depth + 1)
                except SchemaGenerationError as exc:
                    failures.append(str(exc))
                    break
                if not exclusive or not any(
                    self._matches(value, other) for position, other in enumerate(branches) if position != index
                ):
                    return value
            else:
                failures.append(f"values of branch {index} also match another branch")
        raise SchemaGenerationError(f"no {handled} branch could be satisfied: {'; '.join(failures)}")

    def _matches(self, value: Any, schema: Any) -> bool:
        from jsonschema import Draft202012Validator  # only oneOf needs a validator; keep imports lean
        from jsonschema.validators import validator_for

        if self._validator is None:
            root = self.root if isinstance(self.root, dict) else {}
            self._validator = validator_for(root, default=Draft202012Validator)(root)
        try:
            return self._validator.evolve(schema=schema).is_valid(value)
        except BaseException as exc:  # a schema referring to itself without end ({"oneOf": [{}, {"$ref": "#"}]})
            # recurses until Python's limit, which the Rust reference resolver turns into a panic (a BaseException)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not (
                    isinstance(exc, (RecursionError, ValueError)) or type(exc).__name__ == "PanicException"):
                raise
            raise SchemaGenerationError("the schema refers to itself without end ($ref cycle)") from None

    def _pick_type(self, schema: dict[str, Any]) -> str:
        declared = schema.get("type")
        if declared is None:
            return _inferred_type(schema)
        kinds = [declared] if isinstance(declared, str) else list(declared)
        if not kinds:
            raise SchemaGenerationError("'type' is an empty list")
        concrete = [kind for kind in kinds if kind != "null"]
        if not concrete or ("null" in kinds and self.rng.random() < _NULL_PROBABILITY):
            return "null"
        return concrete[int(self.rng.random() * len(concrete))]

    def _enum(self, schema: dict[str, Any]) -> Any:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise SchemaGenerationError("'enum' must be a non-empty array")
        declared = schema.get("type")
        if declared is not None:
            kinds = {declared} if isinstance(declared, str) else set(declared)
            typed = [value for value in values if _json_type(value) in kinds or (
                "number" in kinds and _json_type(value) == "integer")]
            values = typed or values
        return copy.deepcopy(self.rng.choice(values))

    # ---------------------------------------------------------------- containers

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        required: list[str] = list(schema.get("required") or [])
        pattern_properties: dict[str, Any] = schema.get("patternProperties") or {}
        additional = schema.get("additionalProperties", True)
        dependent: dict[str, list[str]] = schema.get("dependentRequired") or {}
        minimal = depth >= MINIMAL_DEPTH
        most = schema.get("maxProperties", math.inf)
        least = schema.get("minProperties", 0)
        chosen: dict[str, None] = {}

        def add(name: str) -> bool:
            # A property comes with everything dependentRequired makes it pull in, or not at all.
            group, pending = [], [name]
            while pending:
                member = pending.pop()
                if member not in chosen and member not in group:
                    group.append(member)
                    pending.extend(dependent.get(member, ()))
            if len(chosen) + len(group) > most:
                return False
            chosen.update(dict.fromkeys(group))
            return True

        for name in required:
            if not add(name):
                raise SchemaGenerationError("required properties exceed maxProperties")
        for name in properties:
            if name not in chosen and not minimal and self.rng.random() < _OPTIONAL_PROPERTY_PROBABILITY:
                add(name)
        for name in properties:
            if len(chosen) >= least:
                break
            add(name)
        extra_index = 0
        while len(chosen) < least:
            if additional is False and not pattern_properties:
                raise SchemaGenerationError("minProperties cannot be met without additional properties")
            extra_index += 1
            if not add(f"extra_{extra_index}"):
                raise SchemaGenerationError("minProperties and maxProperties cannot both be met")
        ordered = [name for name in properties if name in chosen] + [name for name in chosen if name not in properties]
        result: dict[str, Any] = {}
        for name in ordered:
            result[name] = self.generate(self._property_schema(name, properties, pattern_properties, additional),
                                         depth + 1)
        return result

    @staticmethod
    def _property_schema(name: str, properties: dict[str, Any], patterns: dict[str, Any], additional: Any) -> Any:
        matching = [sub for pattern, sub in patterns.items() if search(pattern, name)]
        if name in properties:
            return {"allOf": [properties[name], *matching]} if matching else properties[name]
        if matching:
            return {"allOf": matching}
        if additional is False:
            raise SchemaGenerationError(f"property {name!r} is required but additionalProperties is false")
        return additional

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", True)
        if isinstance(items, list):  # draft-07 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        prefix = prefix or []
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        if items is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        if high is None:
            high = max(low, len(prefix) if prefix else max(low, 1) + 3)
        if low > high:
            raise SchemaGenerationError(f"minItems {low} exceeds the items allowed ({high})")
        if depth >= MINIMAL_DEPTH:
            count = low
        else:
            start = min(max(low, 1, len(prefix)), high)
            count = self.rng.randint(start, min(high, start + 2))
        contains = schema.get("contains")
        need_contains = schema.get("minContains", 1) if contains is not None else 0
        if need_contains > count:
            count = need_contains
            if count > high:
                raise SchemaGenerationError("minContains exceeds maxItems")
        unique = schema.get("uniqueItems", False)
        result: list[Any] = []
        seen: set[bytes] = set()
        for position in range(count):
            item_schema = prefix[position] if position < len(prefix) else items
            if position < need_contains:
                item_schema = {"allOf": [item_schema, contains]}
            for _ in range(ATTEMPTS):
                value = self.generate(item_schema, depth + 1)
                key = _identity(value)
                if not unique or key not in seen:
                    break
            else:
                if len(result) >= low and position >= need_contains:
                    break  # enough unique items already; stop short rather than repeat one
                raise SchemaGenerationError("uniqueItems cannot be met: the item schema allows too few values")
            seen.add(key)
            result.append(value)
        return result


# -------------------------------------------------------------------- helpers


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _identity(value: Any) -> bytes:
    """Equality key for ``uniqueItems`` (JSON Schema: 1 == 1.0, objects compare without key order)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


_TYPE_HINTS = (
    ("object", ("properties", "required", "additionalProperties", "patternProperties", "minProperties",
                "maxProperties", "dependentRequired")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")),
    ("string", ("minLength", "maxLength", "pattern", "format")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
)


def _inferred_type(schema: dict[str, Any]) -> str:
    """Without ``type`` any value is allowed; pick the one the other keywords are about (else a string)."""
    for kind, keywords in _TYPE_HINTS:
        if any(keyword in schema for keyword in keywords):
            return kind
    return "string"
