"""caching: a semantic cache in front of the model answers repeats and paraphrases, and nothing else.

How a hit is seen: a hit must not reach the backend, so with ``--mock-admin`` the chat deployment's
request counters of every mock behind the target are compared before and after (the only
vendor-neutral evidence — the mock is deterministic, so identical content proves nothing). Without
mock admins a cache status header (``x-aigw-cache``, ``x-cache``, ``x-cache-status``) is used; with
neither the checks are not applicable.

Every prompt carries a word made up for this run (``prompts.fresh_word``): a target that lives across runs
has never seen it, so "must miss" checks start from an empty cache and paraphrases still share every
content word but the one the paraphrase changes.
"""

from __future__ import annotations

import time

import pytest

from aigw.contract_tests.prompts import chat as _chat, fresh_word
from aigw.contract_tests.stream_checks import analyse_stream, message_of

CACHE_HEADERS = ("x-aigw-cache", "x-cache", "x-cache-status", "cache-status")
PARAPHRASES = (("What is the capital of France?", "Tell me the capital city of France"),
               ("How do I reset my password?", "What is the way to reset my password?"))
EXPIRY_BUDGET_S = 15.0  # longer declared durations are not waited for


class CacheProbe:
    """Says whether an answer came from the cache, by backend counters or a cache header."""

    def __init__(self, target) -> None:
        self.target = target
        self.admins = target.mock_admins
        if not self.admins:
            probe = target.post("chat", _chat(f"cache probe {fresh_word()}"))
            if not any(probe.header(name) for name in CACHE_HEADERS):
                pytest.skip("not applicable: cache hits cannot be observed (give --mock-admin for the mocks behind the "
                            f"target, or answer with one of the headers {', '.join(CACHE_HEADERS)})")

    def backend_requests(self) -> int:
        total = 0
        for admin in self.admins:
            counters = admin.counters()["deployments"].get(self.target.deployment) or {}
            total += counters.get("requests", 0)
        return total

    def send(self, body: dict, *, key_index: int = 0, stream: bool = False):
        """(exchange, hit) for one request."""
        before = self.backend_requests() if self.admins else 0
        exchange = self.target.post("chat", body, key_index=key_index, stream=stream)
        assert exchange.status == 200, f"a cacheable chat request got {exchange.status}: {exchange.body[:300]!r}"
        if self.admins:
            return exchange, self.backend_requests() == before
        status = next((exchange.header(n) for n in CACHE_HEADERS if exchange.header(n)), "") or ""
        return exchange, status.strip().lower().startswith("hit")


@pytest.mark.aigw(group="caching", needs=("caching",))
def test_repeat_and_paraphrase_hit(aigw_target):
    probe = CacheProbe(aigw_target)
    for original, paraphrase in PARAPHRASES:
        word = fresh_word()
        first, hit = probe.send(_chat(f"{original} {word}"))
        assert not hit, f"the first request of a prompt never seen before was answered from the cache: {original} {word}"
        repeat, hit = probe.send(_chat(f"{original} {word}"))
        assert hit, f"a repeated prompt was not served from the cache: {original!r}"
        assert message_of(repeat.json()) == message_of(first.json()), "a cache hit answered differently from the stored answer"
        similar, hit = probe.send(_chat(f"{paraphrase} {word}"))
        assert hit, f"a paraphrase ({paraphrase!r} after {original!r}) was not served from the cache"
        assert message_of(similar.json()) == message_of(first.json()), "a paraphrase hit is not the stored answer"


@pytest.mark.aigw(group="caching", needs=("caching",))
def test_unrelated_prompt_misses(aigw_target):
    probe = CacheProbe(aigw_target)
    word = fresh_word()
    probe.send(_chat(f"What is the capital of France? {word}"))
    for text in (f"Suggest a name for a blue teapot {word}", f"What is the capital of France? {fresh_word()}",
                 f"Explain how photosynthesis works in plants {word}"):
        _, hit = probe.send(_chat(text))
        assert not hit, f"an unrelated prompt {text!r} was answered from the cache (stored for another question)"


