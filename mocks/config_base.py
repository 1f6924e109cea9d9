"""What every model of the mock config (and of a cassette) shares: strictness and the uniqueness rule.

Its own module because the section modules (``a2a.config``, ``mcp.config``, ``content_classifier``,
``cassette``) are imported by ``aigw.mocks.config``, which therefore cannot be where they import from.
"""

from typing import Iterable

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are typos: reject them instead of silently ignoring a setting."""

    model_config = ConfigDict(extra="forbid")


def require_unique(names: Iterable[str], rule: str) -> None:
    """Raise ``ValueError("<rule>; repeated: a, b")`` naming (sorted) every name that occurs more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        (twice if name in seen else seen).add(name)
    if twice:
        raise ValueError(f"{rule}; repeated: {', '.join(sorted(twice))}")
