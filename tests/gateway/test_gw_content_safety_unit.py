"""llm-content-safety without servers: configuration, text extraction, chunking to the service's limit."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw.gateway.app import GatewayApp
from aigw.gateway.config import GatewayConfig
from aigw.gateway.policies.content_safety import (
    MAX_TEXT, ContentSafety, completion_text, prompt_text, shield_payloads, split_text,
)


def policy_config(**attributes):
    return ContentSafety.Config.model_validate({"backend-id": "cs", **attributes})


def test_apim_shape_and_defaults():
    parsed = policy_config(**{"shield-prompt": True, "categories": {"category": [{"name": "Hate", "threshold": 4}]},
                              "blocklists": {"id": ["terms", "more"]}})
    assert parsed.categories.output_type == "FourSeverityLevels"
    assert parsed.blocklists == ["terms", "more"]
    assert parsed.fail_open is False
    shorthand = policy_config(categories=[{"name": "Violence", "threshold": 2}], blocklists="one")
    assert shorthand.categories.category[0].name == "Violence" and shorthand.blocklists == ["one"]


@pytest.mark.parametrize("attributes, message", [
    ({"categories": [{"name": "Hate", "threshold": 8}]}, "less than or equal to 7"),
    ({"categories": [{"name": "Spam", "threshold": 2}]}, "'Hate', 'SelfHarm', 'Sexual' or 'Violence'"),
    ({"categories": [{"name": "Hate", "threshold": 2}, {"name": "Hate", "threshold": 4}]}, "each category may appear once"),
    ({"categories": {"output-type": "TwoLevels", "category": [{"name": "Hate", "threshold": 2}]}}, "FourSeverityLevels"),
    ({}, "nothing to check"),
    ({"shield-prompt": True, "fail-closed": True}, "Extra inputs are not permitted"),
])
def test_bad_configs_say_why(attributes, message):
    with pytest.raises(ValueError, match=message):
        policy_config(**attributes)


def test_unknown_backend_is_reported_when_the_gateway_starts():
    config = GatewayConfig.model_validate({
        "backends": [{"id": "aoai", "url": "http://127.0.0.1:9/openai"}],
        "apis": [{"id": "aoai", "path": "/openai", "backend": "aoai", "policies": {"inbound": [
            {"llm-content-safety": {"backend-id": "missing", "shield-prompt": True}}]}}],
    })
    with pytest.raises(ValueError, match="backend-id 'missing' is not a configured backend; have: aoai"):
        GatewayApp(config)


def test_prompt_text_separates_user_text_and_tool_results():
    body = {"messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": [{"type": "text", "text": "Look this up"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "1", "content": "Search result"},
        {"role": "user", "content": "Thanks"},
    ]}
    user, documents, everything = prompt_text(body)
    assert user == "Look this up\nThanks"
    assert documents == ["Search result"]
    assert everything == "You are helpful.\nLook this up\nSearch result\nThanks"
    assert prompt_text({"prompt": ["a", "b"]}) == ("a\nb", [], "a\nb")
    assert prompt_text(None) == ("", [], "")


def test_completion_text_of_chat_and_legacy_answers():
    assert completion_text({"choices": [{"message": {"content": "one"}}, {"message": {"content": "two"}}]}) == "one\ntwo"
    assert completion_text({"choices": [{"text": "legacy"}]}) == "legacy"


words = st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=30), min_size=1, max_size=400)


@settings(max_examples=60, deadline=None)
@given(words=words, limit=st.integers(min_value=300, max_value=2000))
def test_chunks_fit_the_limit_cover_the_text_and_keep_words_whole(words, limit):
    text = " ".join(words)
    chunks = split_text(text, limit=limit, overlap=60)
    assert all(len(c) <= limit for c in chunks)
    # every word (shorter than the overlap) appears whole in some chunk
    for word in set(words):
        assert any(word in c for c in chunks)
    # each chunk starts `overlap` characters before the previous one ended; the last ends with the text
    assert text.startswith(chunks[0])
    end = len(chunks[0])
    for chunk in chunks[1:]:
        start = end - 60
        assert text[start: start + len(chunk)] == chunk
        end = start + len(chunk)
    assert end == len(text)


def test_a_term_on_a_cut_is_seen_whole():
    text = "a" * 9_990 + " explicit sex " + "b" * 5_000
    chunks = split_text(text)
    assert len(chunks) == 2 and all(len(c) <= MAX_TEXT for c in chunks)
    assert any("explicit sex" in c for c in chunks)


def test_text_without_whitespace_is_still_split():
    chunks = split_text("x" * 25_000)
    assert [len(c) for c in chunks] == [10_000, 10_000, 5_400]


def test_shield_payloads_stay_within_the_limit_and_carry_every_document():
    documents = ["d" * 6_000, "e" * 3_000, "f" * 12_000]
    payloads = shield_payloads("u" * 2_000, documents)
    assert all(len(p["userPrompt"]) + sum(map(len, p["documents"])) <= MAX_TEXT for p in payloads)
    assert payloads[0]["userPrompt"] == "u" * 2_000
    sent = "".join(d for p in payloads for d in p["documents"])
    assert sent.count("d") == 6_000 and sent.count("e") == 3_000 and sent.count("f") >= 12_000
    assert shield_payloads("", []) == []
    assert shield_payloads("hi", []) == [{"userPrompt": "hi", "documents": []}]


def test_the_example_config_wires_content_safety_and_token_metrics():
    from aigw.gateway.config import example_config_path, load_config
    from aigw.gateway.policies.emit_token_metric import EmitTokenMetric

    app = GatewayApp(load_config(example_config_path()))
    chain = app.chains.for_request("starter", "azure-openai", "chat")
    assert any(isinstance(p, ContentSafety) for p in chain.inbound)
    assert any(isinstance(p, EmitTokenMetric) for p in chain.inbound)
    assert app.services.metrics is not None and app.config.backend("content-safety").url.endswith("/contentsafety")
