"""The semantic cache's parts without HTTP: vector index tiers, answer store, stream replay, prompt rules."""

import asyncio
import json

import numpy as np
import pytest

from aigw.gateway.cache.replay import StreamAssembler, replay
from aigw.gateway.cache.semantic import CachedAnswer, SemanticCache, answer_key, partition_id
from aigw.gateway.cache.vector_index import VectorIndex
from aigw.gateway.config import GatewayConfig
from aigw.gateway.policies.semantic_cache import SemanticCacheLookup, cacheable_prompt
from aigw.gateway.services import Services
from aigw.gateway.store import MemoryStore
from aigw.protocol.spec import check
from aigw.protocol.sse import SSEDecoder

DIMS = 64


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def near(vector, rng, distance=0.02):
    """A unit vector at about ``distance`` (cosine) from ``vector``."""
    noise = rng.standard_normal(vector.shape).astype(np.float32)
    noise -= noise.dot(vector) * vector
    noise /= np.linalg.norm(noise)
    cos = 1 - distance
    return unit(vector * cos + noise * np.sqrt(1 - cos * cos))


def test_new_entries_are_found_exactly_before_and_after_entering_the_graph():
    rng = np.random.default_rng(1)
    stored = unit(rng.standard_normal((300, DIMS)))
    index = VectorIndex(DIMS)
    for row, vector in enumerate(stored):
        index.add(vector, f"k{row}", expires_at=100.0)
    assert len(index) == 300 and index.pending == 300  # nothing indexed on the request path
    for moved in (0, 120, 180):  # all pending (exact), part in the graph, all in the graph
        index.flush(moved)
        for row in (0, 17, 299):
            query = near(stored[row], rng, 0.03)
            match = index.nearest(query, 0.05, now=1.0)
            assert match.key == f"k{row}"
            assert match.distance == pytest.approx(1 - float(stored[row] @ query), abs=0.01)  # int8 in the graph
        assert index.nearest(unit(rng.standard_normal(DIMS)), 0.05, now=1.0) is None  # unrelated: a miss
        assert index.nearest(near(stored[5], rng, 0.15), 0.05, now=1.0) is None  # too far for the threshold
    assert index.pending == 0


def test_expired_and_removed_entries_are_skipped_and_dropped():
    rng = np.random.default_rng(2)
    a = unit(rng.standard_normal(DIMS))
    index = VectorIndex(DIMS)
    index.add(a, "old", expires_at=10.0)
    index.add(near(a, rng, 0.01), "young", expires_at=50.0)
    index.flush(1)  # one in the graph, one pending
    assert index.nearest(a, 0.05, now=5.0).key == "old"
    assert index.nearest(a, 0.05, now=20.0).key == "young"  # the expired one is passed over...
    assert len(index) == 1  # ...and dropped
    assert index.nearest(a, 0.05, now=60.0) is None and len(index) == 0
    index.add(a, "again", expires_at=100.0)
    index.flush(10)
    index.remove("again")
    assert index.nearest(a, 0.05, now=1.0) is None and len(index) == 0
    index.add(a, "k", expires_at=100.0)
    index.add(a, "k", expires_at=500.0)  # same key again: only the expiry changes
    assert len(index) == 1 and index.nearest(a, 0.01, now=200.0).key == "k"


def test_a_large_graph_finds_near_duplicates_and_no_unrelated_vectors():
    rng = np.random.default_rng(4)
    stored = unit(rng.standard_normal((3000, DIMS)))
    index = VectorIndex(DIMS)
    for row, vector in enumerate(stored):
        index.add(vector, f"k{row}", expires_at=100.0)
    while index.pending:
        index.flush(500)
    rows = range(0, 3000, 11)
    found = [index.nearest(near(stored[row], rng, 0.02), 0.05, now=1.0) for row in rows]
    assert sum(m is not None and m.key == f"k{row}" for m, row in zip(found, rows)) >= 0.97 * len(found)
    assert all(index.nearest(unit(rng.standard_normal(DIMS)), 0.05, now=1.0) is None for _ in range(20))


def _answer(body: bytes = b'{"x":1}', expires: float = 1030.0, **fields) -> CachedAnswer:
    return CachedAnswer("chat", body, expires, **fields)


