"""Example strings for a regular expression: write a string the pattern matches.

JSON Schema's ``pattern`` keyword constrains a string by regex, and tool-call arguments and
``json_schema`` answers must honour it (a zip code ``^[0-9]{5}$``, a currency ``^[A-Z]{3}$``). Random
text almost never matches, so this module builds a candidate *from the pattern itself*: Python's regex
parser (``re._parser`` — the only way to read a pattern's structure) turns it into a tree, and
:class:`PatternWriter` walks the tree choosing literals, class members, branches and repeat counts with
the caller's ``random.Random`` (same seed, same string).

The writer is best-effort — lookarounds and conditionals contribute nothing — so
:func:`string_for_pattern` always confirms a candidate with ``re.search`` before returning it.
Patterns are Python regex syntax, which agrees with ECMA-262 for the classes, groups and quantifiers
schemas use in practice.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

try:  # Python 3.11+: the regex parser moved; it is the only way to read a pattern's structure
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["PatternWriter", "string_for_pattern"]

_CATEGORY_CHARS = {
    _sre.CATEGORY_DIGIT: "0123456789",
    _sre.CATEGORY_NOT_DIGIT: "abcdefghijklmnopqrstuvwxyz",
    _sre.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    _sre.CATEGORY_NOT_WORD: " -.,",
    _sre.CATEGORY_SPACE: " ",
    _sre.CATEGORY_NOT_SPACE: "abcdefghijklmnopqrstuvwxyz0123456789",
}
_CATEGORY_TESTS: dict[Any, Callable[[str], bool]] = {
    _sre.CATEGORY_DIGIT: str.isdigit,
    _sre.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdigit(),
    _sre.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
    _sre.CATEGORY_NOT_WORD: lambda ch: not (ch.isalnum() or ch == "_"),
    _sre.CATEGORY_SPACE: str.isspace,
    _sre.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
}
_NEGATION_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:;/@#"
_UNBOUNDED_EXTRA = 3  # "+" and "*" repeat at most this many times beyond their minimum


def string_for_pattern(pattern: str, rng: random.Random, low: int, high: int | None, attempts: int) -> str | None:
    """A string ``re.search(pattern, ...)`` accepts with ``low <= len <= high``, or None after ``attempts`` tries.

    Patterns are unanchored (``re.search`` semantics), so a too-short match can be padded with letters
    after it; the final candidate is always checked with ``re.search``. An invalid pattern raises
    ``re.error`` for the caller to report.
    """
    tree = _sre_parse.parse(pattern)
    for _ in range(attempts):
        candidate = PatternWriter(rng).write(tree)
        if len(candidate) < low:
            padded = candidate + "x" * (low - len(candidate))
            candidate = padded if re.search(pattern, padded) else candidate
        if len(candidate) >= low and (high is None or len(candidate) <= high) and re.search(pattern, candidate):
            return candidate
    return None


class PatternWriter:
    """Write one string matched by a parsed regex (``re._parser`` tree), choosing with ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.groups: dict[int, str] = {}

    def write(self, tree: Any) -> str:
        return "".join(self._node(op, arg) for op, arg in tree)

    def _node(self, op: Any, arg: Any) -> str:
        if op is _sre.LITERAL:
            return chr(arg)
        if op is _sre.NOT_LITERAL:
            return next(ch for ch in _NEGATION_ALPHABET if ord(ch) != arg)
        if op is _sre.ANY:
            return self.rng.choice("abcdefghijklmnopqrstuvwxyz")
        if op is _sre.IN:
            return self._in(arg)
        if op is _sre.BRANCH:
            return self.write(self.rng.choice(arg[1]))
        if op is _sre.SUBPATTERN:
            group, _add_flags, _del_flags, tree = arg
            text = self.write(tree)
            if group is not None:
                self.groups[group] = text
            return text
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
            low, high, tree = arg
            high = low + _UNBOUNDED_EXTRA if high is _sre.MAXREPEAT else min(high, low + _UNBOUNDED_EXTRA)
            return "".join(self.write(tree) for _ in range(self.rng.randint(low, high)))
        if op is _sre.GROUPREF:
            return self.groups.get(arg, "")
        if op is _sre.AT:
            return ""
        if op is getattr(_sre, "ATOMIC_GROUP", None):
            return self.write(arg)
        return ""  # lookarounds, conditionals: contribute nothing; the caller re-checks with re.search

    def _in(self, items: list[tuple[Any, Any]]) -> str:
        if items and items[0][0] is _sre.NEGATE:
            return next((ch for ch in _NEGATION_ALPHABET if not _in_set(ch, items[1:])), "~")
        op, arg = self.rng.choice(items)
        if op is _sre.LITERAL:
            return chr(arg)
        if op is _sre.RANGE:
            return chr(self.rng.randint(arg[0], arg[1]))
        if op is _sre.CATEGORY:
            return self.rng.choice(_CATEGORY_CHARS.get(arg, "a"))
        return "a"


def _in_set(ch: str, items: list[tuple[Any, Any]]) -> bool:
    code = ord(ch)
    for op, arg in items:
        if op is _sre.LITERAL and code == arg:
            return True
        if op is _sre.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is _sre.CATEGORY and _CATEGORY_TESTS.get(arg, lambda _: False)(ch):
            return True
    return False
