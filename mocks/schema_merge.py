"""``allOf`` for :mod:`aigw.mocks.schema_data`: fold several schemas into one that demands them all.

The generator builds values constructively, so it needs one schema per value, not a list of constraints
to satisfy at once; merging is how ``allOf``, ``$ref`` with sibling keywords, ``patternProperties`` and
``contains`` become a single schema. Kept apart from the walker because it is pure keyword algebra: no
random choices, no recursion into values.
"""

from __future__ import annotations

from typing import Any

from aigw.mocks.schema_scalars import SchemaGenerationError, is_number

__all__ = ["merge"]

_MAX_KEYWORDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_MIN_KEYWORDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")


def merge(base: dict[str, Any], extra: Any) -> dict[str, Any]:
    """Combine two schemas into one that demands both (``allOf``), keyword by keyword.

    Bounds take the tighter value, ``required`` and ``properties`` unite (a property in both gets an
    ``allOf`` of its two schemas), ``type`` and ``enum`` intersect; for other keywords present in both
    the later one wins, an approximation that only matters for schemas contradicting themselves.
    """
    if base is True:
        base = {}
    if extra is True:
        return base
    if base is False or extra is False:
        raise SchemaGenerationError("allOf contains the schema 'false'")
    if not isinstance(extra, dict):
        raise SchemaGenerationError(f"a schema must be an object or a boolean, got {type(extra).__name__}")
    merged = dict(base)
    for key, value in extra.items():
        if key not in merged:
            merged[key] = value
            continue
        current = merged[key]
        if key == "properties":
            merged[key] = {**current, **{
                name: {"allOf": [current[name], sub]} if name in current else sub for name, sub in value.items()
            }}
        elif key == "required":
            merged[key] = list(dict.fromkeys([*current, *value]))
        elif key == "type":
            merged[key] = _intersect_types(current, value)
        elif key == "enum":
            merged[key] = [item for item in current if item in value]
            if not merged[key]:
                raise SchemaGenerationError("allOf members have disjoint enums")
        elif key in ("anyOf", "oneOf"):  # both must hold: keep ours, require theirs through allOf
            merged["allOf"] = [*merged.get("allOf", []), {key: value}]
        elif key == "allOf":
            merged[key] = [*current, *value]
        elif key in ("items", "additionalProperties", "contains") and isinstance(current, dict | bool):
            merged[key] = {"allOf": [current, value]}
        elif key in _MAX_KEYWORDS and is_number(current) and is_number(value):
            merged[key] = min(current, value)
        elif key in _MIN_KEYWORDS and is_number(current) and is_number(value):
            merged[key] = max(current, value)
        else:
            merged[key] = value
    return merged


def _intersect_types(first: Any, second: Any) -> list[str]:
    left = {first} if isinstance(first, str) else set(first)
    right = {second} if isinstance(second, str) else set(second)
    common = left & right
    if "integer" in left and "number" in right or "number" in left and "integer" in right:
        common.add("integer")
    if not common:
        raise SchemaGenerationError(f"allOf members require incompatible types {sorted(left)} and {sorted(right)}")
    return sorted(common)

