"""Schema-driven value generation: validity (checked by jsonschema), determinism, clear errors."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from aigw.mocks.schema_data import SchemaGenerationError, instance_for_schema, json_object_text

SEEDS = range(60)


def validator(schema: Any) -> Any:
    # Draft 2020-12 unless the schema says otherwise (draft-07 tuple `items` only validates as draft-07),
    # with the format checker: "date-time" etc. must be real formats, not just strings.
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties), **extra}


TOOL_SCHEMAS: dict[str, Any] = {
    "weather": obj({"location": {"type": "string", "description": "City and country, e.g. Paris, France"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["location"]),
    "calculator": obj({"operation": {"enum": ["add", "subtract", "multiply", "divide"]},
                       "a": {"type": "number"}, "b": {"type": "number", "exclusiveMinimum": 0}},
                      additionalProperties=False),
    "search": obj({"query": {"type": "string", "minLength": 3, "maxLength": 80},
                   "top_k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                   "filters": {"type": "array", "maxItems": 4, "items": obj({
                       "field": {"type": "string", "enum": ["author", "year", "lang"]},
                       "op": {"type": "string", "enum": ["eq", "ne", "gt", "lt"]},
                       "value": {"type": ["string", "number"]}})}}, ["query"]),
    "strict_mode_nullable": obj({"city": {"type": "string"}, "country": {"type": ["string", "null"]},
                                 "days": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 14}, {"type": "null"}]}},
                                additionalProperties=False),
    "defs_and_refs": {"$defs": {"address": obj({"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}),
                                "person": obj({"name": {"type": "string"}, "home": {"$ref": "#/$defs/address"}})},
                      **obj({"people": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/person"}}})},
    "draft7_definitions": {"definitions": {"money": obj({"amount": {"type": "number", "multipleOf": 0.01, "minimum": 0},
                                                         "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}})},
                           **obj({"price": {"$ref": "#/definitions/money"}, "discount": {"$ref": "#/definitions/money"}})},
    "calendar_event": obj({"title": {"type": "string"}, "start": {"type": "string", "format": "date-time"},
                           "day": {"type": "string", "format": "date"}, "attendees": {
                               "type": "array", "uniqueItems": True, "items": {"type": "string", "format": "email"}},
                           "id": {"type": "string", "format": "uuid"}}),
    "http_request": obj({"url": {"type": "string", "format": "uri"}, "method": {"enum": ["GET", "POST", "PUT"]},
                         "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                         "host": {"type": "string", "format": "hostname"}, "ip": {"type": "string", "format": "ipv4"},
                         "ip6": {"type": "string", "format": "ipv6"}}, ["url", "method"]),
    "tuple_coordinates": obj({"point": {"type": "array", "prefixItems": [{"type": "number", "minimum": -90, "maximum": 90},
                                                                         {"type": "number", "minimum": -180, "maximum": 180}],
                                        "items": False, "minItems": 2}}),
    "draft7_tuple": {"$schema": "http://json-schema.org/draft-07/schema#", **obj({"pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}],
                                  "additionalItems": False}})},
    "const_and_bool": obj({"version": {"const": "v2"}, "dry_run": {"type": "boolean"}, "nothing": {"type": "null"}}),
    "integer_bounds": obj({"even": {"type": "integer", "multipleOf": 2, "minimum": 3, "maximum": 9},
                           "excl": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
                           "neg": {"type": "integer", "maximum": -1000},
                           "half": {"type": "number", "multipleOf": 0.5, "minimum": 1.2, "maximum": 2.9},
                           "tiny": {"type": "number", "minimum": 0.001, "maximum": 0.002}}),
    "all_of_merge": {"allOf": [obj({"id": {"type": "integer"}}),
                               obj({"name": {"type": "string", "maxLength": 5}}),
                               {"properties": {"id": {"minimum": 10, "maximum": 12}}}]},
    "one_of_exclusive": obj({"value": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
                             "shape": {"oneOf": [obj({"kind": {"const": "circle"}, "r": {"type": "number"}}),
                                                 obj({"kind": {"const": "square"}, "side": {"type": "number"}})]}}),
    "recursive_tree": {"$defs": {"node": obj({"label": {"type": "string"},
                                              "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}})},
                       "$ref": "#/$defs/node"},
    "recursive_nullable_list": {"$defs": {"cell": obj({"v": {"type": "integer"},
                                                       "next": {"anyOf": [{"$ref": "#/$defs/cell"}, {"type": "null"}]}})},
                                "$ref": "#/$defs/cell"},
    "pattern_heavy": obj({"sku": {"type": "string", "pattern": r"^[A-Z]{2,3}-\d{4}(-[a-z]+)?$"},
                          "phone": {"type": "string", "pattern": r"^\+?[1-9]\d{7,12}$"},
                          "slug": {"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$", "maxLength": 30},
                          "not_x": {"type": "string", "pattern": "^[^xyz]{4}$"},
                          "contains_at": {"type": "string", "pattern": "@", "minLength": 10},
                          "word_ci": {"type": "string", "pattern": "(?i)^(yes|no)$"}}),
    "string_lengths": obj({"exact": {"type": "string", "minLength": 7, "maxLength": 7},
                           "empty": {"type": "string", "maxLength": 0},
                           "long": {"type": "string", "minLength": 120},
                           "one": {"type": "string", "minLength": 1, "maxLength": 1}}),
    "pattern_properties": {"type": "object", "patternProperties": {"^x-": {"type": "integer"}},
                           "required": ["x-trace"], "additionalProperties": False},
    "object_counts": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
                                                       "c": {"type": "integer"}},
                      "minProperties": 2, "maxProperties": 2, "dependentRequired": {"a": ["b"]}},
    "array_contains": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9},
                       "contains": {"const": 7}, "minContains": 2, "maxItems": 4},
    "unique_enum_array": obj({"tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True,
                                       "minItems": 3}}),
    "untyped": obj({"anything": {}, "true_schema": True, "inferred_num": {"minimum": 5, "maximum": 6},
                    "inferred_obj": {"properties": {"k": {"type": "string"}}, "required": ["k"]}}),
    "ref_with_siblings": {"$defs": {"base": {"type": "string", "minLength": 2}},
                          "$ref": "#/$defs/base", "maxLength": 4},
}


@pytest.mark.parametrize("name", TOOL_SCHEMAS)
def test_realistic_schemas_produce_valid_instances(name: str) -> None:
    schema = TOOL_SCHEMAS[name]
    check = validator(schema)
    for seed in SEEDS:
        instance = instance_for_schema(schema, random.Random(seed))
        errors = [error.message for error in check.iter_errors(instance)]
        assert not errors, (seed, instance, errors)
        json.dumps(instance, allow_nan=False)  # plain JSON, ready for `arguments`


def test_realistic_schemas_cover_the_feature_list() -> None:
    assert len(TOOL_SCHEMAS) >= 20


@pytest.mark.parametrize("name", TOOL_SCHEMAS)
def test_same_seed_same_instance(name: str) -> None:
    schema = TOOL_SCHEMAS[name]
    assert instance_for_schema(schema, random.Random(42)) == instance_for_schema(schema, random.Random(42))


def test_seeds_vary_the_output() -> None:
    outputs = {json.dumps(instance_for_schema(TOOL_SCHEMAS["search"], random.Random(seed)), sort_keys=True)
               for seed in SEEDS}
    assert len(outputs) > len(SEEDS) // 2


def test_nullable_types_produce_both_null_and_values() -> None:
    schema = TOOL_SCHEMAS["strict_mode_nullable"]
    countries = [instance_for_schema(schema, random.Random(seed)).get("country", "absent") for seed in range(200)]
    assert None in countries
    assert any(isinstance(country, str) and country != "absent" for country in countries)


def test_one_of_picks_a_branch_that_excludes_the_others() -> None:
    values = [instance_for_schema({"oneOf": [{"type": "integer"}, {"type": "number"}]}, random.Random(seed))
              for seed in range(30)]
    assert all(isinstance(value, float) and not value.is_integer() for value in values)


def test_recursive_schema_terminates_with_nesting() -> None:
    tree = instance_for_schema(TOOL_SCHEMAS["recursive_tree"], random.Random(3))

    def depth(node: dict[str, Any]) -> int:
        return 1 + max((depth(child) for child in node["children"]), default=0)

    assert 1 < depth(tree) < 10


@pytest.mark.parametrize(("schema", "message"), [
    (False, "accepts no value"),
    ({"$ref": "#/$defs/missing"}, "does not resolve"),
    ({"$ref": "https://example.com/other.json"}, "only local"),
    ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength 5 exceeds maxLength 2"),
    ({"type": "integer", "minimum": 3, "maximum": 2}, "no integer lies within"),
    ({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}, "are empty"),
    ({"type": "object", "required": ["a"], "additionalProperties": False}, "additionalProperties is false"),
    ({"enum": []}, "non-empty array"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "incompatible types"),
    ({"anyOf": [False, {"type": "string", "minLength": 3, "maxLength": 1}]}, "no anyOf branch"),
    ({"type": "array", "items": {"enum": ["a"]}, "uniqueItems": True, "minItems": 2}, "uniqueItems cannot be met"),
    ({"type": "string", "pattern": "("}, "invalid pattern"),
    ({"type": "object", "patternProperties": {"(": {}}, "required": ["a"]}, "invalid pattern"),
    ({"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "$ref": "#/$defs/loop"}, "deeper than"),
    ("not a schema", "must be an object or a boolean"),
])
def test_unsatisfiable_or_unsupported_schemas_raise_a_clear_error(schema: Any, message: str) -> None:
    with pytest.raises(SchemaGenerationError, match=message):
        instance_for_schema(schema, random.Random(0))


def test_ref_to_a_boolean_schema_keeps_sibling_keywords() -> None:
    schema = {"$defs": {"anything": True}, "$ref": "#/$defs/anything", "minLength": 12}
    for seed in range(10):
        value = instance_for_schema(schema, random.Random(seed))
        assert validator(schema).is_valid(value) and len(value) >= 12


def test_json_object_text_is_a_small_deterministic_object() -> None:
    texts = [json_object_text(random.Random(seed)) for seed in range(50)]
    for text in texts:
        value = json.loads(text)
        assert isinstance(value, dict) and 2 <= len(value) <= 4
    assert texts[7] == json_object_text(random.Random(7))
    assert len(set(texts)) > 40


# ---------------------------------------------------------------------------------------- generated schemas

_scalar_schemas = st.one_of(
    st.builds(lambda low, span: {"type": "integer", "minimum": low, "maximum": low + span},
              st.integers(-1000, 1000), st.integers(0, 50)),
    st.builds(lambda low, span, step: {"type": "number", "minimum": low, "maximum": low + span, "multipleOf": step},
              st.integers(-50, 50), st.integers(1, 20), st.sampled_from([0.25, 0.5, 1, 2])),
    st.builds(lambda low, extra: {"type": "string", "minLength": low, "maxLength": low + extra},
              st.integers(0, 30), st.integers(0, 30)),
    st.sampled_from([
        {"type": "string", "format": "date"}, {"type": "string", "format": "date-time"},
        {"type": "string", "format": "email"}, {"type": "string", "format": "uuid"},
        {"type": "string", "pattern": r"^[a-f0-9]{8}$"}, {"type": "string", "pattern": r"^(red|green|blue)-\d+$"},
        {"type": "boolean"}, {"type": "null"}, {"type": ["string", "null"]}, {"enum": ["x", 1, None, True]},
        {"const": {"fixed": [1, 2]}}, {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    ]),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
    objects = st.builds(
        lambda props, data: {"type": "object", "properties": props,
                             "required": data.draw(st.lists(st.sampled_from(sorted(props)), unique=True))
                             if props else [], "additionalProperties": data.draw(st.booleans())},
        st.dictionaries(names, children, max_size=5), st.data())
    arrays = st.builds(lambda items, low, extra, unique: {"type": "array", "items": items, "minItems": low,
                                                          "maxItems": low + extra, "uniqueItems": unique},
                       children, st.integers(0, 2), st.integers(0, 3), st.just(False))
    unions = st.builds(lambda branches: {"anyOf": branches}, st.lists(children, min_size=1, max_size=3))
    return st.one_of(objects, arrays, unions)


_schemas = st.recursive(_scalar_schemas, _containers, max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_schemas, seed=st.integers(0, 2**32 - 1))
def test_generated_schemas_produce_valid_instances(schema: Any, seed: int) -> None:
    instance = instance_for_schema(schema, random.Random(seed))
    errors = [error.message for error in validator(schema).iter_errors(instance)]
    assert not errors, (schema, instance, errors)
    assert instance == instance_for_schema(schema, random.Random(seed))
