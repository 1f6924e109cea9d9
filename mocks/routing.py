"""Map a request path to an operation, in the three path styles clients use.

- ``/deployments/{id}/chat/completions`` — the seed's APIM path suffix;
- ``/openai/deployments/{id}/chat/completions?api-version=…`` — Azure OpenAI;
- ``/v1/chat/completions`` (and Azure's ``/openai/v1/…``) — OpenAI-compatible, ``model`` in the body.
Plain string work, no regex: this runs on every request.
"""

import functools
from dataclasses import dataclass

OPERATIONS = {"chat/completions": "chat", "completions": "completions", "embeddings": "embeddings"}

AZURE = "azure"  # /openai/deployments/...: api-version required
SEED = "seed"  # /deployments/...: APIM suffix; api-version optional
OPENAI = "openai"  # /v1/...: model in the body


@dataclass(frozen=True)
class Route:
    operation: str  # chat | completions | embeddings | models | model
    style: str
    deployment: str | None = None
    methods: tuple[str, ...] = ("POST",)


@functools.lru_cache(maxsize=1024)  # a handful of paths recur; bounded, since paths come from clients
def match(path: str) -> Route | None:
    """The route for ``path`` or None (→ 404). The caller checks the method (→ 405)."""
    if path.startswith("/openai/deployments/"):
        return _deployment_route(path[len("/openai/deployments/") :], AZURE)
    if path.startswith("/deployments/"):
        return _deployment_route(path[len("/deployments/") :], SEED)
    for prefix in ("/v1/", "/openai/v1/"):
        if path.startswith(prefix):
            return _v1_route(path[len(prefix) :])
    if path == "/openai/models":
        return Route("models", AZURE, methods=("GET",))
    return None


def _deployment_route(rest: str, style: str) -> Route | None:
    deployment, _, tail = rest.partition("/")
    operation = OPERATIONS.get(tail)
    if not deployment or operation is None:
        return None
    return Route(operation, style, deployment)


def _v1_route(rest: str) -> Route | None:
    if rest in OPERATIONS:
        return Route(OPERATIONS[rest], OPENAI)
    if rest == "models":
        return Route("models", OPENAI, methods=("GET",))
    if rest.startswith("models/") and len(rest) > len("models/") and "/" not in rest[len("models/") :]:
        return Route("model", OPENAI, rest[len("models/") :], methods=("GET",))
    return None
