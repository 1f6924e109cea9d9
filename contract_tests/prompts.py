"""Prompts the stateful groups send: made unique per call so a target's cache never answers them.

A target may live across runs (a vendor's staging gateway) and cache answers for minutes; a check that
needs its request to reach the backend, or to be counted, must ask something never asked before. A
made-up word does that without changing what the prompt is about: paraphrases that share it still
embed close together, different made-up words make otherwise equal prompts dissimilar.
"""

from __future__ import annotations

import math
import uuid

CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"


def fresh_word() -> str:
    """A pronounceable made-up word (ten letters), new in every call."""
    digits = uuid.uuid4().hex[:10]
    return "".join(CONSONANTS[int(c, 16) % len(CONSONANTS)] if i % 2 == 0 else VOWELS[int(c, 16) % len(VOWELS)]
                   for i, c in enumerate(digits))


def chat(text: str, max_tokens: int = 30, **extra) -> dict:
    """A one-message chat body with a completion cap (every request of the suite stays cheap)."""
    return {"messages": [{"role": "user", "content": text}], "max_tokens": max_tokens, **extra}


def fresh_chat(topic: str = "Say something about the weather", max_tokens: int = 30, **extra) -> dict:
    return chat(f"{topic} {fresh_word()}", max_tokens, **extra)


def per_choice_cap(capabilities) -> int:
    """The largest max_tokens one choice of the chat deployment accepts with a short prompt (its model limits)."""
    caps = [c for c in (capabilities.max_completion_tokens, capabilities.context_window and capabilities.context_window // 2) if c]
    return min(caps) if caps else 4096


def spread(body: dict, completion: int, cap: int) -> dict:
    """``body`` asking for ``completion`` tokens in all (at least 1), in as few choices of at most ``cap`` as
    possible: a large completion allowance the model can still serve (a max_tokens above its cap is a 400)."""
    completion = max(1, completion)
    n = min(128, math.ceil(completion / cap))
    return {**body, "max_tokens": max(1, completion // n), **({"n": n} if n > 1 else {})}
