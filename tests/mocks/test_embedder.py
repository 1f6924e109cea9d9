"""The mock's embeddings: unit length, deterministic, truncatable, and meaningful enough for semantic caching."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw.mocks import embedder
from aigw.mocks.embedder import MAX_DIMS, embed, embed_input, embed_many, embed_tokens, from_base64, to_base64
from aigw.mocks.embedder_lexicon import STOPWORDS, SYNONYM_GROUPS

PAIRS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "embedding_pairs.json").read_text("utf-8"))
FIXTURE_DIMS = [256, 1536, 3072]  # the fixtures' thresholds are promised from 256 dimensions up


def cosine(a: str, b: str, dims: int) -> float:
    return float(np.dot(embed(a, dims).astype(np.float64), embed(b, dims).astype(np.float64)))


def pair_id(pair: dict) -> str:
    return f"{pair['a'][:40]} | {pair['b'][:40]}"


# --- meaning ---------------------------------------------------------------------------------------


def test_fixture_is_big_enough():
    assert len(PAIRS["similar"]) >= 30
    assert len(PAIRS["unrelated"]) >= 30


@pytest.mark.parametrize("dims", FIXTURE_DIMS)
@pytest.mark.parametrize("pair", PAIRS["similar"], ids=pair_id)
def test_paraphrases_and_near_duplicates_are_close(pair, dims):
    assert cosine(pair["a"], pair["b"], dims) >= 0.9


@pytest.mark.parametrize("dims", FIXTURE_DIMS)
@pytest.mark.parametrize("pair", PAIRS["unrelated"], ids=pair_id)
def test_unrelated_texts_are_far(pair, dims):
    assert cosine(pair["a"], pair["b"], dims) <= 0.3


@pytest.mark.parametrize("dims", [1536, 3072])
@pytest.mark.parametrize("pair", PAIRS["limits"], ids=pair_id)
def test_documented_limits_still_hold(pair, dims):
    """The blind spots the module docstring admits to; if one stops holding, update the docstring."""
    score = cosine(pair["a"], pair["b"], dims)
    if pair["expect"] == "below":
        assert score < pair["threshold"], pair["why"]
    else:
        assert score > pair["threshold"], pair["why"]


def test_identical_text_is_identical_vector():
    assert cosine("How do I center a div in CSS?", "How do I center a div in CSS?", 1536) == pytest.approx(1.0, abs=1e-6)


def test_stopword_only_texts_still_compare_by_their_words():
    assert cosine("How are you?", "how are you", 1536) == pytest.approx(1.0, abs=1e-6)
    assert cosine("How are you?", "Where were they?", 1536) < 0.3


def test_lexicon_synonyms_are_not_swallowed_by_stopwords():
    swallowed = [word for group in SYNONYM_GROUPS for word in group if word in STOPWORDS]
    assert swallowed == []


# --- shape, norm, dimensions ----------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    ["", "   ", "???", "the of and", "What is the capital of France?", "a" * 5000, "日本の首都はどこですか", "naïve café"]
)
dims_values = st.sampled_from([1, 2, 8, 64, 256, 1024, 1536, 3072]) | st.integers(1, MAX_DIMS)


@settings(max_examples=300, deadline=None)
@given(text=texts, dims=dims_values)
def test_every_text_gets_a_finite_unit_float32_vector(text, dims):
    vector = embed(text, dims)
    assert vector.dtype == np.float32
    assert vector.shape == (dims,)
    assert np.all(np.isfinite(vector))
    assert np.linalg.norm(vector.astype(np.float64)) == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=100, deadline=None)
@given(text=texts, dims=st.integers(1, MAX_DIMS))
def test_smaller_dimensions_are_the_truncated_full_vector_renormalised(text, dims):
    """Like text-embedding-3's `dimensions`: first k components of the full vector, renormalised."""
    full = embed(text, MAX_DIMS).astype(np.float64)
    prefix = full[:dims] / np.linalg.norm(full[:dims])
    np.testing.assert_allclose(embed(text, dims), prefix, atol=2e-6)


@pytest.mark.parametrize("dims", [0, -1, MAX_DIMS + 1])
def test_out_of_range_dimensions_are_rejected_clearly(dims):
    with pytest.raises(ValueError, match=f"dims must be between 1 and {MAX_DIMS}"):
        embed("hello", dims)


@pytest.mark.parametrize("dims", [1.5, "8", True, None])
def test_non_integer_dimensions_are_rejected_clearly(dims):
    with pytest.raises(TypeError, match="dims must be an integer"):
        embed("hello", dims)


def test_non_string_text_is_rejected_clearly():
    with pytest.raises(TypeError, match="text must be a string, got int"):
        embed(42, 8)


def test_embed_many_stacks_rows_in_order():
    batch = ["first text about cats", "second text about rockets", ""]
    matrix = embed_many(batch, 64)
    assert matrix.shape == (3, 64) and matrix.dtype == np.float32
    for row, text in zip(matrix, batch):
        assert row.tobytes() == embed(text, 64).tobytes()
    assert embed_many([], 16).shape == (0, 16)
    with pytest.raises(TypeError, match="single string"):
        embed_many("not a list", 16)


# --- determinism ----------------------------------------------------------------------------------

