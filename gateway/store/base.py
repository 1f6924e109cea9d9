"""The store interface: counters in fixed windows with *atomic* check-and-reserve, plus a small KV.

Limits are only exact if checking a counter and charging it happen as one step: otherwise 200
concurrent requests all see room and all get in (the overshoot APIM documents and LiteLLM users
report). So the interface has no separate "read then write" for limits: ``reserve`` decides and
charges at once, and ``adjust`` later reconciles a reservation with what was really used. A Redis
implementation does the same in one Lua script.
"""

from typing import NamedTuple, Protocol


class Reservation(NamedTuple):
    """Immutable, and a NamedTuple rather than a frozen dataclass: one is made per limited request, and a
    frozen dataclass's ``__init__`` (``object.__setattr__`` per field) cost more than the whole reserve."""

    admitted: bool
    used: int  # in the window after this call
    limit: int
    window_end: float  # wall-clock seconds when the window resets

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class Store(Protocol):
    async def reserve(self, key: str, amount: int, limit: int, window_start: float, window_end: float,
                      allow_overshoot: bool = False) -> Reservation:
        """Charge ``amount`` to ``key`` in the window [start, end) if it fits under ``limit``.

        With ``allow_overshoot`` a request is admitted while the window is not yet exhausted even if
        ``amount`` takes it past the limit (APIM's behaviour when the real count is only known later).
        """

    async def adjust(self, key: str, window_start: float, window_end: float, delta: int) -> None:
        """Add ``delta`` (may be negative) to a window's count, e.g. actual usage minus the reservation."""

    async def peek(self, key: str, window_start: float) -> int:
        """The count charged in that window so far."""

    async def kv_get(self, key: str) -> bytes | None: ...

    async def kv_set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def kv_delete(self, key: str) -> None:
        """Drop ``key`` now (the semantic cache's byte budget evicted it)."""

    async def clear(self) -> None:
        """Forget every counter and entry this gateway keeps (the admin reset). A store shared by several
        gateway replicas clears the shared state, so one reset serves them all."""

    async def close(self) -> None: ...
