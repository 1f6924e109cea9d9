"""Deterministic prose with an exact, known token count — the mock backend's completions.

Why exact: clients and the gateway under test compare ``usage.completion_tokens`` with what they count
themselves, ``max_tokens`` must truncate at precisely that many tokens, and streaming must send one
delta per token. Generating random text and *then* tokenizing it would cost an encode per request and
still leave lengths uncontrolled, so the text is built from pieces that are each exactly one token:

- words from a built-in list, each checked (once per process) to encode as a single token with a
  leading space — and, for sentence openers, also without one (the very first word has no space);
- ``"."`` ending each sentence, itself one token.

tiktoken splits text with a regex *before* applying BPE, and in both ``cl100k_base`` and ``o200k_base``
that regex cuts exactly at our piece boundaries (a space starts a new word piece, a period stands alone),
so the token count of the whole text is the number of pieces. The tests confirm it with the real encoder.

Sentences follow a tiny grammar (determiner, adjective, noun, verb, object, prepositional phrases) so the
output reads like plain, slightly dull prose rather than word salad.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from dataclasses import dataclass

from aigw.protocol.tokens import encoding_for_model, get_encoding

__all__ = [
    "generate_pieces",
    "generate_text",
    "natural_length",
    "apply_stop",
    "split_into_deltas",
    "vocabulary_for_encoding",
    "COMMON_WORDS",
    "PROSE_WORDS",
]

# Capitalized words that can open a sentence (checked with and without a leading space).
_OPENERS_DETERMINER = ("The", "This", "That", "Our", "Each", "Every", "Their", "Your", "My", "One")
_OPENERS_PRONOUN = ("They", "We", "She", "He", "Everyone", "Nobody", "You", "Someone")
_INTERJECTIONS = ("Yes", "Indeed", "Sure", "Certainly", "Absolutely", "Right", "Exactly", "Okay", "Thanks", "Great")

# Lower-case words used after the first word (checked with a leading space).
_DETERMINERS = ("the", "this", "that", "our", "their", "every", "each", "your", "my", "his", "her", "its")
_ADJECTIVES = (
    "new", "old", "small", "large", "final", "main", "simple", "clear", "quick", "early", "local",
    "recent", "public", "open", "full", "short", "long", "high", "low", "strong", "good", "great",
    "common", "modern", "basic", "major", "real", "single", "whole", "special", "similar", "better",
    "current", "global", "personal", "private", "free", "simple", "quiet", "bright", "dark", "warm",
    "cold", "fresh", "busy", "careful", "useful", "important", "different", "popular", "natural",
    "original", "official", "central", "direct", "easy", "hard", "safe", "fair", "rich", "young",
)
_NOUNS = (
    "team", "plan", "report", "project", "system", "city", "river", "garden", "market", "station",
    "library", "office", "school", "village", "bridge", "road", "model", "result", "question", "answer",
    "idea", "story", "letter", "book", "program", "service", "network", "server", "request", "message",
    "meeting", "document", "process", "method", "design", "budget", "schedule", "product", "customer",
    "company", "group", "family", "friend", "teacher", "student", "doctor", "engineer", "manager",
    "window", "door", "table", "house", "building", "street", "park", "forest", "mountain", "lake",
    "morning", "evening", "weekend", "season", "test", "change", "update", "version", "feature", "tool",
    "data", "file", "page", "list", "record", "account", "policy", "rule", "task", "goal",
)
_VERBS_TRANSITIVE = (
    "reviewed", "built", "found", "shared", "checked", "opened", "moved", "changed", "improved",
    "measured", "described", "tested", "used", "followed", "reached", "started", "finished", "supported",
    "explained", "prepared", "visited", "updated", "created", "answered", "read", "wrote", "planned",
    "watched", "cleaned", "fixed", "closed", "printed", "signed", "sent", "received", "accepted",
)
_VERBS_INTRANSITIVE = (
    "agreed", "arrived", "waited", "worked", "changed", "started", "finished", "returned", "stayed",
    "grew", "left", "failed", "improved", "paused", "continued", "helped", "listened", "succeeded",
    "laughed", "smiled", "slept", "rested", "stopped", "appeared", "responded", "moved",
)
_PREPOSITIONS = (
    "in", "on", "at", "near", "with", "for", "from", "after", "before", "during", "without", "behind",
    "under", "over", "across", "around", "through", "into", "beside", "about", "inside", "outside",
)
_OBJECT_PRONOUNS = ("them", "us", "it", "everyone", "me", "him", "her", "you")
_ADVERBS = (
    "today", "again", "quickly", "early", "later", "together", "carefully", "already", "soon",
    "yesterday", "slowly", "closely", "here", "there", "now", "quietly", "easily", "recently", "finally",
)

#: Plain common words, for other generators (e.g. JSON strings) that want readable text without the
#: one-token guarantee.
COMMON_WORDS: tuple[str, ...] = tuple(dict.fromkeys(_NOUNS + _ADJECTIVES + _ADVERBS))

#: Every word generated prose can contain (whatever the encoding keeps), so a content filter can tell once
#: per lexicon whether such prose could ever carry one of its terms.
PROSE_WORDS: frozenset[str] = frozenset(
    _OPENERS_DETERMINER + _OPENERS_PRONOUN + _INTERJECTIONS + _DETERMINERS + _ADJECTIVES + _NOUNS + _VERBS_TRANSITIVE
    + _VERBS_INTRANSITIVE + _PREPOSITIONS + _OBJECT_PRONOUNS + _ADVERBS
)

_SENTENCE_END = "."
_MIN_SENTENCE = 6  # tokens, including the period
_MAX_SENTENCE = 16
_SENTENCE_SPREAD = _MAX_SENTENCE - _MIN_SENTENCE + 1


@dataclass(frozen=True)
class Vocabulary:
    """Word pieces (leading space included) that are each exactly one token in one encoding."""

    opener_determiners: tuple[str, ...]
    opener_pronouns: tuple[str, ...]
    interjections: tuple[str, ...]
    determiners: tuple[str, ...]
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    verbs_transitive: tuple[str, ...]
    verbs_intransitive: tuple[str, ...]
    prepositions: tuple[str, ...]
    object_pronouns: tuple[str, ...]
    adverbs: tuple[str, ...]


@functools.cache
def vocabulary_for_encoding(encoding_name: str) -> Vocabulary:
    """Filter the built-in word lists down to words that are one token in ``encoding_name``.

    Done once per encoding per process (a few hundred encodes). Openers must also be one token
    without the space, because the first word of a completion has none. The punctuation assumption is
    checked here too, so a future encoding that broke it fails loudly instead of miscounting.
    """
    encode = get_encoding(encoding_name).encode_ordinary
    if len(encode(_SENTENCE_END)) != 1:
        raise RuntimeError(f"{_SENTENCE_END!r} is not a single token in {encoding_name}")

    def single(words: Iterable[str], *, opener: bool = False) -> tuple[str, ...]:
        kept = tuple(
            dict.fromkeys(
                " " + word
                for word in words
                if len(encode(" " + word)) == 1 and (not opener or len(encode(word)) == 1)
            )
        )
        if not kept:
            raise RuntimeError(f"no single-token words left in a category for {encoding_name}")
        return kept

    return Vocabulary(
        opener_determiners=single(_OPENERS_DETERMINER, opener=True),
        opener_pronouns=single(_OPENERS_PRONOUN, opener=True),
        interjections=single(_INTERJECTIONS, opener=True),
        determiners=single(_DETERMINERS),
        adjectives=single(_ADJECTIVES),
        nouns=single(_NOUNS),
        verbs_transitive=single(_VERBS_TRANSITIVE),
        verbs_intransitive=single(_VERBS_INTRANSITIVE),
        prepositions=single(_PREPOSITIONS),
        object_pronouns=single(_OBJECT_PRONOUNS),
        adverbs=single(_ADVERBS),
    )


def _sentence(out: list[str], words: int, vocab: Vocabulary, rnd) -> None:
    """Append a sentence of exactly ``words`` one-token words (no period) to ``out``.

    ``rnd`` is the bound ``random()`` of the caller's Random. This runs once per generated token, so each
    pick is spelled out inline as ``options[int(rnd() * len(options))]``, the draw ``Random.choice`` makes
    in several more calls: the same draws, and so the same text, without a call per token.
    """
    append = out.append
    if words == 1:
        options = vocab.interjections
        append(options[int(rnd() * len(options))])
        return
    if words == 2:  # "They agreed"
        options = vocab.opener_pronouns
        append(options[int(rnd() * len(options))])
        options = vocab.verbs_intransitive
        append(options[int(rnd() * len(options))])
        return
    adjectives, nouns, determiners = vocab.adjectives, vocab.nouns, vocab.determiners
    # Subject: "The [adjective] noun".
    options = vocab.opener_determiners
    append(options[int(rnd() * len(options))])
    remaining = words - 2
    if words >= 6 and rnd() < 0.5:
        append(adjectives[int(rnd() * len(adjectives))])
        remaining -= 1
    append(nouns[int(rnd() * len(nouns))])
    # Verb, with an object when there is room for "the noun".
    if remaining >= 3:
        options = vocab.verbs_transitive
        append(options[int(rnd() * len(options))])
        append(determiners[int(rnd() * len(determiners))])
        remaining -= 2
        if remaining >= 5 and rnd() < 0.5:
            append(adjectives[int(rnd() * len(adjectives))])
            remaining -= 1
        append(nouns[int(rnd() * len(nouns))])
        remaining -= 1
    else:
        options = vocab.verbs_intransitive
        append(options[int(rnd() * len(options))])
        remaining -= 1
    # Fill the rest exactly with prepositional phrases (3 or 4 words), "with them" (2), or an adverb (1).
    prepositions = vocab.prepositions
    while remaining:
        if remaining >= 7 or remaining in (3, 4):
            size = remaining if remaining in (3, 4) else 3 + (rnd() < 0.5)
            append(prepositions[int(rnd() * len(prepositions))])
            append(determiners[int(rnd() * len(determiners))])
            if size == 4:
                append(adjectives[int(rnd() * len(adjectives))])
            append(nouns[int(rnd() * len(nouns))])
        elif remaining in (2, 5, 6):
            size = 2
            append(prepositions[int(rnd() * len(prepositions))])
            options = vocab.object_pronouns
            append(options[int(rnd() * len(options))])
        else:  # remaining == 1
            size = 1
            options = vocab.adverbs
            append(options[int(rnd() * len(options))])
        remaining -= size


def generate_pieces(rng: random.Random, n_tokens: int, model: str, limit: int | None = None) -> list[str]:
    """``n_tokens`` strings, each exactly one token for ``model``, that concatenate into prose.

    The streaming path sends these directly as deltas (one per token, no re-encoding). Sentences are
    6–16 tokens long (shorter only when the whole text is) and all end with a period, so a text cut by
    ``max_tokens`` still ends cleanly; a 1-token text is a single interjection ("Sure").
    """
    if n_tokens < 0:
        raise ValueError(f"n_tokens must be >= 0, got {n_tokens}")
    vocab = vocabulary_for_encoding(encoding_for_model(model).name)
    rnd = rng.random
    pieces: list[str] = []
    remaining = n_tokens
    wanted = n_tokens if limit is None else limit
    while remaining and len(pieces) < wanted:
        if remaining <= _MAX_SENTENCE:
            length = remaining
        else:
            length = _MIN_SENTENCE + int(rnd() * _SENTENCE_SPREAD)
            if remaining - length < _MIN_SENTENCE:
                length = remaining - _MIN_SENTENCE
        if length == 1:
            _sentence(pieces, 1, vocab, rnd)
        else:
            _sentence(pieces, length - 1, vocab, rnd)
            pieces.append(_SENTENCE_END)
        remaining -= length
    if limit is not None:
        del pieces[limit:]
    if pieces:
        pieces[0] = pieces[0][1:]  # the text starts without a space; openers are one token either way
    return pieces


def generate_text(rng: random.Random, n_tokens: int, model: str) -> str:
    """Prose that is exactly ``n_tokens`` tokens long in ``model``'s encoding."""
    return "".join(generate_pieces(rng, n_tokens, model))


