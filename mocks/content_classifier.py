"""One deterministic text classifier for Azure AI Content Safety and Azure OpenAI's content filter.

Real Azure runs one family of models behind both products: Content Safety's ``text:analyze`` reports a
severity 0..7 per harm category, and Azure OpenAI's built-in filter reports the same judgement as
safe/low/medium/high. The mock imitates that with a lexicon (``content_safety_lexicon.yaml`` beside this
file, overridable in the mock config under ``content_safety``) so a test can produce every outcome on
purpose: the same text gets the same severities on both surfaces.

Matching is case-insensitive on whole words, a space in a term matches any whitespace, and the longest
overlapping term wins. Severities map as Azure documents them: FourSeverityLevels rounds down to
0/2/4/6, and 0-1 is *safe*, 2-3 *low*, 4-5 *medium*, 6-7 *high*.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from aigw.mocks.config_base import Strict

from aigw.protocol.yamlconfig import parse_model

CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")  # Content Safety's names, in its order
Category = Literal["Hate", "SelfHarm", "Sexual", "Violence"]
Severity = Annotated[int, Field(ge=0, le=7)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
AOAI_LEVELS = ("safe", "low", "medium", "high")
Threshold = Literal["low", "medium", "high", "off"]
DEFAULT_API_VERSIONS = ("2023-10-01", "2024-02-15-preview", "2024-09-01", "2024-09-15-preview", "2024-12-15-preview")


class LexiconConfig(Strict):
    """Lexicon entries; in the mock config they are merged over the shipped default lexicon."""

    categories: dict[Category, dict[Term, Severity]] = Field(default_factory=dict)
    jailbreak: list[Term] = Field(default_factory=list)
    indirect_attack: list[Term] = Field(default_factory=list)
    completion_triggers: dict[Term, dict[Category, Severity]] = Field(default_factory=dict)
    replace_default: bool = Field(False, description="start from an empty lexicon instead of the shipped one")


class BlocklistItemConfig(Strict):
    text: Term
    id: str | None = Field(None, min_length=1, max_length=64, description="defaults to a stable uuid")
    description: str | None = Field(None, max_length=1024)
    is_regex: bool = False

    @model_validator(mode="after")
    def _compiles(self):
        if self.is_regex:
            try:
                re.compile(self.text)
            except re.error as exc:
                raise ValueError(f"text {self.text!r} is not a valid regular expression: {exc}") from None
        return self


class BlocklistConfig(Strict):
    description: str | None = Field(None, max_length=1024)
    items: list[BlocklistItemConfig | Term] = Field(default_factory=list)


class FilterPolicy(Strict):
    """Azure OpenAI's configurable filter: the lowest level that is filtered, per category."""

    hate: Threshold = "medium"
    self_harm: Threshold = "medium"
    sexual: Threshold = "medium"
    violence: Threshold = "medium"
    jailbreak: bool = Field(True, description="filter (not only annotate) detected jailbreak attempts")


class ContentSafetyConfig(Strict):
    """The ``content_safety`` section of the mock config."""

    lexicon: LexiconConfig = Field(default_factory=LexiconConfig)
    blocklists: dict[Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._~-]{1,64}$")], BlocklistConfig] = Field(
        default_factory=dict, description="Content Safety text blocklists by name (the API can add more at run time)"
    )
    prompt_filter: FilterPolicy = Field(default_factory=FilterPolicy)
    completion_filter: FilterPolicy = Field(default_factory=FilterPolicy)
    api_versions: list[str] = Field(default_factory=lambda: list(DEFAULT_API_VERSIONS))


@functools.lru_cache(maxsize=1)
def default_lexicon() -> LexiconConfig:
    text = resources.files("aigw.mocks").joinpath("content_safety_lexicon.yaml").read_text("utf-8")
    return parse_model(LexiconConfig, text, "aigw/mocks/content_safety_lexicon.yaml")


def merged_lexicon(overrides: LexiconConfig) -> LexiconConfig:
    """The shipped lexicon with the config's entries laid over it (or the config's alone)."""
    if overrides.replace_default:
        return overrides
    base = default_lexicon()
    categories = {c: {**base.categories.get(c, {}), **overrides.categories.get(c, {})} for c in CATEGORIES}
    return LexiconConfig(
        categories=categories,
        jailbreak=list(dict.fromkeys(base.jailbreak + overrides.jailbreak)),
        indirect_attack=list(dict.fromkeys(base.indirect_attack + overrides.indirect_attack)),
        completion_triggers={**base.completion_triggers, **overrides.completion_triggers},
    )


