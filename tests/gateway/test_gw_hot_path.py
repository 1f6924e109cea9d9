"""The hot-path shortcuts (bench/gateway.py figures) give exactly the answers of the slow paths they replace."""

import uuid
from collections import OrderedDict
from urllib.parse import parse_qs

from hypothesis import given, strategies as st

from aigw.gateway import token_estimate
from aigw.gateway.context import parse_query
from aigw.protocol.ids import request_id
from aigw.protocol.tokens import count_chat_prompt

QUERY_BYTES = st.binary(max_size=40) | st.lists(st.sampled_from([b"a", b"b", b"=", b"&", b"%", b"+", b"41", b"\xe9", b";"]),
                                                max_size=12).map(b"".join)


@given(QUERY_BYTES)
def test_parse_query_is_parse_qs(raw):
    assert parse_query(raw) == parse_qs(raw.decode("latin-1"))


def test_parse_query_common_cases():
    assert parse_query(b"api-version=2024-10-21") == {"api-version": ["2024-10-21"]}
    assert parse_query(b"a=1&a=2&blank=&bare&=x") == {"a": ["1", "2"], "": ["x"]}
    assert parse_query(b"subscription-key=a%2Bb+c") == {"subscription-key": ["a+b c"]}


def test_request_ids_are_uuid4_strings():
    seen = set()
    for _ in range(2000):
        rid = request_id()
        parsed = uuid.UUID(rid)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, rid)
        seen.add(rid)
    assert len(seen) == 2000


def test_prompt_counts_are_memoised_by_body_bytes_and_bounded(monkeypatch):
    monkeypatch.setattr(token_estimate, "_memo", OrderedDict())
    monkeypatch.setattr(token_estimate, "MEMO_ENTRIES", 3)
    messages = [{"role": "user", "content": "Hello, how are you?"}]
    raw = b'{"messages":[{"role":"user","content":"Hello, how are you?"}]}'
    expected = count_chat_prompt(messages, "gpt-4o")
    assert token_estimate.prompt_tokens("chat", {"messages": messages}, "gpt-4o", raw) == expected
    # A second call with the same bytes is answered from the table (the parsed body is not even looked at).
    assert token_estimate.prompt_tokens("chat", None, "gpt-4o", raw) == expected
    # The model is part of the key: cl100k counts the same text separately.
    assert token_estimate.prompt_tokens("chat", {"messages": messages}, "gpt-4", raw) == count_chat_prompt(messages, "gpt-4")
    for i in range(5):
        body = {"messages": [{"role": "user", "content": f"message {i}"}]}
        token_estimate.prompt_tokens("chat", body, "gpt-4o", f'{{"i":{i}}}'.encode())
    assert len(token_estimate._memo) == 3  # first in, first out
    # Without raw bytes (or past the size bound) nothing is kept.
    token_estimate.prompt_tokens("chat", {"messages": messages}, "gpt-4o")
    big = b" " * (token_estimate.MEMO_MAX_BODY_BYTES + 1)
    token_estimate.prompt_tokens("chat", {"messages": messages}, "gpt-4o", big)
    assert all(key[2] != big for key in token_estimate._memo) and len(token_estimate._memo) == 3
