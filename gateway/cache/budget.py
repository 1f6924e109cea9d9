"""One byte budget for everything the semantic cache holds, across all partitions: LRU and TTL eviction.

Why: bounding entries per partition bounds nothing overall — 100k entries × 10k partitions of 1536-d
vectors is ≈6 GB, and answers lived on in the store after their vector was evicted. Here every entry is
charged what it really holds (its answer record and its vector with graph links) against one
``max-bytes``; an insert that goes over evicts the least recently used entries — of any partition
(expired ones are dropped as lookups meet them, and are the least recently used anyway). The owner deletes what is
evicted from both the vector index and the store, so the two never disagree for long.

In-process bookkeeping (an ``OrderedDict`` in LRU order); with a shared store each gateway replica
budgets the entries it put.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class Charge:
    partition: str
    nbytes: int
    expires_at: float


class ByteBudget:
    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max-bytes must be positive")
        self.max_bytes = max_bytes
        self.used = 0
        self.evictions = 0  # by the budget (LRU)
        self.expirations = 0  # by TTL
        self._entries: OrderedDict[str, Charge] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every charge (the admin reset); evictions and expirations keep counting."""
        self._entries.clear()
        self.used = 0

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def charge(self, key: str, partition: str, nbytes: int, expires_at: float, now: float) -> list[tuple[str, str]]:
        """Account ``key`` (replacing an earlier charge); returns the ``(key, partition)`` pairs to evict."""
        self.release(key)
        self._entries[key] = Charge(partition, nbytes, expires_at)
        self.used += nbytes
        evicted: list[tuple[str, str]] = []
        while self.used > self.max_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))  # never ``key``: it was just moved to the end
            expired = self._entries[oldest].expires_at <= now
            evicted.append((oldest, self._drop(oldest)))
            self.expirations += expired
            self.evictions += not expired
        return evicted

    def touch(self, key: str) -> None:
        """``key`` was just served: it is the most recently used now."""
        if key in self._entries:
            self._entries.move_to_end(key)

    def release(self, key: str, expired: bool = False) -> str | None:
        """Forget ``key`` (deleted or found expired by the owner); returns its partition."""
        if key not in self._entries:
            return None
        self.expirations += expired
        return self._drop(key)

    def keys_of(self, partition: str) -> list[str]:
        return [key for key, charge in self._entries.items() if charge.partition == partition]

    def _drop(self, key: str) -> str:
        charge = self._entries.pop(key)
        self.used -= charge.nbytes
        return charge.partition
