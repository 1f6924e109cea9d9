"""The embeddings client behind the semantic cache: one configured backend, any failure an exception.

Where to send the request follows how APIM's docs set up the embeddings backend, plus two shorthands:

- the backend's URL *is* the embeddings endpoint (APIM's way:
  ``https://x.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings``): POST there, adding
  ``?api-version=`` for an Azure path that has none;
- the URL ends in ``/v1`` (OpenAI-compatible): POST ``{url}/embeddings`` with ``model`` = the deployment;
- otherwise the URL is an Azure OpenAI root (``.../openai``): POST
  ``{url}/deployments/{embeddings-deployment}/embeddings?api-version=...``.

The backend may be a pool: the choice and the circuit breakers are the gateway's own (``Backends``). On
top, the client has a breaker of its own (3 failures in 10 s open it for 10 s, then one trial call), so
a dead embeddings backend costs a request nothing even when its backend resource has no breaker: the
lookup is skipped at once (``EmbeddingsSkipped``, counted as ``skipped`` in the cache metrics) instead
of each request waiting ``embeddings-timeout`` — which is small (default 2 s) for the same reason.
Vectors come back as base64 float32 (a quarter of the JSON, no float parsing) and are normalised to unit
length so a dot product is the cosine similarity.
"""

from __future__ import annotations

import base64
import time

import numpy as np

from aigw.gateway.breaker import Breaker
from aigw.gateway.config import BreakerRule
from aigw.gateway.errors import UpstreamError

MAX_INPUT_CHARS = 24_000  # ~6k tokens: below every embeddings model's 8,191-token input limit


class EmbeddingsError(Exception):
    """The embeddings backend gave no usable vector; the cache treats it as a miss."""


class EmbeddingsSkipped(EmbeddingsError):
    """The embeddings backend is known to be failing: no call was made."""


OWN_BREAKER = BreakerRule.model_validate({
    "name": "embeddings-client",
    "failureCondition": {"count": 3, "interval": 10, "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}]},
    "tripDuration": 10})


class EmbeddingsClient:
    def __init__(self, services, backend_id: str, deployment: str | None, api_version: str,
                 dimensions: int | None, timeout: float) -> None:
        backends = services.backends
        if backend_id not in backends.singles and backend_id not in backends.pools:
            known = ", ".join(sorted({*backends.singles, *backends.pools}))
            raise ValueError(f"llm-semantic-cache-lookup: embeddings-backend-id {backend_id!r} is not a configured "
                             f"backend; have: {known}")
        self.services, self.backend_id, self.deployment = services, backend_id, deployment
        self.api_version, self.dimensions, self.timeout = api_version, dimensions, timeout
        self.breaker = Breaker(OWN_BREAKER)
        self.clock = time.monotonic
        for member in backends.members(backend_id):
            self._target(member.config.url)  # every member must be reachable: fail at start-up, not per request

    def _target(self, url: str) -> tuple[str, dict]:
        """(endpoint URL, extra payload fields) for a backend URL."""
        base, _, query = url.partition("?")
        base = base.rstrip("/")
        if base.endswith("/embeddings"):
            if "/openai/deployments/" in base and "api-version=" not in query:
                query = f"{query}&api-version={self.api_version}" if query else f"api-version={self.api_version}"
            return (f"{base}?{query}" if query else base), {}
        if not self.deployment:
            raise ValueError(f"llm-semantic-cache-lookup: backend {self.backend_id!r} URL {url!r} is not an embeddings "
                             "endpoint (…/embeddings); set embeddings-deployment to the embeddings deployment or model")
        if base.endswith("/v1"):
            return f"{base}/embeddings", {"model": self.deployment}
        return f"{base}/deployments/{self.deployment}/embeddings?api-version={self.api_version}", {}

    async def embed(self, text: str) -> np.ndarray:
        """The unit-length embedding of ``text``; EmbeddingsError when there is none."""
        if not self.breaker.allow(self.clock()):
            raise EmbeddingsSkipped(f"embeddings backend {self.backend_id!r} is failing: lookup skipped")
        try:
            vector = await self._embed(text)
        except EmbeddingsSkipped:
            self.breaker.trial = False
            raise
        except EmbeddingsError:
            self.breaker.record(self.clock(), True)
            raise
        self.breaker.record(self.clock(), False)
        return vector

    async def _embed(self, text: str) -> np.ndarray:
        backends = self.services.backends
        backend = backends.choose(self.backend_id)
        if backend is None:
            raise EmbeddingsSkipped(f"embeddings backend {self.backend_id!r} is unavailable (circuit breaker open)")
        config = backend.config
        url, extra = self._target(config.url)
        payload = {"input": text[-MAX_INPUT_CHARS:] or " ", "encoding_format": "base64", **extra}
        if self.dimensions:
            payload["dimensions"] = self.dimensions
        headers = {config.auth.header: config.auth.value} if config.auth else {}
        try:
            status, body = await self.services.forwarder.call_json("POST", url, payload, headers,
                                                                   min(self.timeout, config.timeout), backend.id)
        except UpstreamError as error:
            backends.record(backend, None, error.reason, None)
            raise EmbeddingsError(error.detail) from None
        backends.record(backend, status, None, None)
        if status != 200:
            raise EmbeddingsError(f"embeddings backend {backend.id!r} answered {status}")
        return _vector_of(body, backend.id)


def _vector_of(body, backend_id: str) -> np.ndarray:
    try:
        raw = body["data"][0]["embedding"]
        if isinstance(raw, str):
            vector = np.frombuffer(base64.b64decode(raw), dtype="<f4").astype(np.float32)
        else:
            vector = np.asarray(raw, dtype=np.float32)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise EmbeddingsError(f"embeddings backend {backend_id!r} sent no embedding ({type(exc).__name__})") from None
    norm = float(np.linalg.norm(vector)) if vector.ndim == 1 and vector.size else 0.0
    if not np.isfinite(norm) or norm == 0.0:
        raise EmbeddingsError(f"embeddings backend {backend_id!r} sent an empty or zero vector")
    return vector / norm
