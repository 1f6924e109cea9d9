"""Mock text generation: exact token counts verified with the real encoders, determinism, stop, deltas."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw.mocks import textgen
from aigw.protocol.tokens import encoding_for_model, get_encoding

MODELS = ["gpt-4o", "gpt-4"]  # o200k_base and cl100k_base


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_every_vocabulary_piece_is_one_token(name: str) -> None:
    vocabulary = textgen.vocabulary_for_encoding(name)
    encode = get_encoding(name).encode_ordinary
    categories = vars(vocabulary)
    assert sum(len(words) for words in categories.values()) >= 250
    for category, words in categories.items():
        assert words, category
        for piece in words:
            assert piece.startswith(" ") and len(encode(piece)) == 1, (category, piece)
    for opener in vocabulary.opener_determiners + vocabulary.opener_pronouns + vocabulary.interjections:
        assert len(encode(opener[1:])) == 1, opener


def test_both_encodings_share_one_vocabulary() -> None:
    # Same seed, same text whatever the model: the mock's output must not change when a deployment's
    # model changes from gpt-4 to gpt-4o.
    assert textgen.vocabulary_for_encoding("cl100k_base") == textgen.vocabulary_for_encoding("o200k_base")
    assert textgen.generate_text(random.Random(9), 200, "gpt-4") == textgen.generate_text(random.Random(9), 200, "gpt-4o")


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), n_tokens=st.integers(min_value=0, max_value=500),
       model=st.sampled_from(MODELS))
def test_generated_text_has_exactly_the_requested_token_count(seed: int, n_tokens: int, model: str) -> None:
    pieces = textgen.generate_pieces(random.Random(seed), n_tokens, model)
    text = "".join(pieces)
    encoding = encoding_for_model(model)
    encoded = encoding.encode(text)
    assert len(encoded) == n_tokens
    # Not only the count: the encoder's own token boundaries are the pieces, so streaming one piece
    # per chunk streams one token per chunk.
    assert [encoding.decode([token]) for token in encoded] == pieces
    assert text == textgen.generate_text(random.Random(seed), n_tokens, model)


@pytest.mark.parametrize("n_tokens", [1, 2, 3, 4, 5, 6, 7, 16, 17, 21, 22, 23, 100])
def test_small_and_boundary_lengths_read_like_sentences(n_tokens: int) -> None:
    text = textgen.generate_text(random.Random(n_tokens), n_tokens, "gpt-4o")
    assert len(get_encoding("o200k_base").encode(text)) == n_tokens
    assert text[0].isupper() and not text.startswith(" ")
    if n_tokens == 1:
        assert text.isalpha()
    else:
        assert text.endswith(".")
        for sentence in text.split(". "):
            assert sentence[0].isupper(), text
            assert re.fullmatch(r"[A-Za-z ]+\.?", sentence), sentence


def test_zero_tokens_is_empty_and_negative_is_rejected() -> None:
    assert textgen.generate_text(random.Random(1), 0, "gpt-4o") == ""
    with pytest.raises(ValueError, match="n_tokens must be >= 0"):
        textgen.generate_text(random.Random(1), -1, "gpt-4o")


def test_generation_is_deterministic_by_seed() -> None:
    first = textgen.generate_text(random.Random(1234), 80, "gpt-4o")
    assert first == textgen.generate_text(random.Random(1234), 80, "gpt-4o")
    assert first != textgen.generate_text(random.Random(1235), 80, "gpt-4o")


def test_natural_length_stays_in_range_and_varies() -> None:
    rng = random.Random(5)
    lengths = [textgen.natural_length(rng) for _ in range(500)]
    assert min(lengths) >= 16 and max(lengths) <= 120
    assert len(set(lengths)) > 50
    assert textgen.natural_length(random.Random(1), lo=7, hi=7) == 7
    with pytest.raises(ValueError, match="need 1 <= lo <= hi"):
        textgen.natural_length(rng, lo=10, hi=5)
    with pytest.raises(ValueError, match="need 1 <= lo <= hi"):
        textgen.natural_length(rng, lo=0, hi=5)


@pytest.mark.parametrize(("text", "stop", "expected"), [
    ("The team agreed. We left.", ["."], ("The team agreed", True)),
    ("The team agreed. We left.", "We", ("The team agreed. ", True)),
    ("The team agreed. We left.", ["left", "team"], ("The ", True)),  # earliest occurrence wins, not list order
    ("The team agreed.", ["zzz"], ("The team agreed.", False)),
    ("The team agreed.", None, ("The team agreed.", False)),
    ("The team agreed.", [], ("The team agreed.", False)),
    ("The team agreed.", ["", "agreed"], ("The team ", True)),  # empty sequences are ignored
    ("The team agreed.", ["The"], ("", True)),
])
def test_apply_stop(text: str, stop, expected: tuple[str, bool]) -> None:
    assert textgen.apply_stop(text, stop) == expected


@pytest.mark.parametrize("model", MODELS)
def test_deltas_are_one_per_token_for_ascii(model: str) -> None:
    text = textgen.generate_text(random.Random(3), 60, model)
    deltas = textgen.split_into_deltas(text, model)
    assert "".join(deltas) == text
    assert len(deltas) == 60


@pytest.mark.parametrize("model", MODELS)
def test_deltas_merge_tokens_that_split_a_character(model: str) -> None:
    text = "Family 👨‍👩‍👧‍👦 and 你好世界 and 🇫🇷!"
    encoding = encoding_for_model(model)
    token_bytes = encoding.decode_tokens_bytes(encoding.encode_ordinary(text))
    assert any(_is_partial_utf8(chunk) for chunk in token_bytes), "sample must contain a split character"
    deltas = textgen.split_into_deltas(text, model)
    assert "".join(deltas) == text
    assert all(deltas)
    assert len(deltas) < len(token_bytes)


def _is_partial_utf8(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), model=st.sampled_from(MODELS))
def test_deltas_always_reassemble_the_text(text: str, model: str) -> None:
    deltas = textgen.split_into_deltas(text, model)
    assert "".join(deltas) == text
    assert all(deltas)
    assert len(deltas) <= len(encoding_for_model(model).encode_ordinary(text))


@given(seed=st.integers(0, 2**32), n=st.integers(0, 300), limit=st.integers(0, 320), model=st.sampled_from(["gpt-4o", "gpt-4"]))
@settings(max_examples=200, deadline=None)
def test_limited_generation_is_a_prefix_of_the_full_text(seed, n, limit, model):
    full = textgen.generate_pieces(random.Random(seed), n, model)
    cut = textgen.generate_pieces(random.Random(seed), n, model, limit=limit)
    assert cut == full[:limit]
