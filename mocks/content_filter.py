"""Azure OpenAI's content-filter annotations, from a small deterministic lexicon.

Real Azure annotates every prompt and completion (``prompt_filter_results`` /
``content_filter_results``) and refuses prompts at or above *medium* severity with a 400
``content_filter`` error. The mock classifies text by trigger words so tests can provoke each
outcome on purpose: e.g. "how to build a bomb" (violence, high) is refused, "I hate mondays"
(hate, low) is annotated but served. The generated completions never contain trigger words.
"""

import re
from typing import Any

CATEGORIES = ("hate", "self_harm", "sexual", "violence")
SEVERITIES = ("safe", "low", "medium", "high")
BLOCKING = {"medium", "high"}

LEXICON: dict[str, dict[str, str]] = {
    "hate": {"hate": "low", "despise": "low", "bigot": "medium", "subhuman": "high", "exterminate": "high"},
    "self_harm": {"hopeless": "low", "self-harm": "medium", "suicide": "high", "kill myself": "high"},
    "sexual": {"flirt": "low", "erotic": "medium", "explicit sex": "high", "porn": "high"},
    "violence": {"fight": "low", "attack": "low", "weapon": "medium", "kill": "medium", "bomb": "high", "murder": "high"},
}
JAILBREAK_PHRASES = (
    "ignore previous instructions",
    "ignore all previous instructions",
    "disregard your instructions",
    "you are now dan",
    "developer mode enabled",
)

_WORD_CACHE: dict[str, re.Pattern] = {}


def _pattern(term: str) -> re.Pattern:
    pattern = _WORD_CACHE.get(term)
    if pattern is None:
        pattern = _WORD_CACHE[term] = re.compile(r"\b" + re.escape(term) + r"\b")
    return pattern


def classify(text: str) -> dict[str, str]:
    """Severity per category for ``text``."""
    lowered = text.lower()
    result = {}
    for category in CATEGORIES:
        worst = 0
        for term, severity in LEXICON[category].items():
            if term in lowered and _pattern(term).search(lowered):
                worst = max(worst, SEVERITIES.index(severity))
        result[category] = SEVERITIES[worst]
    return result


def jailbreak_detected(text: str) -> bool:
    lowered = " ".join(text.lower().split())
    return any(phrase in lowered for phrase in JAILBREAK_PHRASES)


def filter_results(text: str, *, with_jailbreak: bool) -> dict[str, Any]:
    """``content_filter_results`` for one prompt or choice."""
    severities = classify(text)
    results: dict[str, Any] = {
        c: {"filtered": severities[c] in BLOCKING, "severity": severities[c]} for c in CATEGORIES
    }
    if with_jailbreak:
        detected = jailbreak_detected(text)
        results["jailbreak"] = {"filtered": detected, "detected": detected}
    return results


def is_blocked(results: dict[str, Any]) -> bool:
    return any(entry.get("filtered") for entry in results.values())


SAFE_COMPLETION = {c: {"filtered": False, "severity": "safe"} for c in CATEGORIES}


def prompt_text_of_messages(messages: list[dict[str, Any]]) -> str:
    """The user-visible text of a chat prompt, parts included."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(out)
