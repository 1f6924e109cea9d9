"""Leaf values for :mod:`aigw.mocks.schema_data`: numbers and strings that satisfy their keywords.

Split out of the schema walker because scalars are self-contained — a number needs only its bounds and
``multipleOf``, a string only its length bounds, ``format`` and ``pattern`` — while the walker deals in
references, combinators and containers. :class:`SchemaGenerationError` lives here, at the bottom of the
import chain, so every part of the generator raises the same error; ``schema_data`` re-exports it as its
public name.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from aigw.mocks.pattern_strings import string_for_pattern
from aigw.mocks.textgen import COMMON_WORDS

__all__ = ["ATTEMPTS", "SchemaGenerationError", "is_number", "number", "search", "string", "word"]

#: How many random draws a keyword gets before the generator gives up on it (or falls back to a scan).
ATTEMPTS = 20


class SchemaGenerationError(ValueError):
    """The schema is unsatisfiable, malformed, or uses a feature this generator does not support."""


def search(pattern: str, text: str) -> bool:
    """``re.search`` for schema patterns: an invalid pattern is a schema error, not a crash."""
    try:
        return re.search(pattern, text) is not None
    except re.error as exc:
        raise SchemaGenerationError(f"invalid pattern {pattern!r}: {exc}") from exc


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -------------------------------------------------------------------- numbers


def _bound(schema: dict[str, Any], plain: str, exclusive: str) -> tuple[float | None, bool]:
    """The effective bound and whether it is exclusive (draft-04 booleans and 2020-12 numbers)."""
    value = schema.get(plain)
    flag = schema.get(exclusive)
    if is_number(flag) and (value is None or (flag >= value if plain == "minimum" else flag <= value)):
        return flag, True
    return value, flag is True


def number(schema: dict[str, Any], rng: random.Random, *, integer: bool) -> int | float:
    """A number (an integer when ``integer``) within the schema's bounds and a multiple of ``multipleOf``."""
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
    if low is None and high is None:
        low, high = 0, 100
    elif low is None:
        low = high - 100
    elif high is None:
        high = low + 100
    step = schema.get("multipleOf")
    if step is not None and (not is_number(step) or step <= 0):
        raise SchemaGenerationError(f"multipleOf must be a positive number, got {step!r}")
    inside = lambda x: (x > low if low_open else x >= low) and (x < high if high_open else x <= high)  # noqa: E731
    if integer or step is not None:
        unit = step if step is not None else 1
        first, last = math.ceil(low / unit), math.floor(high / unit)
        if first > last:
            raise SchemaGenerationError(f"no {'integer' if integer else 'multiple'} lies within {low}..{high}")
        # Random multiples first; then a scan, for float steps where most products fail the check below.
        randoms = (rng.randint(first, last) for _ in range(ATTEMPTS))
        for k in itertools.chain(randoms, range(first, min(last, first + 1000) + 1)):
            value = k * unit
            if isinstance(unit, float):
                value = round(value, 10)
            if integer:
                if not float(value).is_integer():
                    continue
                value = int(value)
            if inside(value) and (step is None or _is_multiple(value, step)):
                return value
        raise SchemaGenerationError(f"no value within {low}..{high} is a multiple of {step}")
    if low > high or (low == high and (low_open or high_open)):
        raise SchemaGenerationError(f"numeric bounds {low}..{high} are empty")
    for _ in range(ATTEMPTS):
        value = round(rng.uniform(low, high), 2)
        if inside(value):
            return value
    middle = (low + high) / 2
    if inside(middle):
        return middle
    raise SchemaGenerationError(f"numeric bounds {low}..{high} are empty")


def _is_multiple(value: int | float, step: int | float) -> bool:
    # The test jsonschema applies: float division for float steps, modulo otherwise.
    if isinstance(step, float):
        quotient = value / step
        return quotient == int(quotient)
    return not value % step


# -------------------------------------------------------------------- strings


def word(rng: random.Random) -> str:
    """One common English word: the default string, readable in a tool call's arguments."""
    return COMMON_WORDS[int(rng.random() * len(COMMON_WORDS))]


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2000, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


_FORMATS: dict[str, Callable[[random.Random, Callable[[], str]], str]] = {
    "date": lambda rng, word: _date(rng),
    "time": lambda rng, word: _time(rng),
    "date-time": lambda rng, word: f"{_date(rng)}T{_time(rng)}",
    "email": lambda rng, word: f"{word()}.{word()}{rng.randint(1, 99)}@example.com",
    "hostname": lambda rng, word: f"{word()}.example.com",
    "ipv4": lambda rng, word: f"192.0.2.{rng.randint(1, 254)}",
    "ipv6": lambda rng, word: f"2001:db8::{rng.randint(1, 0xFFFF):x}",
    "uri": lambda rng, word: f"https://example.com/{word()}/{rng.randint(1, 9999)}",
    "uri-reference": lambda rng, word: f"/{word()}/{rng.randint(1, 9999)}",
    "uuid": lambda rng, word: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
}


def string(schema: dict[str, Any], rng: random.Random) -> str:
    """A string honouring ``minLength``/``maxLength``, ``format`` (when the value also fits) and ``pattern``."""
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    if high is not None and low > high:
        raise SchemaGenerationError(f"minLength {low} exceeds maxLength {high}")
    pattern = schema.get("pattern")
    fits = lambda text: len(text) >= low and (high is None or len(text) <= high)  # noqa: E731
    maker = _FORMATS.get(schema.get("format", ""))
    if maker is not None:
        candidate = maker(rng, lambda: word(rng))
        if fits(candidate) and (pattern is None or search(pattern, candidate)):
            return candidate
    if pattern is not None:
        return _pattern_string(pattern, rng, low, high)
    return _words_within(rng, low, high)


def _words_within(rng: random.Random, low: int, high: int | None) -> str:
    """One to three whole words, extended or cut (at a word boundary when possible) to fit."""
    words = [word(rng) for _ in range(rng.randint(1, 3))]
    text = " ".join(words)
    while len(text) < low:
        text = f"{text} {word(rng)}"
    if high is not None and len(text) > high:
        text = text[:high]
        boundary = text.rfind(" ")
        if boundary >= max(low, 1):
            text = text[:boundary]
        elif text.endswith(" "):
            text = text[:-1] + "s"
    return text


def _pattern_string(pattern: str, rng: random.Random, low: int, high: int | None) -> str:
    try:
        text = string_for_pattern(pattern, rng, low, high, ATTEMPTS)
    except re.error as exc:
        raise SchemaGenerationError(f"invalid pattern {pattern!r}: {exc}") from exc
    if text is None:
        raise SchemaGenerationError(
            f"could not generate a string for pattern {pattern!r} within length {low}..{high}"
        )
    return text