# Pinned so that any change to hashing, table, lexicon or weights is noticed (and made on purpose).
PINNED = [
    ("What is the capital of France?", 1536, [0.028655, 0.07596, -0.031441, 0.027482]),
    ("", 8, [0.429738, 0.137991, -0.315476, -0.417754]),
    ("???", 3, [-0.81144, -0.137169, 0.568111]),
]


@pytest.mark.parametrize(("text", "dims", "expected"), PINNED)
def test_pinned_components(text, dims, expected):
    np.testing.assert_allclose(embed(text, dims)[: len(expected)], expected, atol=2e-6)


def test_pinned_token_surrogate():
    np.testing.assert_allclose(embed_tokens([9906, 1917], 1536)[:4], [0.024824, 0.035429, 0.005359, -0.003061], atol=2e-6)


def test_same_bytes_in_a_fresh_process_with_another_hash_seed():
    texts = ["What is the capital of France?", "naïve café ☕", "", "x" * 100]
    script = (
        "import sys, hashlib\n"
        "from aigw.mocks.embedder import embed\n"
        f"texts = {texts!r}\n"
        "print(hashlib.sha256(b''.join(embed(t, 1536).tobytes() for t in texts)).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    here = hashlib.sha256(b"".join(embed(t, 1536).tobytes() for t in texts)).hexdigest()
    assert out.stdout.strip() == here


def test_results_do_not_depend_on_cache_state():
    before = embed("Kubernetes pod stuck in CrashLoopBackOff", 512).tobytes()
    embedder._word_vector.cache_clear()
    embedder._term.cache_clear()
    assert embed("Kubernetes pod stuck in CrashLoopBackOff", 512).tobytes() == before


# --- wire format ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 7, 1536, 3072])
def test_base64_is_little_endian_float32_like_the_openai_client_decodes(dims):
    vector = embed("encode me", dims)
    encoded = to_base64(vector)
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 * dims
    assert np.frombuffer(raw, dtype="<f4").tobytes() == vector.tobytes()
    assert np.array_equal(from_base64(encoded), vector)


def test_base64_decodes_through_the_real_openai_client():
    """The openai client asks for base64 by default and decodes it itself; it must get our vector back."""
    openai = pytest.importorskip("openai")
    try:  # openai 3.x ships its HTTP client as httpx2; 1.x/2.x use httpx
        import httpx2 as httpx
    except ImportError:
        import httpx
    vector = embed("What is the capital of France?", 256)
    seen: list[dict] = []

    def backend(request):
        seen.append(json.loads(request.content))
        body = {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": to_base64(vector)}],
            "usage": {"prompt_tokens": 7, "total_tokens": 7},
        }
        return httpx.Response(200, json=body)

    client = openai.OpenAI(
        api_key="test", base_url="http://mock.test/v1", http_client=httpx.Client(transport=httpx.MockTransport(backend))
    )
    result = client.embeddings.create(model="text-embedding-3-small", input="What is the capital of France?")
    assert seen[0]["encoding_format"] == "base64"
    assert np.array_equal(np.asarray(result.data[0].embedding, dtype=np.float32), vector)


def test_base64_rejects_matrices_and_ragged_bytes():
    with pytest.raises(ValueError, match="1-D vector"):
        to_base64(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="whole number of float32s"):
        from_base64(base64.b64encode(b"12345").decode())


# --- token-array and mixed inputs -----------------------------------------------------------------


def test_token_arrays_decode_to_the_same_vector_as_their_text():
    from aigw.protocol.tokens import encoding_for_model

    encoding = encoding_for_model("text-embedding-3-small")
    text = "What is the capital of France?"
    tokens = encoding.encode(text)
    assert embed_tokens(tokens, 1536, encoding.decode).tobytes() == embed(text, 1536).tobytes()


def test_undecodable_token_ids_fall_back_to_the_surrogate():
    from aigw.protocol.tokens import encoding_for_model

    encoding = encoding_for_model("text-embedding-3-small")
    ids = [10**9, 5]
    assert embed_tokens(ids, 256, encoding.decode).tobytes() == embed_tokens(ids, 256).tobytes()


def test_token_surrogate_is_unit_and_similar_for_shared_ids():
    a = embed_tokens([101, 202, 303, 404, 505], 1536)
    b = embed_tokens([101, 202, 303, 404, 999], 1536)
    c = embed_tokens([7, 8, 9], 1536)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > 0.75
    assert abs(float(a @ c)) < 0.2
    assert np.linalg.norm(embed_tokens([], 8)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("bad", [[-1], [1.5], [True], ["3"]])
def test_bad_token_ids_are_rejected_clearly(bad):
    with pytest.raises(ValueError, match="token ids must be non-negative integers"):
        embed_tokens(bad, 8)


def test_embed_input_accepts_all_four_request_shapes():
    assert embed_input("one text", 32).shape == (1, 32)
    assert embed_input(["a text", "another text"], 32).shape == (2, 32)
    assert embed_input([1, 2, 3], 32).shape == (1, 32)
    assert embed_input([[1, 2], [3, 4], [5]], 32).shape == (3, 32)
    assert embed_input(["same"], 32).tobytes() == embed("same", 32).tobytes()


@pytest.mark.parametrize("bad", [[], ["text", 1], [[1], "text"], {"a": 1}, None, 3])
def test_embed_input_rejects_other_shapes_clearly(bad):
    with pytest.raises(ValueError, match="input"):
        embed_input(bad, 8)
