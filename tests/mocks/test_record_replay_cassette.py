"""The cassette format: canonical keys, exact bodies, clear errors naming file:line, safe appends."""

import base64

import orjson
import pytest

from aigw.mocks.cassette import (
    CassetteError,
    CassetteWriter,
    Rules,
    body_fields,
    load,
    session_record,
)
from aigw.mocks.replayer import Replayer

RULES = Rules()


def exchange_line(number: int, **response) -> bytes:
    record = {"type": "exchange", "id": number, "recorded": "2025-01-01T00:00:00Z", "key": "k",
              "request": {"method": "POST", "path": "/v1/chat/completions", "json": {"model": "gpt-4o", "n": number}},
              "response": {"status": 200, "headers": {"content-type": "application/json"}, "ms": 1.0, "json": {"n": number},
                           **response}}
    return orjson.dumps(record) + b"\n"


def header_line(**changes) -> bytes:
    return orjson.dumps({**session_record("http://upstream", RULES), **changes}) + b"\n"


def test_key_ignores_json_key_order_whitespace_and_query_order():
    a = RULES.key("post", "/v1/chat/completions", "b=2&a=1", b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}')
    b = RULES.key("POST", "/v1/chat/completions", "a=1&b=2", b'{"messages":[{"content":"x","role":"user"}],"model":"gpt-4o"}')
    assert a == b == 'POST /v1/chat/completions?a=1&b=2 {"messages":[{"content":"x","role":"user"}],"model":"gpt-4o"}'


def test_key_leaves_out_secrets_ignored_and_redacted_fields_at_any_depth():
    rules = Rules(ignore_fields=("seed", "metadata.trace"), redact_fields=("user",))
    key = rules.key("POST", "/x", "api-key=SECRET&subscription-key=S2&api-version=1&seed=3",
                    {"seed": 7, "user": "u", "metadata": {"trace": "t", "keep": 1}, "n": 1})
    assert key == 'POST /x?api-version=1 {"metadata":{"keep":1},"n":1}'
    assert "SECRET" not in key


def test_key_of_a_parsed_body_does_not_change_the_body():
    body = {"seed": 1, "n": 2}
    Rules(ignore_fields=("seed",)).key("POST", "/x", "", body)
    assert body == {"seed": 1, "n": 2}


def test_key_of_non_json_and_empty_bodies_and_paths_with_spaces():
    assert RULES.key("POST", "/a b", "", b"not json") == "POST /a%20b not json"
    assert RULES.key("GET", "/v1/models", "", b"") == "GET /v1/models"