def natural_length(rng: random.Random, lo: int = 16, hi: int = 120) -> int:
    """A completion length for requests without ``max_tokens``: uniform in ``[lo, hi]``.

    Real answers vary in length; a fixed length would hide bugs in clients that assume one.
    """
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 <= lo <= hi, got lo={lo}, hi={hi}")
    return rng.randint(lo, hi)


def apply_stop(text: str, stop: str | list[str] | None) -> tuple[str, bool]:
    """Cut ``text`` before the earliest occurrence of any stop sequence, as OpenAI does.

    The stop sequence itself is not returned. Returns ``(text, hit)``; when ``hit`` is true the caller
    must recount tokens (the cut may fall inside a word) and report ``finish_reason: "stop"``.
    """
    if not stop:
        return text, False
    sequences = [stop] if isinstance(stop, str) else stop
    earliest = -1
    for sequence in sequences:
        if not sequence:
            continue
        index = text.find(sequence)
        if index != -1 and (earliest == -1 or index < earliest):
            earliest = index
    if earliest == -1:
        return text, False
    return text[:earliest], True


def split_into_deltas(text: str, model: str) -> list[str]:
    """Split arbitrary ``text`` into streaming deltas, one per token where UTF-8 allows.

    A token can end in the middle of a multi-byte character (emoji, CJK); such tokens are merged with
    the following ones until the bytes decode, so every delta is valid text and ``"".join`` of the
    result is exactly ``text``. Text from :func:`generate_pieces` needs no splitting — use the pieces.
    """
    encoding = encoding_for_model(model)
    deltas: list[str] = []
    pending = b""
    for token_bytes in encoding.decode_tokens_bytes(encoding.encode_ordinary(text)):
        pending += token_bytes
        try:
            deltas.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:  # only reachable for text that was not valid UTF-8 to begin with (lone surrogates)
        deltas.append(pending.decode("utf-8", errors="replace"))
    return deltas