def test_answers_carry_their_expiry_and_partition_keys_differ():
    async def scenario():
        clock = [1000.0]
        cache = SemanticCache(MemoryStore(), clock=lambda: clock[0])
        key = answer_key(partition_id("api", "chat", "gpt-4o", "tenant-a"), "hello")
        assert key != answer_key(partition_id("api", "chat", "gpt-4o", "tenant-b"), "hello")
        await cache.put("p", key, None, _answer(), 30)  # no vector: exact tier only
        hit = await cache.exact(key)
        assert hit.tier == "exact" and hit.answer.body == b'{"x":1}' and "p" not in cache.partitions
        clock[0] += 31
        assert await cache.exact(key) is None
        assert CachedAnswer.decode(b"garbage") is None

    asyncio.run(scenario())


def test_an_answer_serves_only_requests_it_fully_satisfies():
    finished = _answer(cap=100, finish="stop", completion_tokens=40)
    assert finished.satisfies(None) and finished.satisfies(40) and finished.satisfies(10**9)
    assert not finished.satisfies(39)  # it used more than this request allows
    cut = _answer(cap=16, finish="length", completion_tokens=16)
    assert cut.satisfies(16)
    assert not cut.satisfies(None) and not cut.satisfies(17) and not cut.satisfies(10**9) and not cut.satisfies(8)
    assert CachedAnswer.decode(cut.encode()) == cut


def test_one_byte_budget_bounds_answers_and_vectors_across_partitions():
    async def scenario():
        store = MemoryStore()
        cache = SemanticCache(store, clock=lambda: 1000.0, max_bytes=64 * 1024)
        rng = np.random.default_rng(5)
        body = b"x" * 1000
        keys = []
        for row in range(200):  # 200 × ~1.6 kB, over four partitions: far over 64 kB
            key, partition = f"k{row}", f"p{row % 4}"
            await cache.put(partition, key, unit(rng.standard_normal(DIMS)), _answer(body, 5000.0), 3600)
            keys.append(key)
        stats = cache.stats()
        assert stats["bytes"] <= 64 * 1024 and stats["evictions"] > 100 and stats["entries"] == len(cache)
        survivors = [k for k in keys if await store.kv_get(k) is not None]
        assert len(survivors) == stats["entries"] and survivors == keys[-len(survivors):]  # the least recent went
        assert sum(len(index) for index in cache.partitions.values()) == len(survivors)  # vectors went with them
        await cache.exact(survivors[0])  # a hit makes it the most recently used...
        await cache.put("p0", "new", unit(rng.standard_normal(DIMS)), _answer(body, 5000.0), 3600)
        assert await store.kv_get(survivors[0]) is not None and await store.kv_get(survivors[1]) is None  # ...so it stays
        await cache.close()

    asyncio.run(scenario())


def test_vectors_are_indexed_in_the_background_not_on_put():
    async def scenario():
        cache = SemanticCache(MemoryStore(), clock=lambda: 1000.0)
        rng = np.random.default_rng(6)
        vectors = unit(rng.standard_normal((40, DIMS)))
        for row, vector in enumerate(vectors):
            await cache.put("p", f"k{row}", vector, _answer(expires=5000.0), 3600)
        assert cache.stats()["pending"] == 40  # put only queued them (each is found exactly meanwhile)
        assert (await cache.semantic("p", vectors[7], 0.01)).answer.body == b'{"x":1}'
        for _ in range(100):
            if not cache.stats()["pending"]:
                break
            await asyncio.sleep(0)
        assert cache.stats()["pending"] == 0 and (await cache.semantic("p", vectors[7], 0.02)) is not None
        await cache.close()

    asyncio.run(scenario())


ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris is the capital of France.",
                                               "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}}


def collect(response) -> list[str]:
    async def read():
        return b"".join([chunk async for chunk in response.stream])

    decoder = SSEDecoder()
    decoder.feed(asyncio.run(read()))
    return [event.data for event in decoder.events]


@pytest.mark.parametrize("include_usage", [False, True])
def test_replayed_chat_stream_is_well_formed(include_usage):
    response = replay("chat", json.dumps(ANSWER).encode(), stream=True, include_usage=include_usage)
    assert response.source == "cache" and response.header("content-type").startswith("text/event-stream")
    datas = collect(response)
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert all(check("chat-completion-chunk", c) == [] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ANSWER["choices"][0]["message"]["content"]
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "stop"
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == ANSWER["usage"]
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)


