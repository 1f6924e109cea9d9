"""In-process store: one asyncio loop, so each operation is atomic by construction (no awaits inside)."""

import time

from aigw.gateway.store.base import Reservation

_SWEEP_EVERY = 4096


class MemoryStore:
    def __init__(self) -> None:
        self._counters: dict[tuple[str, float], list[float]] = {}  # (key, start) → [used, end]
        self._kv: dict[str, tuple[bytes, float]] = {}
        self._ops = 0

    async def reserve(self, key: str, amount: int, limit: int, window_start: float, window_end: float,
                      allow_overshoot: bool = False) -> Reservation:
        slot = self._counters.get((key, window_start))
        if slot is None:
            slot = self._counters[(key, window_start)] = [0, window_end]
            self._maybe_sweep()
        used = slot[0]
        fits = used + amount <= limit or (allow_overshoot and used < limit)
        if fits:
            slot[0] = used = used + amount
        return Reservation(fits, int(used), limit, window_end)

    async def adjust(self, key: str, window_start: float, window_end: float, delta: int) -> None:
        slot = self._counters.setdefault((key, window_start), [0, window_end])
        slot[0] = max(0, slot[0] + delta)

    async def peek(self, key: str, window_start: float) -> int:
        slot = self._counters.get((key, window_start))
        return int(slot[0]) if slot else 0

    async def kv_get(self, key: str) -> bytes | None:
        entry = self._kv.get(key)
        if entry is None:
            return None
        if entry[1] <= time.time():
            del self._kv[key]
            return None
        return entry[0]

    async def kv_set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._kv[key] = (value, time.time() + ttl_s)
        self._maybe_sweep()

    async def kv_delete(self, key: str) -> None:
        self._kv.pop(key, None)

    async def clear(self) -> None:
        self._counters.clear()
        self._kv.clear()

    async def close(self) -> None:
        await self.clear()

    def _maybe_sweep(self) -> None:
        """Drop expired windows and entries now and then, so memory stays bounded."""
        self._ops += 1
        if self._ops % _SWEEP_EVERY:
            return
        now = time.time()
        for key in [k for k, slot in self._counters.items() if slot[1] <= now]:
            del self._counters[key]
        for key in [k for k, (_, expires) in self._kv.items() if expires <= now]:
            del self._kv[key]
