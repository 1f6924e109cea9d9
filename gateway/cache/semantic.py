"""The cache one ``llm-semantic-cache-lookup`` policy owns: an exact tier in the store, vectors per partition.

- **Answers** live in the gateway store (``kv_set`` with the ``duration`` as TTL) under a key made of the
  partition and a hash of the normalised prompt. That key *is* the exact-match tier: a repeated prompt is
  found with one ``kv_get`` before any embeddings call, and with a shared store every replica sees it.
- **Vectors** live in process, one ``VectorIndex`` per partition, each entry naming the answer's key. A
  semantic hit reads the answer from the store; if the store has dropped it, the lookup is a miss.
- A partition is (API, operation, deployment, answer-shaping parameters, vary-by values): an answer is
  never served across partitions, so two tenants partitioned by ``@(context.Subscription.Id)`` never see
  each other's answers, and a gpt-4o answer never answers a gpt-4o-mini request.
- An answer records the completion cap it was produced under (``max_completion_tokens`` / ``max_tokens``),
  its ``finish_reason`` and its completion tokens, and serves only requests it fully satisfies
  (``CachedAnswer.satisfies``): an answer cut short by a small cap is never served to a request that
  allows more, and a finished answer never to one that allows less than it used.
- **Bounds**: one byte budget (``max-bytes``) over answers and vectors of every partition, LRU-evicted
  (``ByteBudget``); what is evicted is deleted from the index and the store alike. Partitions are also
  bounded in number (the least recently used is dropped whole) and in entries.
- **Inserts** into a partition's graph index cost ~1 ms each, so they never happen on the request path:
  ``put`` queues the vector (searchable at once, exactly) and a background task indexes a few vectors
  at a time between requests (``_index_pending``).

Records carry their own expiry (from ``services.clock``, so tests can move time); the store's TTL only
reclaims memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np
import orjson

from aigw.gateway.cache.budget import ByteBudget
from aigw.gateway.cache.vector_index import Match, VectorIndex

KEY_PREFIX = "aigw:semcache:"
INDEX_BATCH = 4  # vectors indexed per turn of the event loop (~1 ms each)
log = logging.getLogger("aigw.gateway")
NATURAL_ENDS = frozenset({"stop"})


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    operation: str  # chat | completions
    body: bytes  # the JSON response body (a streamed answer is stored assembled)
    expires_at: float
    cap: int | None = None  # the completion cap of the request that produced it (None: uncapped)
    finish: str = "stop"  # its finish_reason
    completion_tokens: int = 0

    def satisfies(self, cap: int | None) -> bool:
        """Whether this answer is exactly what a request with completion cap ``cap`` would get: a finished
        answer fits any cap it does not exceed; one cut short by its cap answers only that same cap."""
        if self.finish in NATURAL_ENDS:
            return cap is None or self.completion_tokens <= cap
        return cap == self.cap

    def encode(self) -> bytes:
        meta = {"op": self.operation, "expires": self.expires_at, "cap": self.cap, "finish": self.finish,
                "tokens": self.completion_tokens}
        return orjson.dumps(meta) + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> "CachedAnswer | None":
        head, _, body = raw.partition(b"\n")
        try:
            meta = orjson.loads(head)
            cap = meta.get("cap")
            return cls(str(meta["op"]), body, float(meta["expires"]), int(cap) if cap is not None else None,
                       str(meta["finish"]), int(meta["tokens"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True, slots=True)
class Hit:
    answer: CachedAnswer
    tier: str  # exact | semantic
    distance: float


def partition_id(*parts: str) -> str:
    """A short stable id for a partition (its parts may be long or hold secrets such as keys)."""
    digest = hashlib.blake2b(orjson.dumps(parts), digest_size=12)
    return digest.hexdigest()


def answer_key(partition: str, normalized_prompt: str) -> str:
    digest = hashlib.blake2b(normalized_prompt.encode("utf-8"), digest_size=16, key=partition.encode()[:64])
    return f"{KEY_PREFIX}{partition}:{digest.hexdigest()}"


class SemanticCache:
    def __init__(self, store, clock: Callable[[], float], max_bytes: int = 256 * 2**20,
                 max_entries_per_partition: int = 100_000, max_partitions: int = 10_000) -> None:
        self.store, self.clock = store, clock
        self.max_entries, self.max_partitions = max_entries_per_partition, max_partitions
        self.budget = ByteBudget(max_bytes)
        self.partitions: OrderedDict[str, VectorIndex] = OrderedDict()
        self._indexer: asyncio.Task | None = None

    async def exact(self, key: str) -> Hit | None:
        answer = await self._answer(key)
        return Hit(answer, "exact", 0.0) if answer else None

    async def semantic(self, partition: str, vector: np.ndarray, max_distance: float) -> Hit | None:
        index = self.partitions.get(partition)
        if index is None:
            return None
        self.partitions.move_to_end(partition)
        match: Match | None = index.nearest(vector, max_distance, self.clock())
        if match is None:
            return None
        answer = await self._answer(match.key)
        if answer is None:  # the store dropped it (TTL, eviction): forget the vector too
            index.remove(match.key)
            self.budget.release(match.key, expired=True)
            return None
        return Hit(answer, "semantic", match.distance)

    async def put(self, partition: str, key: str, vector: np.ndarray | None, answer: CachedAnswer, duration: float) -> None:
        record = answer.encode()
        await self.store.kv_set(key, record, duration)
        index = None
        if vector is not None:
            index = self.partitions.get(partition)
            if index is None:
                while len(self.partitions) >= self.max_partitions:
                    await self._drop_partition(next(iter(self.partitions)))
                index = self.partitions[partition] = VectorIndex(len(vector))
            self.partitions.move_to_end(partition)
            if len(index) >= self.max_entries and key not in self.budget:
                oldest = next(iter(self.budget.keys_of(partition)), None)
                if oldest is not None:
                    await self._evict(oldest, partition)
            index.add(vector, key, answer.expires_at)
            self._schedule_indexing()
        nbytes = len(record) + len(key) + 200 + (index.vector_bytes if index is not None else 0)
        for evicted, where in self.budget.charge(key, partition, nbytes, answer.expires_at, self.clock()):
            await self._evict(evicted, where, charged=False)

    async def _evict(self, key: str, partition: str, charged: bool = True) -> None:
        if charged:
            self.budget.release(key)
            self.budget.evictions += 1
        index = self.partitions.get(partition)
        if index is not None:
            index.remove(key)
        await self.store.kv_delete(key)

    async def _drop_partition(self, partition: str) -> None:
        self.partitions.pop(partition, None)
        for key in self.budget.keys_of(partition):
            self.budget.release(key)
            self.budget.evictions += 1
            await self.store.kv_delete(key)

    async def _answer(self, key: str) -> CachedAnswer | None:
        raw = await self.store.kv_get(key)
        answer = CachedAnswer.decode(raw) if raw is not None else None
        if answer is None or answer.expires_at <= self.clock():
            return None
        self.budget.touch(key)
        return answer

    # -- indexing off the request path --------------------------------------------------------------
    def _schedule_indexing(self) -> None:
        if self._indexer is None or self._indexer.done():
            try:
                self._indexer = asyncio.get_running_loop().create_task(self._index_pending())
            except RuntimeError:  # no event loop (a unit test): index now
                self.index_all()

    async def _index_pending(self) -> None:
        while True:
            moved = 0
            for index in list(self.partitions.values()):
                if index.pending:
                    try:
                        moved += index.flush(INDEX_BATCH)
                    except Exception:  # an index that cannot take a vector keeps it in its exact buffer
                        log.exception("semantic cache: indexing failed")
                        return
                    await asyncio.sleep(0)  # let requests run between batches
            if not moved:
                return

    def index_all(self) -> None:
        """Index every pending vector now (benchmarks and tests; the gateway does it in the background)."""
        for index in self.partitions.values():
            while index.pending:
                index.flush(1024)

    async def close(self) -> None:
        if self._indexer is not None:
            self._indexer.cancel()
            await asyncio.gather(self._indexer, return_exceptions=True)

    def clear(self) -> None:
        """Forget every vector and byte charge (the admin reset: the answers live in the store, cleared there)."""
        self.partitions.clear()
        self.budget.clear()

    def stats(self) -> dict[str, int]:
        """For metrics: entries, bytes charged, budget, evictions, expirations, vectors awaiting the index."""
        return {"entries": len(self.budget), "bytes": self.budget.used, "max_bytes": self.budget.max_bytes,
                "evictions": self.budget.evictions, "expirations": self.budget.expirations,
                "pending": sum(index.pending for index in self.partitions.values()),
                "partitions": len(self.partitions)}

    def __len__(self) -> int:
        return sum(len(index) for index in self.partitions.values())