def test_replayed_completion_stream_and_assembly_round_trip():
    answer = {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "gpt-35-turbo-instruct",
              "choices": [{"index": 0, "text": " once upon a time", "logprobs": None, "finish_reason": "length"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    chunks = [json.loads(d) for d in collect(replay("completions", json.dumps(answer).encode(), True, True))[:-1]]
    assert all(check("completion-chunk", c) == [] for c in chunks)
    assembler = StreamAssembler("completions")
    for chunk in chunks:
        assembler.observe(None, chunk)
    assert json.loads(assembler.body({})) == answer


def test_assembler_refuses_tool_calls_and_unfinished_streams():
    tool = StreamAssembler("chat")
    tool.observe(None, {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}, "finish_reason": None}]})
    tool.observe(None, {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    assert tool.body({}) is None
    cut = StreamAssembler("chat")
    cut.observe(None, {"id": "c", "choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": None}]})
    assert cut.body({}) is None


def test_prompt_rules():
    chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi  THERE"}]}
    kept, ignored = cacheable_prompt(chat, "chat", False), cacheable_prompt(chat, "chat", True)
    assert kept.count == 2 and ignored.count == 1 and ignored.text == "Hi  THERE"
    assert ignored.normalized == cacheable_prompt({"messages": [{"role": "user", "content": "hi there"}]}, "chat", True).normalized
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}
    assert cacheable_prompt(parts, "chat", False).text == "a\nb"
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert cacheable_prompt(image, "chat", False) is None
    assert cacheable_prompt({**chat, "n": 2}, "chat", False) is None
    assert cacheable_prompt({**chat, "logprobs": True}, "chat", False) is None
    assert cacheable_prompt({"prompt": ["one"]}, "completions", False).text == "one"
    assert cacheable_prompt({"prompt": ["one", "two"]}, "completions", False) is None
    assert cacheable_prompt({"prompt": [1, 2, 3]}, "completions", False) is None
    only_system = {"messages": [{"role": "system", "content": "x"}]}
    assert cacheable_prompt(only_system, "chat", True) is None


def _config(**lookup):
    return GatewayConfig.model_validate({
        "backends": [{"id": "aoai", "url": "http://127.0.0.1:9/openai"},
                     {"id": "emb", "url": "http://127.0.0.1:9/openai/deployments/text-embedding-3-small/embeddings"}],
        "apis": [{"id": "a", "path": "/openai", "backend": "aoai",
                  "policies": {"inbound": [{"llm-semantic-cache-lookup": {"score-threshold": 0.05, **lookup}}]}}],
    })


def test_config_errors_are_specific():
    with pytest.raises(ValueError, match="score_threshold|score-threshold"):
        _config(**{"embeddings-backend-id": "emb", "score-threshold": 1.5})
    with pytest.raises(ValueError, match="unsupported expression term"):
        _config(**{"embeddings-backend-id": "emb", "vary-by": ["@(context.Nope)"]})
    config = _config(**{"embeddings-backend-id": "missing"})
    entry = config.apis[0].policies.inbound[0]
    with pytest.raises(ValueError, match="embeddings-backend-id 'missing' is not a configured backend"):
        SemanticCacheLookup(entry.config, Services.create(config))
    config = _config(**{"embeddings-backend-id": "aoai"})  # an Azure root URL needs the deployment named
    entry = config.apis[0].policies.inbound[0]
    with pytest.raises(ValueError, match="set embeddings-deployment"):
        SemanticCacheLookup(entry.config, Services.create(config))
    config = _config(**{"embeddings-backend-id": "aoai", "embeddings-deployment": "text-embedding-3-small",
                        "vary-by": "@(context.Subscription.Id)"})
    policy = SemanticCacheLookup(config.apis[0].policies.inbound[0].config, Services.create(config))
    assert policy.embeddings._target("http://h/openai") == (
        "http://h/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21", {})
    assert policy.embeddings._target("http://h/v1") == ("http://h/v1/embeddings", {"model": "text-embedding-3-small"})
    assert policy.embeddings._target("http://h/openai/deployments/e/embeddings")[0] == \
        "http://h/openai/deployments/e/embeddings?api-version=2024-10-21"
    assert len(policy.vary_by) == 1
