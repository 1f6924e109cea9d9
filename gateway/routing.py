"""Which API a path belongs to (longest prefix wins) and which operation it calls."""

from aigw.gateway.config import Api

_OPERATIONS = {"chat/completions": "chat", "completions": "completions", "embeddings": "embeddings"}


class ApiRouter:
    def __init__(self, apis: list[Api]) -> None:
        self._apis = sorted(apis, key=lambda a: len(a.path), reverse=True)

    def match(self, path: str) -> tuple[Api, str] | None:
        for api in self._apis:
            prefix = api.path
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return api, (path if prefix == "/" else path[len(prefix):])
        return None


def operation_of(api: Api, suffix: str) -> tuple[str | None, str | None]:
    """``(operation, deployment)`` for an LLM API suffix; MCP/A2A APIs are one operation each."""
    if api.kind in ("mcp", "a2a"):
        return api.kind, None
    if suffix.startswith("/deployments/"):
        deployment, _, tail = suffix[len("/deployments/"):].partition("/")
        return _OPERATIONS.get(tail), deployment or None
    for prefix in ("/v1/", "/"):
        if suffix.startswith(prefix) and suffix[len(prefix):] in _OPERATIONS:
            return _OPERATIONS[suffix[len(prefix):]], None
    if suffix.rstrip("/").endswith("/models") or suffix.startswith("/models") or suffix.startswith("/v1/models"):
        return "models", None
    return None, None
