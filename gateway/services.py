"""Long-lived services the policies share: the store, backends, the upstream client, metrics."""

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aigw.gateway.backends import Backends
from aigw.gateway.config import GatewayConfig
from aigw.gateway.forwarder import Forwarder
from aigw.gateway.store import Store, create_store


@dataclass
class Services:
    config: GatewayConfig
    store: Store
    backends: Backends
    forwarder: Forwarder
    clock: Callable[[], float] = time.time
    metrics: Any = None  # aigw.gateway.metrics.Metrics once configured
    extras: dict[str, Any] = field(default_factory=dict)  # per-policy shared helpers (embeddings client, ...)
    # State a policy keeps outside the store registers how to forget it here (the admin reset, ``reset``).
    on_reset: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def create(cls, config: GatewayConfig) -> "Services":
        from aigw.gateway.metrics import Metrics

        forwarder = Forwarder()
        backends = Backends(config, prober=forwarder.probe)
        return cls(config=config, store=create_store(config.store), backends=backends, forwarder=forwarder,
                   metrics=Metrics(config, backends))

    async def reset(self) -> None:
        """Back to the start: counters and cached answers (the store), breakers and round-robin (backends),
        and whatever policies registered in ``on_reset``. Metrics are counters and keep counting."""
        await self.store.clear()
        self.backends.reset()
        for hook in self.on_reset:
            hook()

    async def close(self) -> None:
        await self.backends.close()
        await self.forwarder.close()
        await self.store.close()
        if self.metrics is not None:
            self.metrics.close()
