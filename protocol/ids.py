"""Identifiers of the forms the real services use.

Request ids are random (uuid4, as Azure's apim-request-id is); completion ids are drawn from the
caller's random source so a seeded mock repeats them exactly.
"""

import binascii
import os
import random
import string

_ID_ALPHABET = string.ascii_letters + string.digits
_BASE64_TO_ALNUM = bytes.maketrans(b"+/=", b"xyz")


def request_id() -> str:
    """A fresh uuid4 string, formatted by hand: ``str(uuid.UUID(...))`` costs twice as much on a hot path
    that runs once per request (version nibble 4, RFC 4122 variant bits ``10``, as uuid4() sets them).

    The bits come from a generator seeded from ``os.urandom`` (and reseeded in a forked child), not from a
    system call per request: a request id must be unique, not secret."""
    h = f"{_id_bits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_ids = random.Random(os.urandom(32))
_id_bits = _ids.getrandbits
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def random_token(rng: random.Random, length: int = 29) -> str:
    """Alphanumeric suffix like OpenAI's (``chatcmpl-`` ids carry 29 such characters)."""
    return "".join(rng.choices(_ID_ALPHABET, k=length))


def token_from_bytes(digest: bytes, length: int = 29) -> str:
    """An alphanumeric token from digest bytes: the cheap way to give a seeded answer a stable id."""
    if len(digest) * 4 // 3 < length:
        raise ValueError(f"{len(digest)} bytes cannot make a {length}-character token")
    return binascii.b2a_base64(digest, newline=False).translate(_BASE64_TO_ALNUM)[:length].decode()


def chat_completion_id(rng: random.Random) -> str:
    return "chatcmpl-" + random_token(rng)


def completion_id(rng: random.Random) -> str:
    return "cmpl-" + random_token(rng)


def tool_call_id(rng: random.Random) -> str:
    return "call_" + random_token(rng, 24)


def system_fingerprint(seed: int) -> str:
    """Stable per backend seed, as a real fingerprint is stable per backend configuration."""
    return "fp_" + format(seed & 0xFFFFFFFFFF, "010x")
