"""Gateway state behind one interface: in-memory by default, Redis when replicas must share limits."""

from aigw.gateway.store.base import Reservation, Store
from aigw.gateway.store.memory import MemoryStore

__all__ = ["Reservation", "Store", "MemoryStore", "create_store"]


def create_store(settings: dict) -> Store:
    kind = settings.get("kind", "memory")
    if kind == "memory":
        return MemoryStore()
    raise ValueError(f"store.kind {kind!r} is not available (supported: memory)")
