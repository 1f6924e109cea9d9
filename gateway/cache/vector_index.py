"""Nearest-neighbour lookup for one cache partition: an HNSW graph (usearch) plus a small exact buffer.

Why not brute force: a lookup over one matrix reads every vector, so it is memory-bandwidth bound
(measured: ~2.9 ms at 10k and ~32 ms at 100k 1536-d entries on one core, facts file §5). Why not the
inverted file this module used to be: on the mock's own embeddings of realistic prompts (bags of
content words: many vectors share a few words, so 2-means finds nothing to split) its cells stopped
splitting and grew, and a lookup cost 52 ms of CPU at ≈8,400 entries. A graph index does not depend
on the data splitting well: usearch's HNSW answers in well under a millisecond at 100k entries
(``bench/semantic_cache.py`` measures it beside brute force, on the mock's embeddings).

The catch is the insert: ~1 ms per 1536-d vector, holding the GIL (usearch's Python binding neither
releases it nor supports concurrent add and search, so a worker thread is no way out). So inserts stay
off the request path: ``add`` only appends the vector to an exact *pending* buffer (searched by brute
force, so a new entry is found at once), and ``flush(n)`` moves up to ``n`` pending vectors into the
graph — the owner (``SemanticCache``) calls it from a background task a few vectors at a time between
requests.

Vectors are unit length and stored as int8 in the graph (a quarter of float32's memory) for the search,
whose distances are off by up to ~0.015 — enough to flip a verdict at the threshold. So the graph
proposes candidates within the threshold plus ``MARGIN`` and each is re-scored exactly against a float16
copy (error ~0.001); the metric is the cosine, so distance = 1 - dot.
Removal (eviction, expiry) drops the entry at once and from the graph too; expired entries met by a
lookup are dropped then. Single-threaded: used from the event loop only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from usearch.index import Index

_INITIAL_ROWS = 16
CANDIDATES = 4  # graph neighbours examined per lookup (the closest live one within the threshold wins)
MARGIN = 0.03  # how far beyond the threshold an int8 distance may be and still be re-scored exactly


@dataclass(frozen=True, slots=True)
class Match:
    key: str  # what the entry was stored under (the payload's key)
    distance: float  # cosine distance, 0 = same direction


class VectorIndex:
    """One partition's vectors: an HNSW graph, and an exact buffer of those not yet in it."""

    def __init__(self, dims: int, connectivity: int = 16, expansion_add: int = 40, expansion_search: int = 32) -> None:
        if dims < 1:
            raise ValueError("dims must be at least 1")
        self.dims = dims
        self._graph = Index(ndim=dims, metric="cos", dtype="i8", connectivity=connectivity,
                            expansion_add=expansion_add, expansion_search=expansion_search)
        self._pending = np.empty((_INITIAL_ROWS, dims), np.float32)
        self._pending_labels = np.empty(_INITIAL_ROWS, np.int64)
        self._pending_rows = 0
        self._entries: dict[int, tuple[str, float]] = {}  # label → (key, expires_at)
        self._exact: dict[int, np.ndarray] = {}  # label → float16 copy, for re-scoring the graph's candidates
        self._labels: dict[str, int] = {}  # key → label
        self._next_label = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def pending(self) -> int:
        """Vectors waiting to enter the graph (searched exactly meanwhile)."""
        return self._pending_rows

    @property
    def vector_bytes(self) -> int:
        """Bytes per entry of vector data and graph links (what the cache's byte budget charges)."""
        return self.dims + 2 * self.dims + 16 * 2 * 8 + 160  # int8 in the graph, float16 copy, links

    def add(self, vector: np.ndarray, key: str, expires_at: float) -> None:
        """Store ``vector`` for ``key`` (a key stored again only gets the new expiry)."""
        vector = self._check(vector)
        label = self._labels.get(key)
        if label is not None:
            self._entries[label] = (key, expires_at)
            return
        label, self._next_label = self._next_label, self._next_label + 1
        if self._pending_rows == len(self._pending_labels):
            self._grow(2 * len(self._pending_labels))
        self._pending[self._pending_rows] = vector
        self._pending_labels[self._pending_rows] = label
        self._pending_rows += 1
        self._entries[label] = (key, expires_at)
        self._labels[key] = label

    def flush(self, limit: int) -> int:
        """Move up to ``limit`` pending vectors into the graph (~1 ms each); returns how many moved."""
        count = min(limit, self._pending_rows)
        if not count:
            return 0
        labels = self._pending_labels[:count]
        alive = np.fromiter((int(label) in self._entries for label in labels), bool, count)
        if alive.any():
            vectors = self._pending[:count][alive]
            self._graph.add(labels[alive].copy(), vectors.copy(), threads=1)
            for label, vector in zip(labels[alive].tolist(), vectors.astype(np.float16)):
                self._exact[label] = vector
        rest = self._pending_rows - count
        self._pending[:rest] = self._pending[count: self._pending_rows]
        self._pending_labels[:rest] = self._pending_labels[count: self._pending_rows]
        self._pending_rows = rest
        return count

    def remove(self, key: str) -> None:
        label = self._labels.pop(key, None)
        if label is not None:
            del self._entries[label]
            if self._exact.pop(label, None) is not None:
                self._graph.remove(label)

    def nearest(self, vector: np.ndarray, max_distance: float, now: float) -> Match | None:
        """The closest live entry within ``max_distance`` (cosine distance), or None."""
        vector = self._check(vector)
        best: Match | None = None
        if len(self._graph):
            found = self._graph.search(vector, CANDIDATES)
            for label, rough in zip(found.keys.tolist(), found.distances.tolist()):
                if rough > max_distance + MARGIN:
                    break
                copy = self._exact.get(label)
                if copy is None:
                    continue
                distance = max(0.0, 1.0 - float(copy.astype(np.float32) @ vector))
                if distance <= (best.distance if best else max_distance):
                    match = self._live(label, distance, now)
                    if match is not None:
                        best = match
        if self._pending_rows:
            similarity = self._pending[: self._pending_rows] @ vector
            floor = 1.0 - (best.distance if best else max_distance)
            for row in np.argsort(-similarity)[:CANDIDATES].tolist():
                if similarity[row] < floor:
                    break
                match = self._live(int(self._pending_labels[row]), max(0.0, 1.0 - float(similarity[row])), now)
                if match is not None:
                    best = match
                    break
        return best

    def _live(self, label: int, distance: float, now: float) -> Match | None:
        entry = self._entries.get(label)
        if entry is None:
            return None
        if entry[1] <= now:
            self.remove(entry[0])  # expired: drop it now
            return None
        return Match(entry[0], distance)

    def _grow(self, capacity: int) -> None:
        vectors = np.empty((capacity, self.dims), np.float32)
        vectors[: self._pending_rows] = self._pending[: self._pending_rows]
        labels = np.empty(capacity, np.int64)
        labels[: self._pending_rows] = self._pending_labels[: self._pending_rows]
        self._pending, self._pending_labels = vectors, labels

    def _check(self, vector: np.ndarray) -> np.ndarray:
        if vector.shape != (self.dims,):
            raise ValueError(f"vector has shape {vector.shape}, this partition holds {self.dims}-d vectors")
        return vector if vector.dtype == np.float32 else vector.astype(np.float32)