@pytest.mark.aigw(group="caching", needs=("caching",))
def test_tenants_never_share_cached_answers(aigw_target):
    """Tenant B asking what tenant A asked must not get A's cached answer (vary-by the subscription)."""
    if len(aigw_target.api_keys) < 2:
        pytest.skip("not applicable: isolation needs a second tenant's key (repeat --api-key)")
    probe = CacheProbe(aigw_target)
    text = f"What is the capital of France? {fresh_word()}"
    probe.send(_chat(text), key_index=0)
    _, hit = probe.send(_chat(text), key_index=0)
    assert hit, "the repeated prompt was not cached for tenant A, so isolation cannot be judged"
    _, hit = probe.send(_chat(text), key_index=1)
    assert not hit, "tenant B got tenant A's cached answer: the cache is not partitioned by subscription"
    _, hit = probe.send(_chat(text), key_index=1)
    assert hit, "tenant B's own repeat was not served from tenant B's cache"


@pytest.mark.aigw(group="caching", needs=("caching", "streaming"))
@pytest.mark.parametrize("stored_as", ["json", "stream"])
def test_streaming_hit_is_a_valid_stream(aigw_target, stored_as):
    """A hit for a streaming request replays the answer as a valid event stream with the same content."""
    probe = CacheProbe(aigw_target)
    body = _chat(f"Describe the Eiffel Tower in one sentence {fresh_word()}")
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    first, hit = probe.send(streamed if stored_as == "stream" else body, stream=stored_as == "stream")
    assert not hit, "a never-seen prompt was answered from the cache"
    if stored_as == "stream":
        problems, assembled = analyse_stream(first, "chat", include_usage=True)
        assert not problems, "the stream that fills the cache is invalid:\n- " + "\n- ".join(problems)
        expected = assembled.content
    else:
        expected = message_of(first.json())[0]
    for include_usage in (True, False):
        request = {**body, "stream": True, "stream_options": {"include_usage": include_usage}}
        replay, hit = probe.send(request, stream=True)
        assert hit, f"a streamed repeat of a cached prompt (stored from {stored_as}) was not served from the cache"
        problems, assembled = analyse_stream(replay, "chat", include_usage=include_usage)
        assert not problems, "a cache hit replayed as a stream breaks the stream contract:\n- " + "\n- ".join(problems)
        assert assembled.content == expected, f"the replayed stream says {assembled.content!r}, the stored answer {expected!r}"


@pytest.mark.aigw(group="caching", needs=("caching",))
def test_hit_respects_the_requests_completion_cap(aigw_target):
    """A cached answer may serve a repeat only within the repeat's own max_tokens."""
    probe = CacheProbe(aigw_target)
    text = f"Write a short poem about autumn leaves {fresh_word()}"
    probe.send(_chat(text, max_tokens=40))
    answer, _ = probe.send(_chat(text, max_tokens=3))
    usage = answer.json().get("usage") or {}
    assert usage.get("completion_tokens", 0) <= 3, (
        f"max_tokens 3 was answered with {usage.get('completion_tokens')} completion tokens (a cached answer to the "
        "same prompt with a larger max_tokens was replayed)")


@pytest.mark.aigw(group="caching", needs=("caching",))
def test_cached_answers_expire(aigw_target):
    duration = getattr(aigw_target.capabilities, "cache_ttl_s", None)
    if not duration or duration > EXPIRY_BUDGET_S:
        pytest.skip(f"not applicable: no cache duration of at most {EXPIRY_BUDGET_S:.0f} s declared (cache_ttl_s)")
    probe = CacheProbe(aigw_target)
    body = _chat(f"Name a famous bridge {fresh_word()}")
    probe.send(body)
    _, hit = probe.send(body)
    assert hit, "a repeated prompt was not served from the cache"
    time.sleep(duration + 1.0)
    _, hit = probe.send(body)
    assert not hit, f"an answer was still served from the cache after its declared duration of {duration} s"
