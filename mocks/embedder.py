"""Deterministic, *meaningful* embeddings for the mock backend.

Why: a gateway's semantic cache can only be tested if the backend's embeddings put paraphrases close
together and unrelated texts far apart. Mocks that return random vectors make every lookup a miss (or,
with a loose threshold, every lookup a hit). These vectors are unit length like the real ones, identical
for the same input in every process and on every machine, cheap enough for the mock's hot path, and
similar exactly when the texts share (canonicalised) content words.

The model — lexical-semantic hashing, a bag of words with subword smoothing:

1. Normalise: lowercase, strip accents, split into words, expand contractions ("don't" → "not"),
   fold multi-word phrases ("capital city" → "capital", "log in" → "login").
2. Drop stopwords, including the framing users put around a request ("what is", "could you please
   tell me", "explain"). Stem lightly (plurals, -ing, -ed, -est, final e/y) and map a built-in synonym table
   onto canonical words (car/automobile, buy/purchase, big/large, …). Tables: ``embedder_lexicon``.
3. Each canonical word gets a pseudo-random vector: a fixed window of a large table of uniform noise
   (the table is expanded from SHAKE-256 of a constant; the window offset is a BLAKE2b hash of the
   word — no salted ``hash()``, no numpy RNG whose streams may change between versions). Windows at
   different offsets are nearly orthogonal (cosine ~ N(0, 1/dims)), so unrelated words land near 0.
   A word's vector mixes three such windows: the whole word (15% of its energy), its character
   trigrams ("<ca", "cap", …; 45%) and, for words with 4+ consonant classes, its Soundex-like consonant
   skeleton ("password" and "pasword" both → 1263; 40%). So a single typo keeps 0.5–0.8 of a word's
   similarity, while unrelated words rarely share a skeleton. Numbers are whole-word only
   ("Windows 10" is not "Windows 11").
4. The text vector is the weighted sum of its word vectors (framing-ish "light" words such as "way",
   "difference", "information" count 0.35; repeats count 1 + ln(tf)), normalised to unit length.
   Text without any content word falls back to all its words, and text without any word at all
   (empty, punctuation) to a hash of the raw string, so every input gets a valid unit vector.

``dimensions``: the sum is taken over the first ``dims`` components of each word's full 3072-wide vector
and then normalised, so ``embed(t, k)`` equals the first ``k`` components of ``embed(t, 3072)``
renormalised — the same truncation property as OpenAI's text-embedding-3 models. Any ``dims`` from 1 to
3072 gives a unit vector, but similarity is only informative with enough components: the cosine between
unrelated words has a standard deviation of about 1/sqrt(dims), so the test fixtures' thresholds
(paraphrases ≥ 0.9, unrelated ≤ 0.3) are only promised from 256 dimensions up.

Limits, on purpose: it knows nothing beyond the tables. Paraphrases that share no content word
("How do I get to the airport?" / "Directions to the terminal") score near 0 unless the synonym table
links them; texts that share a topic word but mean different things ("capital of France" / "capital
gains tax") score as similar as their shared words say; negation and question words barely count
("is X safe" ~ "is X not safe", "why X" = "how X"); word order is ignored ("dog bites man" = "man bites
dog"). Typos are only absorbed partly: one typo among four content words stays ≥ 0.9, one among two
does not (~0.87), and a misspelt phrase ("captial city") is not folded. The ``limits`` section of
``tests/fixtures/embedding_pairs.json`` pins these. Real embeddings blur such cases too, just less.

Determinism: elementwise float32 arithmetic only (no BLAS), so the bytes are the same in every
process; the stored components in ``tests/mocks/test_embedder.py`` pin the algorithm.

Cost (one core): ~20 µs for a 10-word prompt at 1536 dimensions, ~25 µs at 3072, once its words are in
the per-process word cache (4096 words, ≤ 48 MiB); ~60 µs more per word never seen before. The 4 MiB
noise table is built on first use (~20 ms).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .embedder_lexicon import IRREGULAR, LIGHT_WORDS, PHRASES, STOPWORDS, SYNONYM_GROUPS

__all__ = [
    "MAX_DIMS",
    "embed",
    "embed_input",
    "embed_many",
    "embed_tokens",
    "from_base64",
    "to_base64",
]

MAX_DIMS = 3072  # text-embedding-3-large, the widest model the mock serves

LIGHT_WEIGHT = 0.35
# Amplitudes (whole word, trigrams, consonant skeleton) of a word vector's parts; squares sum to 1.
WITH_SKELETON = (math.sqrt(0.15), math.sqrt(0.45), math.sqrt(0.40))
WITHOUT_SKELETON = (math.sqrt(0.25), math.sqrt(0.75), 0.0)
NGRAM_SIZE = 3
MAX_NGRAM_WORD = 32  # longer "words" (hashes, base64 blobs) get no subword part

_TABLE_SIZE = 1 << 20  # distinct window offsets; two words collide with probability 2**-20
_TABLE_SEED = b"aigw-suite/mocks/embedder/v1"
_HASH_PERSON = b"aigw-emb-v1"

_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_NO_STEM = frozenset({"news", "series", "species", "physics", "ios", "windows"})


# --------------------------------------------------------------------------------------------------
# Text → weighted canonical words


def _stem(word: str) -> str:
    """A deliberately small suffix stripper: consistent rather than linguistically right.

    "make"/"making"/"makes" → "mak", "city"/"cities" → "citi", "run"/"running" → "run". Both sides of a
    comparison go through the same rules, so an odd stem ("str" for "string") does no harm.
    """
    if len(word) <= 3 or word in _NO_STEM or not word.isalpha():
        return word
    if word.endswith("ies"):
        word = word[:-3] + "i"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith(("xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ied") and len(word) >= 5:
        word = word[:-3] + "i"
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("est") and len(word) >= 7:
        word = word[:-3]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) >= 3 and word.endswith("y"):
        word = word[:-1] + "i"
    return word


def _build_canonical() -> dict[str, str]:
    canonical: dict[str, str] = {}
    for group in SYNONYM_GROUPS:
        target = _stem(group[0])
        for variant in group:
            stem = _stem(variant)
            if canonical.get(stem, target) != target:
                raise ValueError(f"embedder lexicon: {variant!r} is in two synonym groups")
            canonical[stem] = target
    return canonical


_CANONICAL = _build_canonical()
_LIGHT = frozenset(_CANONICAL.get(_stem(w), _stem(w)) for w in LIGHT_WORDS)
_MAX_PHRASE = max(len(p) for p in PHRASES)
_PHRASE_STARTS = frozenset(p[0] for p in PHRASES)


@functools.lru_cache(maxsize=65536)
def _term(token: str, keep_stopwords: bool) -> tuple[str, float] | None:
    """One token → (canonical word, weight), or None for a stopword."""
    base = IRREGULAR.get(token, token)
    if not keep_stopwords and (token in STOPWORDS or base in STOPWORDS):
        return None
    word = _CANONICAL.get(_stem(base), _stem(base))
    return word, (LIGHT_WEIGHT if word in _LIGHT else 1.0)


def _tokens(text: str) -> list[str]:
    """Lowercased words with contractions expanded and phrases folded."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words: list[str] = []
    for raw in _WORD_RE.findall(text):
        if "'" in raw:
            base, _, suffix = raw.partition("'")
            # "don't"/"can't"/"won't" → "not"; "France's", "it's", "I'd", "we'll" → the base word.
            words.append("not" if suffix == "t" else base)
        else:
            words.append(raw)
    if len(words) < 2:
        return words
    folded: list[str] = []
    i = 0
    while i < len(words):
        if words[i] not in _PHRASE_STARTS:  # most words start no phrase: one set lookup, not one per length
            folded.append(words[i])
            i += 1
            continue
        for size in range(min(_MAX_PHRASE, len(words) - i), 1, -1):
            phrase = PHRASES.get(tuple(words[i : i + size]))
            if phrase is not None:
                folded.append(phrase)
                i += size
                break
        else:
            folded.append(words[i])
            i += 1
    return folded


