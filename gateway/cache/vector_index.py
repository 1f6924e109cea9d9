"""Nearest-neighbour lookup for one cache partition: numpy over contiguous float32 cells that split as they fill.

Why not plain brute force: a lookup over one matrix reads every vector, so it is memory-bandwidth bound
(measured here: ~1.8 ms at 10k and ~19 ms at 100k 1536-d entries on one core; facts file §5 has 2.9/32 ms).
Why not HNSW (usearch, measured on this machine while choosing): an insert cost 1–2 ms holding the GIL
(100k entries took 143 s to index), and on unstructured 1536-d vectors a lookup needed 1.4 ms at 100k for
67 % recall of near-duplicates; raising its search width for recall made it slower still.

What a semantic cache needs is narrower than general k-NN: is there an entry within ``score-threshold``
(a small cosine distance) of the query? An inverted-file index answers that well. Entries live in *cells*,
each a contiguous float32 matrix with a centroid; a lookup ranks the centroids (one small matmul) and scans
the ``probes`` nearest cells exactly. A near-duplicate lands in the same cell as the query or a neighbouring
one, so recall stays ≈1 while a lookup reads only a few thousand vectors.

Cells are built incrementally, with no training step and no rebuild: the partition starts as one cell (exact
brute force); a cell that fills to ``cell_rows`` live entries is split in two around a sampled entry, and
each new vector goes to its nearest centroid. Splitting a cell only moves its rows between the old and the
new centroid, so every row stays in the cell of its nearest centroid (the inverted-file invariant) and an
insert costs one centroid matmul (tens of microseconds), right on the request path.

Vectors are unit length, so cosine distance is ``1 - dot``. Expired entries are skipped when a lookup meets
them and dropped then (lazily); a cell reclaims dead rows before it grows or splits. ``max_entries`` bounds
the partition: the oldest entry is evicted to make room. Single-threaded: used from the event loop only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

_INITIAL_ROWS = 16
_KMEANS_ROUNDS = 4  # 2-means rounds when a cell splits
_NEIGHBOURS = 8  # cells re-checked around a split


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector.astype(np.float32)


@dataclass(frozen=True, slots=True)
class Match:
    key: str  # what the entry was stored under (the payload's key)
    distance: float  # cosine distance, 0 = same direction


class _Cell:
    """A growable contiguous matrix of vectors and their labels; dead rows linger until compacted."""

    __slots__ = ("vectors", "labels", "rows", "limit")

    def __init__(self, dims: int, limit: int, capacity: int = _INITIAL_ROWS) -> None:
        self.vectors = np.empty((capacity, dims), np.float32)
        self.labels = np.empty(capacity, np.int64)
        self.rows = 0
        self.limit = limit  # rows at which to compact, then split

    def append(self, vector: np.ndarray, label: int) -> None:
        if self.rows == len(self.labels):
            self._resize(len(self.labels) * 2)
        self.vectors[self.rows] = vector
        self.labels[self.rows] = label
        self.rows += 1

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true (in order)."""
        count = int(mask.sum())
        if count < self.rows:
            self.vectors[:count] = self.vectors[: self.rows][mask]
            self.labels[:count] = self.labels[: self.rows][mask]
            self.rows = count

    def _resize(self, capacity: int) -> None:
        vectors = np.empty((capacity, self.vectors.shape[1]), np.float32)
        vectors[: self.rows] = self.vectors[: self.rows]
        labels = np.empty(capacity, np.int64)
        labels[: self.rows] = self.labels[: self.rows]
        self.vectors, self.labels = vectors, labels


