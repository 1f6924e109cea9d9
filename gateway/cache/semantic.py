"""The cache one ``llm-semantic-cache-lookup`` policy owns: an exact tier in the store, vectors per partition.

- **Answers** live in the gateway store (``kv_set`` with the ``duration`` as TTL) under a key made of the
  partition and a hash of the normalised prompt. That key *is* the exact-match tier: a repeated prompt is
  found with one ``kv_get`` before any embeddings call, and with a shared store every replica sees it.
- **Vectors** live in process, one ``VectorIndex`` per partition, each entry naming the answer's key. A
  semantic hit reads the answer from the store; if the store has dropped it, the lookup is a miss.
- A partition is (API, operation, deployment, answer-shaping parameters, vary-by values): an answer is
  never served across partitions, so two tenants partitioned by ``@(context.Subscription.Id)`` never see
  each other's answers, and a gpt-4o answer never answers a gpt-4o-mini request.

Records carry their own expiry (from ``services.clock``, so tests can move time); the store's TTL only
reclaims memory. Partitions are bounded in number (least recently used dropped) and in size.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np
import orjson

from aigw.gateway.cache.vector_index import Match, VectorIndex

KEY_PREFIX = "aigw:semcache:"


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    operation: str  # chat | completions
    body: bytes  # the JSON response body (a streamed answer is stored assembled)
    expires_at: float

    def encode(self) -> bytes:
        return orjson.dumps({"op": self.operation, "expires": self.expires_at}) + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> "CachedAnswer | None":
        head, _, body = raw.partition(b"\n")
        try:
            meta = orjson.loads(head)
            return cls(str(meta["op"]), body, float(meta["expires"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
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
    def __init__(self, store, clock: Callable[[], float], max_entries_per_partition: int = 100_000,
                 max_partitions: int = 10_000, cell_rows: int = 512) -> None:
        self.store, self.clock = store, clock
        self.max_entries, self.max_partitions, self.cell_rows = max_entries_per_partition, max_partitions, cell_rows
        self.partitions: OrderedDict[str, VectorIndex] = OrderedDict()

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
            return None
        return Hit(answer, "semantic", match.distance)

    async def put(self, partition: str, key: str, vector: np.ndarray | None, operation: str, body: bytes,
                  duration: float) -> None:
        now = self.clock()
        answer = CachedAnswer(operation, body, now + duration)
        await self.store.kv_set(key, answer.encode(), duration)
        if vector is None:
            return
        index = self.partitions.get(partition)
        if index is None:
            while len(self.partitions) >= self.max_partitions:
                self.partitions.popitem(last=False)
            index = self.partitions[partition] = VectorIndex(len(vector), self.max_entries, self.cell_rows)
        self.partitions.move_to_end(partition)
        index.add(vector, key, answer.expires_at, now)

    async def _answer(self, key: str) -> CachedAnswer | None:
        raw = await self.store.kv_get(key)
        answer = CachedAnswer.decode(raw) if raw is not None else None
        if answer is None or answer.expires_at <= self.clock():
            return None
        return answer

    def __len__(self) -> int:
        return sum(len(index) for index in self.partitions.values())