def _weighted_words(tokens: Iterable[str], keep_stopwords: bool) -> dict[str, float]:
    counts: dict[str, int] = {}
    weights: dict[str, float] = {}
    for token in tokens:
        term = _term(token, keep_stopwords)
        if term is not None:
            word, weight = term
            counts[word] = counts.get(word, 0) + 1
            weights[word] = weight
    return {word: weights[word] * (1.0 + math.log(n)) for word, n in counts.items()}


# --------------------------------------------------------------------------------------------------
# Words → vectors


@functools.cache
def _noise_table() -> np.ndarray:
    """2**20 + 3072 float32 values uniform in (-1, 1), identical on every machine.

    Built from SHAKE-256 output with exact arithmetic (23-bit integers scaled by a power of two), so no
    platform's libm or RNG version can change a bit.
    """
    count = _TABLE_SIZE + MAX_DIMS
    raw = np.frombuffer(hashlib.shake_256(_TABLE_SEED).digest(4 * count), dtype="<u4")
    table = ((raw >> 9).astype(np.float64) + 0.5) * (2.0**-22) - 1.0
    table = table.astype(np.float32)
    table.flags.writeable = False
    return table


def _offset(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, person=_HASH_PERSON)
    return int.from_bytes(digest.digest(), "little") % _TABLE_SIZE