def four_levels(severity: int) -> int:
    """FourSeverityLevels: 0-1 → 0, 2-3 → 2, 4-5 → 4, 6-7 → 6."""
    return severity - severity % 2


def aoai_level(severity: int) -> str:
    """Azure OpenAI's name for a 0..7 severity: 0-1 safe, 2-3 low, 4-5 medium, 6-7 high."""
    return AOAI_LEVELS[severity // 2]


def _normal(term: str) -> str:
    return " ".join(term.lower().split())


# ASCII word characters (what ``\w`` matches among them) lower-cased, everything else a space: one C-level
# ``translate`` then ``split`` gives the words of ASCII text, several times cheaper than ``re.findall``.
_ASCII_WORDS = bytes(ord(chr(c).lower()) if c < 128 and (chr(c).isalnum() or c == 0x5F) else 0x20 for c in range(256))
_ASCII_CHARS = [chr(c) for c in range(128)]


def ascii_words(text: str) -> frozenset[bytes] | None:
    """The lower-cased words (runs of word characters) of ASCII text; None for other text, which the prefilter leaves be."""
    return frozenset(text.encode().translate(_ASCII_WORDS).split()) if text.isascii() else None


def _ascii_runs(phrase: str) -> list[bytes] | None:
    """The words every ASCII text matching ``phrase`` (case-insensitively) must contain, or None if unknown.

    A phrase's runs of word characters meet whole words of the text: at its ends the pattern's lookarounds
    forbid a word character, inside it a non-word character of the phrase can only match a non-word
    character. Each phrase character is checked against ASCII under the regex engine's own case folding
    (``K``, the Kelvin sign, matches ``k``; ``ſ`` matches ``s``), so the words are exact. ``[]`` means the
    phrase can never match ASCII text; None (a phrase without words, or a character that folds across
    the word/non-word line) means the prefilter cannot rule it out.
    """
    runs, current = [], []
    for char in phrase + " ":
        if char == " ":  # the pattern's \s+, which matches no word character
            folded: set[str] = set()
            word = False
        else:
            folded = {a.lower() for a in _ASCII_CHARS if re.fullmatch(re.escape(char), a, re.IGNORECASE)}
            word = re.fullmatch(r"\w", char) is not None
            if any((re.fullmatch(r"\w", a) is not None) != word for a in folded) or len(folded) > 1:
                return None
        if word:
            if not folded:
                return []  # no ASCII character matches this one
            current.append(folded.pop())
        elif current:
            runs.append("".join(current).encode())
            current = []
    return runs or None


class _PhraseMatcher:
    """Finds lexicon phrases in text with one compiled alternation, longest phrase first.

    Most texts contain no phrase at all, and scanning them with the alternation costs tens of µs, so a
    prefilter looks first: a phrase can only match ASCII text whose words include all of its words. One
    word per phrase (its longest) indexes the phrases; a text sharing no indexed word is cleared by a set
    intersection, and any other text gets the full scan, so answers are the alternation's own.
    """

    def __init__(self, phrases: list[str]) -> None:
        unique = sorted({_normal(p) for p in phrases if p.strip()}, key=lambda p: (-len(p), p))
        self.empty = not unique
        alternatives = [r"\s+".join(re.escape(word) for word in p.split(" ")) for p in unique]
        self.pattern = re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)", re.IGNORECASE) if unique else None
        self._phrases, self._phrase_set = unique, frozenset(unique)
        self._alternatives = [re.compile(a, re.IGNORECASE) for a in alternatives]
        self._always_scan = False  # some phrase the prefilter cannot rule out
        self._needs: dict[bytes, list[frozenset[bytes]]] = {}  # indexing word → word sets of its phrases
        for phrase in unique:
            runs = _ascii_runs(phrase)
            if runs is None:
                self._always_scan = True
            elif runs:
                self._needs.setdefault(max(runs, key=len), []).append(frozenset(runs))
        self._index = frozenset(self._needs)

    def may_match(self, words: frozenset[bytes] | None) -> bool:
        """False only when no phrase can match the text whose ``ascii_words`` are ``words``."""
        if self.pattern is None:
            return False
        if words is None or self._always_scan:
            return True
        if self._index.isdisjoint(words):
            return False
        return any(need <= words for key in self._index & words for need in self._needs[key])

    def finditer(self, text: str, words: frozenset[bytes] | None):
        """``(normalised phrase, start offset in text)`` for each non-overlapping match (``words``: the text's)."""
        if not self.may_match(words):
            return
        for match in self.pattern.finditer(text):
            yield self._phrase_of(match.group(0)), match.start()

    def _phrase_of(self, matched: str) -> str:
        """The lexicon phrase behind a match: its normal form, unless case folding made the text differ
        (``kıll`` matches "kill"), then the first alternative that matches it, as the regex engine chose."""
        phrase = _normal(matched)
        if phrase in self._phrase_set:
            return phrase
        return next(p for p, pattern in zip(self._phrases, self._alternatives) if pattern.fullmatch(matched))

    def search(self, text: str, words: frozenset[bytes] | None) -> bool:
        return self.may_match(words) and self.pattern.search(text) is not None