class VectorIndex:
    """One partition's vectors: exact brute force while small, an inverted file of cells when large."""

    def __init__(self, dims: int, max_entries: int = 100_000, cell_rows: int = 512, probes: int = 8,
                 seed: int = 0) -> None:
        if dims < 1 or cell_rows < 8 or probes < 1:
            raise ValueError("dims ≥ 1, cell_rows ≥ 8 and probes ≥ 1 are required")
        self.dims, self.max_entries, self.cell_rows, self.probes = dims, max_entries, cell_rows, probes
        self._cells = [_Cell(dims, cell_rows)]
        self._centroids = np.empty((0, dims), np.float32)  # row i = centre of cell i (none while one cell)
        self._entries: dict[int, tuple[str, float]] = {}  # label → (key, expires_at)
        self._labels: dict[str, int] = {}  # key → label
        self._order: deque[int] = deque()  # labels oldest first, for eviction
        self._next_label = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def cells(self) -> int:
        return len(self._cells)

    @property
    def rows(self) -> int:
        """Rows held, dead ones included (memory)."""
        return sum(cell.rows for cell in self._cells)

    def add(self, vector: np.ndarray, key: str, expires_at: float, now: float) -> None:
        """Store ``vector`` for ``key`` (a key stored again only gets the new expiry)."""
        vector = self._check(vector)
        label = self._labels.get(key)
        if label is not None:
            self._entries[label] = (key, expires_at)
            return
        while len(self._entries) >= self.max_entries and self._order:
            self.remove_label(self._order.popleft())
        cell = self._cells[self._nearest_cell(vector)]
        if cell.rows >= cell.limit or cell.rows == len(cell.labels):  # full, or about to double: reclaim first
            self._compact(cell, now)
            if cell.rows >= cell.limit:
                self._split(cell)
            cell = self._cells[self._nearest_cell(vector)]
        label, self._next_label = self._next_label, self._next_label + 1
        cell.append(vector, label)
        self._entries[label] = (key, expires_at)
        self._labels[key] = label
        self._order.append(label)
        if len(self._order) > 2 * max(len(self._entries), 1024):  # forget labels removed by expiry
            self._order = deque(label for label in self._order if label in self._entries)

    def remove(self, key: str) -> None:
        label = self._labels.get(key)
        if label is not None:
            self.remove_label(label)

    def remove_label(self, label: int) -> None:
        entry = self._entries.pop(label, None)
        if entry is not None:
            del self._labels[entry[0]]  # its row stays until the cell is compacted; lookups skip it

    def nearest(self, vector: np.ndarray, max_distance: float, now: float) -> Match | None:
        """The closest live entry within ``max_distance`` (cosine distance), or None."""
        vector = self._check(vector)
        if len(self._cells) <= self.probes:
            cells = self._cells
        else:
            scores = self._centroids @ vector
            cells = [self._cells[i] for i in np.argpartition(scores, -self.probes)[-self.probes:]]
        best: Match | None = None
        for cell in cells:
            found = self._scan(cell, vector, best.distance if best else max_distance, now)
            if found is not None:
                best = found
        return best

    def _scan(self, cell: _Cell, vector: np.ndarray, max_distance: float, now: float) -> Match | None:
        if not cell.rows:
            return None
        similarity = cell.vectors[: cell.rows] @ vector
        floor = 1.0 - max_distance
        for _ in range(cell.rows):
            row = int(np.argmax(similarity))
            score = float(similarity[row])
            if score < floor:
                return None
            label = int(cell.labels[row])
            entry = self._entries.get(label)
            if entry is not None and entry[1] > now:
                return Match(entry[0], max(0.0, 1.0 - score))
            if entry is not None:
                self.remove_label(label)  # expired: drop it now
            similarity[row] = -np.inf
        return None

    def _nearest_cell(self, vector: np.ndarray) -> int:
        return int(np.argmax(self._centroids @ vector)) if len(self._centroids) else 0

    def _compact(self, cell: _Cell, now: float) -> None:
        """Drop the cell's dead and expired rows."""
        alive = np.empty(cell.rows, dtype=bool)
        for row in range(cell.rows):
            label = int(cell.labels[row])
            entry = self._entries.get(label)
            if entry is not None and entry[1] <= now:
                self.remove_label(label)
                entry = None
            alive[row] = entry is not None
        cell.keep(alive)

    def _split(self, cell: _Cell) -> None:
        """Split a full cell in two with a few rounds of 2-means; a cell that will not split (near-identical
        rows) grows instead. Rows of the nearest other cells that are now closer to one of the two new
        centres move there, which keeps (nearly) every row in the cell of its nearest centre."""
        rows = cell.vectors[: cell.rows]
        picks = self._rng.choice(cell.rows, size=2, replace=False)
        centres = rows[picks].copy()
        for _ in range(_KMEANS_ROUNDS):
            to_second = rows @ centres[1] > rows @ centres[0]
            if to_second.all() or not to_second.any():
                break
            centres = np.stack([_unit(rows[~to_second].sum(axis=0)), _unit(rows[to_second].sum(axis=0))])
        to_second = rows @ centres[1] > rows @ centres[0]
        if min(to_second.mean(), 1 - to_second.mean()) < 0.05:
            cell.limit *= 2  # nothing separates these rows: let the cell grow instead
            return
        index = self._cells.index(cell) if len(self._centroids) else 0
        sibling = _Cell(self.dims, self.cell_rows, capacity=max(_INITIAL_ROWS, int(to_second.sum()) * 2))
        for row in np.flatnonzero(to_second):
            sibling.append(rows[row], int(cell.labels[row]))
        cell.keep(~to_second)
        if not len(self._centroids):
            self._centroids = centres[:1].copy()
        self._centroids[index] = centres[0]
        self._cells.append(sibling)
        self._centroids = np.vstack([self._centroids, centres[1:]])
        self._reassign_neighbours((index, len(self._cells) - 1))

    def _reassign_neighbours(self, changed: tuple[int, int]) -> None:
        """Move rows of the cells nearest the changed centres to a changed centre when it is now nearer."""
        if len(self._cells) <= 2:
            return
        centres = self._centroids[list(changed)]
        closeness = (self._centroids @ centres.T).max(axis=1)
        closeness[list(changed)] = -np.inf
        count = min(_NEIGHBOURS, len(self._cells) - 2)
        for other in np.argpartition(closeness, -count)[-count:]:
            cell = self._cells[int(other)]
            if not cell.rows:
                continue
            rows = cell.vectors[: cell.rows]
            own = rows @ self._centroids[int(other)]
            to_changed = rows @ centres.T  # (rows, 2)
            best = to_changed.argmax(axis=1)
            moving = to_changed[np.arange(cell.rows), best] > own
            for row in np.flatnonzero(moving):
                self._cells[changed[int(best[row])]].append(rows[row], int(cell.labels[row]))
            if moving.any():
                cell.keep(~moving)

    def _check(self, vector: np.ndarray) -> np.ndarray:
        if vector.shape != (self.dims,):
            raise ValueError(f"vector has shape {vector.shape}, this partition holds {self.dims}-d vectors")
        return vector if vector.dtype == np.float32 else vector.astype(np.float32)