def _window(key: str) -> np.ndarray:
    start = _offset(key)
    return _noise_table()[start : start + MAX_DIMS]


# Soundex-style consonant classes: a word's sequence of classes (vowels, h, w, y dropped; repeats merged)
# survives most single typos: "password"/"pasword", "capital"/"captial", "symptom"/"sympton".
_SKELETON_CLASSES = {ch: code for letters, code in (
    ("bfpv", "1"), ("cgjkqsxz", "2"), ("dt", "3"), ("l", "4"), ("mn", "5"), ("r", "6")) for ch in letters}
MIN_SKELETON = 4  # shorter skeletons are shared by too many unrelated words to be evidence of a typo


def _skeleton(word: str) -> str:
    codes: list[str] = []
    for ch in word:
        code = _SKELETON_CLASSES.get(ch)
        if code is not None and (not codes or codes[-1] != code):
            codes.append(code)
    return "".join(codes)


@functools.lru_cache(maxsize=4096)  # 12 KiB each: at most 48 MiB per process
def _word_vector(word: str) -> np.ndarray:
    """A word's full-width vector, energy ~ MAX_DIMS / 3, mixed from independent parts.

    Whole word (its identity), character trigrams (shared partially by typos and related forms) and,
    for words of 4+ consonant classes, the consonant skeleton (shared fully by most single typos).
    """
    if word.isdigit() or word.startswith("#") or len(word) > MAX_NGRAM_WORD:  # numbers, token ids
        return _window("w\x1f" + word)
    padded = f"<{word}>"
    grams = [padded[i : i + NGRAM_SIZE] for i in range(max(1, len(padded) - NGRAM_SIZE + 1))]
    subword = np.zeros(MAX_DIMS, dtype=np.float32)
    for gram in grams:
        subword += _window("g\x1f" + gram)
    skeleton = _skeleton(word)
    if len(skeleton) >= MIN_SKELETON:
        shares = WITH_SKELETON
        vector = shares[2] * _window("k\x1f" + skeleton)
    else:
        shares = WITHOUT_SKELETON
        vector = np.zeros(MAX_DIMS, dtype=np.float32)
    vector += shares[0] * _window("w\x1f" + word)
    vector += (shares[1] / math.sqrt(len(grams))) * subword
    vector.flags.writeable = False
    return vector


def _combine(weighted: dict[str, float], dims: int) -> np.ndarray:
    total = np.zeros(dims, dtype=np.float32)
    for word, weight in weighted.items():
        total += weight * _word_vector(word)[:dims]
    return total


def _raw_fallback(key: str, dims: int) -> np.ndarray:
    return _window("r\x1f" + key)[:dims].copy()


def _unit(vector: np.ndarray, fallback_key: str) -> np.ndarray:
    norm = math.sqrt(float(np.square(vector, dtype=np.float64).sum()))
    if norm == 0.0 or not math.isfinite(norm):  # cancellation in tiny dims; practically unreachable
        vector = _raw_fallback(fallback_key, vector.shape[0])
        norm = math.sqrt(float(np.square(vector, dtype=np.float64).sum()))
    vector /= np.float32(norm)
    return vector


