"""Which API a canonical path belongs to (longest prefix wins) and which operation it calls.

An LLM API (``azure-openai``, ``openai``) answers only the operations the gateway knows — chat
completions, completions, embeddings and the model list — and 404s anything else, as API Management
does for a path that matches no operation of the API: every policy is written per operation, so an
unmatched path forwarded anyway would reach the backend with none of them (a trailing ``/`` or an
extra segment was enough). MCP and A2A APIs are one operation each and pass any path under their prefix.
"""

from aigw.gateway.config import Api

_OPERATIONS = {"chat/completions": "chat", "completions": "completions", "embeddings": "embeddings"}
LLM_KINDS = frozenset({"azure-openai", "openai"})


class ApiRouter:
    def __init__(self, apis: list[Api]) -> None:
        self._apis = sorted(apis, key=lambda a: len(a.path), reverse=True)

    def match(self, path: str) -> tuple[Api, str] | None:
        for api in self._apis:
            prefix = api.path
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return api, (path if prefix == "/" else path[len(prefix):])
        return None

    def floor(self, path: str) -> int:
        """Segments of the prefix of the API ``path`` is addressed to: a ``..`` may not climb above them."""
        matched = self.match(path)
        return 0 if matched is None else len([s for s in matched[0].path.split("/") if s])


def operation_of(api: Api, suffix: str) -> tuple[str | None, str | None]:
    """``(operation, deployment)`` for an API suffix; ``(None, None)`` when an LLM API has no such operation."""
    if api.kind not in LLM_KINDS:
        return api.kind, None
    if suffix.startswith("/deployments/"):
        deployment, _, tail = suffix[len("/deployments/"):].partition("/")
        operation = _OPERATIONS.get(tail)
        return (operation, deployment) if operation and deployment else (None, None)
    for prefix in ("/v1/", "/"):
        if suffix.startswith(prefix):
            rest = suffix[len(prefix):]
            if rest in _OPERATIONS:
                return _OPERATIONS[rest], None
            if rest == "models" or (rest.startswith("models/") and rest.count("/") == 1 and len(rest) > 7):
                return "models", None
    return None, None