@pytest.mark.parametrize("raw, form", [
    (b'{"a":1,"b":[true,null]}', "json"),
    (b'{"a": 1}', "text"),  # the upstream's spacing would be lost by re-serialising: kept as text
    (b'{"a":1.50}', "text"),
    ("caf\u00e9".encode(), "text"),
    (b"\xff\xfe\x00", "base64"),
    (b"", None),
])
def test_bodies_are_stored_readably_but_always_byte_exact(raw, form):
    fields = body_fields(raw)
    assert list(fields) == ([form] if form else [])
    from aigw.mocks.cassette import RecordedResponse

    assert RecordedResponse.model_validate({"status": 200, "ms": 0, **fields}).raw() == raw


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CassetteError, match=r"nope\.jsonl: no such cassette file"):
        load(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("content, expected", [
    (b"", r"bad\.jsonl:1: empty cassette"),
    (b'{"hello": 1}\n', r"bad\.jsonl:1: not an aigw cassette: the first line must be"),
    (b"[1, 2]\n", r"bad\.jsonl:1: each line must be a JSON object, got list"),
    (header_line(version=2), r"bad\.jsonl:1: cassette format version 2 is not supported \(this aigw reads version 1\)"),
    (header_line(format="vcr"), r"bad\.jsonl:1: not an aigw cassette: format is 'vcr'"),
    (header_line() + exchange_line(1) + b"{oops\n" + exchange_line(2), r"bad\.jsonl:3: not valid JSON"),
    (header_line() + exchange_line(1, status="fine"), r"bad\.jsonl:2: response\.status: Input should be a valid integer"),
    (header_line() + exchange_line(1, base64="***"), r"bad\.jsonl:2: response: a body has exactly one of json, text, base64"),
    (header_line() + b'{"type": "tape"}\n', r"bad\.jsonl:2: unknown record type 'tape'"),
    (header_line() + exchange_line(1, chunks=[{"ms": 1, "base64": "!!"}]),
     r"bad\.jsonl:2: response\.chunks\[0\]: base64 is not valid base64"),
    (header_line() + exchange_line(1, chunks=[{"ms": 1, "text": "data: x\n\n"}]),
     r"bad\.jsonl:2: response: a streamed response has chunks and no json, text or base64 body"),
])
def test_bad_cassettes_are_clear_errors_naming_file_and_line(tmp_path, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(CassetteError, match=expected):
        load(path)


def test_an_unfinished_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "torn.jsonl"
    path.write_bytes(header_line() + exchange_line(1) + exchange_line(2)[:40])
    cassette = load(path)
    assert [e.id for e in cassette.exchanges] == [1]
    assert cassette.warnings == [f"{path}:3: ignoring an unfinished last line (the recorder stopped while writing it)"]


def test_appending_continues_ids_adds_a_session_and_cuts_a_torn_tail(tmp_path):
    path = tmp_path / "tape.jsonl"
    path.write_bytes(header_line() + exchange_line(1) + exchange_line(2)[:30])
    writer = CassetteWriter(path, "http://second", Rules(ignore_fields=("seed",)))
    assert writer.take_id() == 2
    writer.write(orjson.loads(exchange_line(2)))
    writer.close()
    cassette = load(path)
    assert [s.upstream for s in cassette.sessions] == ["http://upstream", "http://second"]
    assert [e.id for e in cassette.exchanges] == [1, 2] and cassette.warnings == []
    assert cassette.rules.ignore_fields == ("seed",)


def test_the_recorder_refuses_to_append_to_a_file_that_is_not_a_cassette(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    with pytest.raises(CassetteError, match=r"notes\.txt:1: not valid JSON"):
        CassetteWriter(path, "http://upstream", RULES)
    assert path.read_text() == "my notes\n"


def test_a_miss_on_an_empty_cassette_says_so(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(header_line())
    replayer = Replayer(load(path), fallback=None)
    message = replayer.miss_body("GET /v1/models")["error"]["message"]
    assert "Request key: GET /v1/models." in message and "holds no exchanges" in message


def test_nearest_prefers_the_most_similar_key_and_names_the_differing_fields(tmp_path):
    path = tmp_path / "near.jsonl"
    lines = [header_line()]
    for number, content in enumerate(["Tell me about cats", "Tell me about dogs", "Completely different"], start=1):
        record = orjson.loads(exchange_line(number))
        record["request"]["json"] = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "max_tokens": 5}
        lines.append(orjson.dumps(record) + b"\n")
    path.write_bytes(b"".join(lines))
    replayer = Replayer(load(path), fallback=None)
    asked = RULES.key("POST", "/v1/chat/completions", "", {"model": "gpt-4o", "max_tokens": 6,
                                                           "messages": [{"role": "user", "content": "Tell me about dogz"}]})
    candidate, ratio = replayer.nearest(asked)
    assert '"content":"Tell me about dogs"' in candidate and 0.9 < ratio < 1
    assert "differs in: max_tokens, messages)" in replayer.miss_body(asked)["error"]["message"]


def test_chunks_split_inside_a_character_survive_as_base64():
    from aigw.mocks.cassette import Chunk, chunk_fields

    raw = "é".encode()[:1]
    fields = chunk_fields(raw)
    assert fields == {"base64": base64.b64encode(raw).decode()}
    assert Chunk.model_validate({"ms": 1, **fields}).raw() == raw