def _check_dims(dims: object) -> int:
    if isinstance(dims, bool) or not isinstance(dims, int):
        raise TypeError(f"dims must be an integer, got {type(dims).__name__}")
    if not 1 <= dims <= MAX_DIMS:
        raise ValueError(f"dims must be between 1 and {MAX_DIMS}, got {dims}")
    return dims


# --------------------------------------------------------------------------------------------------
# Public API


def embed(text: str, dims: int) -> np.ndarray:
    """The unit-length float32 embedding of ``text`` with ``dims`` components."""
    _check_dims(dims)
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    tokens = _tokens(text)
    weighted = _weighted_words(tokens, keep_stopwords=False) or _weighted_words(tokens, keep_stopwords=True)
    if not weighted:
        return _unit(_raw_fallback(text, dims), text)
    return _unit(_combine(weighted, dims), text)


def embed_many(texts: Sequence[str], dims: int) -> np.ndarray:
    """Embeddings of several texts as an ``(n, dims)`` float32 array, row i for ``texts[i]``."""
    _check_dims(dims)
    if isinstance(texts, str):
        raise TypeError("embed_many expects a sequence of strings, got a single string")
    out = np.empty((len(texts), dims), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = embed(text, dims)
    return out


def embed_tokens(token_ids: Sequence[int], dims: int, decode: Callable[[list[int]], str] | None = None) -> np.ndarray:
    """The embedding of a token-array input (the embeddings API accepts ``int[]``).

    With ``decode`` (e.g. a tiktoken ``Encoding.decode``) the ids are turned back into text first, so a
    client that tokenizes locally (LangChain does) gets the same vector as one sending the string. Without
    it, or when the ids do not decode, each id is a word of its own: token arrays sharing ids are similar.
    """
    _check_dims(dims)
    ids = list(token_ids)
    for token in ids:
        if isinstance(token, bool) or not isinstance(token, int) or token < 0:
            raise ValueError(f"token ids must be non-negative integers, got {token!r}")
    if decode is not None and ids:
        try:
            return embed(decode(ids), dims)
        except (KeyError, ValueError, OverflowError):
            pass  # ids outside the encoding's vocabulary: fall back to the surrogate below
    if not ids:
        return _unit(_raw_fallback("tokens:", dims), "tokens:")
    weighted = _weighted_words((f"#{token}" for token in ids), keep_stopwords=True)
    return _unit(_combine(weighted, dims), "tokens:" + ",".join(map(str, ids)))


def embed_input(
    value: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
    dims: int,
    decode: Callable[[list[int]], str] | None = None,
) -> np.ndarray:
    """Embeddings for an embeddings request's ``input`` in any of its four shapes, as ``(n, dims)``.

    ``str`` and ``int[]`` are one input; ``str[]`` and ``int[][]`` are one input per item.
    """
    _check_dims(dims)
    if isinstance(value, str):
        return embed(value, dims)[np.newaxis, :]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("input must be a string, or a non-empty array of strings, integers or integer arrays")
    if all(isinstance(item, str) for item in value):
        return embed_many(value, dims)
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return embed_tokens(value, dims, decode)[np.newaxis, :]
    if all(isinstance(item, (list, tuple)) for item in value):
        return np.stack([embed_tokens(item, dims, decode) for item in value])
    raise ValueError("input array must hold only strings, only integers, or only integer arrays")


def to_base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes, base64 — the ``encoding_format: "base64"`` wire form.

    The openai client decodes it with ``np.frombuffer(base64.b64decode(s), dtype="float32")``.
    """
    array = np.asarray(vector)
    if array.ndim != 1:
        raise ValueError(f"to_base64 expects a 1-D vector, got shape {array.shape}")
    return base64.b64encode(array.astype("<f4", copy=False).tobytes()).decode("ascii")


def from_base64(encoded: str) -> np.ndarray:
    """The inverse of ``to_base64`` (for tests and clients)."""
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) % 4:
        raise ValueError(f"base64 embedding decodes to {len(raw)} bytes, not a whole number of float32s")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
