"""Azure OpenAI's built-in content filter, driven by the shared classifier (``content_classifier``).

Real Azure annotates every prompt and every choice (``prompt_filter_results`` /
``content_filter_results``, severities safe/low/medium/high), refuses a prompt at or above the
configured threshold with a 400 ``content_filter`` error, and cuts a completion that crosses it
(``finish_reason: "content_filter"``, 200). The mock does the same from the lexicon, with Azure's
default policy — filter at *medium* and above — unless ``content_safety.prompt_filter`` /
``content_safety.completion_filter`` in the mock config say otherwise.

Flagged completions on purpose: the mock's generated prose never contains lexicon terms, so a prompt
that contains a *completion trigger* (``completion_triggers`` in the lexicon; the shipped ones are
``aigw:completion:<hate|selfharm|sexual|violence>:<low|medium|high>``) makes every choice of the answer
carry that severity. Below the completion threshold the choice is served and annotated with it; at or
above, the choice keeps only the text before the offending part (half of it for a trigger, everything
before the first blocking term when the generated text itself is flagged, e.g. a json_schema enum),
ends with ``finish_reason: "content_filter"`` and its annotation says ``filtered: true``. Streams carry
the choice's annotations on each content chunk, and a filtered choice's last chunk carries
``finish_reason: "content_filter"`` with the filtering annotation.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from aigw.mocks import textgen
from aigw.mocks.content_classifier import (
    AOAI_LEVELS,
    CATEGORIES as SAFETY_CATEGORIES,
    Classifier,
    ContentSafetyConfig,
    FilterPolicy,
    aoai_level,
    ascii_words,
    classifier_for,
)

CATEGORIES = ("hate", "self_harm", "sexual", "violence")  # Azure OpenAI's names
AOAI_NAME = dict(zip(SAFETY_CATEGORIES, CATEGORIES))
SEVERITIES = AOAI_LEVELS
SAFE_COMPLETION = {c: {"filtered": False, "severity": "safe"} for c in CATEGORIES}


def _filtered(level: str, threshold: str) -> bool:
    return threshold != "off" and level != "safe" and AOAI_LEVELS.index(level) >= AOAI_LEVELS.index(threshold)


def annotate(severities: dict[str, int], policy: FilterPolicy) -> dict[str, Any]:
    """``content_filter_results`` for Content Safety severities (0..7) under ``policy``."""
    results: dict[str, Any] = {}
    for category in SAFETY_CATEGORIES:
        name = AOAI_NAME[category]
        level = aoai_level(severities.get(category, 0))
        results[name] = {"filtered": _filtered(level, getattr(policy, name)), "severity": level}
    return results


def is_blocked(results: dict[str, Any]) -> bool:
    return any(entry.get("filtered") for entry in results.values())


class ContentFilter:
    """The filter of one mock: a classifier plus the prompt and completion policies.

    Verdicts are few (a severity per category, a jailbreak flag), so each annotation is built once per
    verdict and shared: callers must not change the dicts they get. Generated prose is made of
    ``textgen.PROSE_WORDS`` only, so whether the lexicon could ever flag it is decided once, here.
    """

    def __init__(self, config: ContentSafetyConfig | None = None, classifier: Classifier | None = None) -> None:
        config = config or ContentSafetyConfig()
        self.classifier = classifier or classifier_for(config)
        self.prompt_policy = config.prompt_filter
        self.completion_policy = config.completion_filter
        self._prose_may_flag = self.classifier.may_flag(ascii_words(" ".join(textgen.PROSE_WORDS)))
        self._prompt_verdicts: dict[tuple, dict[str, Any]] = {}  # (severities…, jailbreak or None) → results
        self._completion_verdicts: dict[tuple, dict[str, Any]] = {}  # severities → results
        self._clean_prompt = {flag: PromptVerdict(self.prompt_results("", with_jailbreak=flag), {}, False)
                              for flag in (False, True)}
        self._clean_completion = self._completion_verdict((0,) * len(SAFETY_CATEGORIES))

    def prompt(self, text: str, *, with_jailbreak: bool) -> "PromptVerdict":
        """Everything the filter says about a prompt: its annotation, whether it is refused, and the
        severities its completion is made to carry (``completion_triggers``)."""
        if self.classifier.finds_nothing_in(text):
            return self._clean_prompt[with_jailbreak]
        results = self.prompt_results(text, with_jailbreak=with_jailbreak)
        return PromptVerdict(results, self.completion_trigger(text), is_blocked(results))

    def prompt_results(self, text: str, *, with_jailbreak: bool) -> dict[str, Any]:
        """``content_filter_results`` of one prompt (chat prompts also get the jailbreak verdict)."""
        severities = self.classifier.severities(text)
        detected = self.classifier.jailbreak(text) if with_jailbreak else None
        key = (*severities.values(), detected)
        results = self._prompt_verdicts.get(key)
        if results is None:
            results = annotate(severities, self.prompt_policy)
            if with_jailbreak:
                results["jailbreak"] = {"filtered": detected and self.prompt_policy.jailbreak, "detected": detected}
            self._prompt_verdicts[key] = results
        return results

    def completion_trigger(self, prompt_text: str) -> dict[str, int]:
        return self.classifier.completion_trigger(prompt_text)

    def screen(self, plans: list, trigger: dict[str, int]) -> dict[int, dict[str, Any]]:
        """Annotate each planned choice and cut the ones the completion policy filters.

        ``plans`` are ``generation.ChoicePlan`` objects of one answer, screened once when it is planned; a
        filtered plan is changed in place. Returns ``content_filter_results`` by choice index.
        """
        out: dict[int, dict[str, Any]] = {}
        for plan in plans:
            text = None
            if plan.prose and not self._prose_may_flag:
                if not trigger:  # generated prose, nothing asked of it: the safe verdict
                    out[plan.index] = self._clean_completion
                    continue
                hits = []
            else:
                text = "".join(c.arguments for c in plan.tool_calls) if plan.tool_calls else "".join(plan.pieces)
                hits = self.classifier.hits(text)
            severities = dict.fromkeys(SAFETY_CATEGORIES, 0)
            for hit in hits:
                severities[hit.category] = max(severities[hit.category], hit.severity)
            for category, severity in trigger.items():
                severities[category] = max(severities[category], severity)
            results = self._completion_verdict(tuple(severities.values()))
            if is_blocked(results):
                if text is None:
                    text = "".join(plan.pieces)
                policy = self.completion_policy
                starts = [h.start for h in hits if _filtered(aoai_level(h.severity), getattr(policy, AOAI_NAME[h.category]))]
                _cut(plan, min(starts) if starts else len(text) // 2)
            out[plan.index] = results
        return out


    def _completion_verdict(self, severities: tuple[int, ...]) -> dict[str, Any]:
        results = self._completion_verdicts.get(severities)
        if results is None:
            results = annotate(dict(zip(SAFETY_CATEGORIES, severities)), self.completion_policy)
            self._completion_verdicts[severities] = results
        return results


class PromptVerdict(NamedTuple):
    results: dict[str, Any]  # content_filter_results (shared: do not change it)
    trigger: dict[str, int]  # severities the completion must carry, by Content Safety category
    blocked: bool  # the prompt is refused with a 400


def _cut(plan: Any, offset: int) -> None:
    """Keep the pieces that end before ``offset`` and finish the choice as filtered."""
    kept, length = [], 0
    if not plan.tool_calls:
        for piece in plan.pieces:
            if length + len(piece) > offset:
                break
            kept.append(piece)
            length += len(piece)
    plan.tool_calls = []
    plan.pieces = kept
    plan.completion_tokens = len(kept)
    if plan.logprobs is not None:
        plan.logprobs = plan.logprobs[: len(kept)]
    plan.finish_reason = "content_filter"


@functools.lru_cache(maxsize=1)
def default_filter() -> ContentFilter:
    """The filter of a mock with no ``content_safety`` section (shipped lexicon, Azure's default policy)."""
    return ContentFilter()


# Plain functions over the default filter, for callers that have no mock config at hand.

def classify(text: str) -> dict[str, str]:
    """Azure OpenAI severity per category for ``text`` under the shipped lexicon."""
    severities = default_filter().classifier.severities(text)
    return {AOAI_NAME[c]: aoai_level(s) for c, s in severities.items()}


def jailbreak_detected(text: str) -> bool:
    return default_filter().classifier.jailbreak(text)


def filter_results(text: str, *, with_jailbreak: bool) -> dict[str, Any]:
    """``content_filter_results`` for one prompt under the default filter."""
    return default_filter().prompt_results(text, with_jailbreak=with_jailbreak)


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