@dataclass(frozen=True)
class Hit:
    category: str
    severity: int
    start: int  # offset in the classified text, so a completion can be cut before it


class Classifier:
    """Severity per category, attacks and completion triggers, from one lexicon."""

    def __init__(self, lexicon: LexiconConfig) -> None:
        self.terms: dict[str, list[tuple[str, int]]] = {}
        for category, entries in lexicon.categories.items():
            for term, severity in entries.items():
                self.terms.setdefault(_normal(term), []).append((category, severity))
        self._terms = _PhraseMatcher(list(self.terms))
        self._jailbreak = _PhraseMatcher(lexicon.jailbreak)
        self._indirect = _PhraseMatcher(lexicon.indirect_attack)
        self.triggers = {_normal(t): dict(v) for t, v in lexicon.completion_triggers.items()}
        self._triggers = _PhraseMatcher(list(self.triggers))
        self._last_text: str | None = None
        self._last_words: frozenset[bytes] | None = None

    def _words(self, text: str) -> frozenset[bytes] | None:
        """``ascii_words(text)``, kept for the last text: a prompt is asked about three times in a row."""
        if text is not self._last_text:
            self._last_text, self._last_words = text, ascii_words(text)
        return self._last_words

    def finds_nothing_in(self, text: str) -> bool:
        """True when no term, attack or completion trigger can be in ``text`` (most prompts: one set lookup)."""
        words = self._words(text)
        return not (self._terms.may_match(words) or self._jailbreak.may_match(words) or self._triggers.may_match(words))

    def may_flag(self, words: frozenset[bytes]) -> bool:
        """Whether some text made only of ``words`` (and non-word characters) could match a category term."""
        return self._terms.may_match(words)

    def hits(self, text: str) -> list[Hit]:
        words = self._words(text)
        if not self._terms.may_match(words):  # blanking triggers below only removes words: still no match
            return []
        # A completion trigger is a test device, not content: its words ("...:hate:high") never count.
        if self._triggers.may_match(words):
            text = self._triggers.pattern.sub(lambda m: " " * len(m.group(0)), text)
            words = ascii_words(text)
        return [Hit(category, severity, start)
                for term, start in self._terms.finditer(text, words) for category, severity in self.terms[term]]

    def severities(self, text: str) -> dict[str, int]:
        """Content Safety category → severity 0..7 (the highest matched term's)."""
        worst = dict.fromkeys(CATEGORIES, 0)
        for hit in self.hits(text):
            worst[hit.category] = max(worst[hit.category], hit.severity)
        return worst

    def jailbreak(self, text: str) -> bool:
        return self._jailbreak.search(text, self._words(text))

    def document_attack(self, text: str) -> bool:
        """Prompt Shields on a document: an indirect attack, or a direct one embedded in it."""
        words = self._words(text)
        return self._indirect.search(text, words) or self._jailbreak.search(text, words)

    def completion_trigger(self, prompt: str) -> dict[str, int]:
        """Severities the completion to ``prompt`` is made to carry (see ``completion_triggers``)."""
        out: dict[str, int] = {}
        for phrase, _ in self._triggers.finditer(prompt, self._words(prompt)):
            for category, severity in self.triggers[phrase].items():
                out[category] = max(out.get(category, 0), severity)
        return out


def classifier_for(config: ContentSafetyConfig) -> Classifier:
    return Classifier(merged_lexicon(config.lexicon))
