"""The v1.0 HTTP+JSON binding: REST paths (``aigw.protocol.a2a_rest``) onto the same handlers as JSON-RPC.

A REST request carries its params in three places — path (``/tasks/{id}``), query string (``GET``
filters such as ``historyLength``, ``pageSize``, ``includeArtifacts``) and JSON body — which are merged
here into the params object the JSON-RPC handler of the same operation reads, so both bindings share
every check and every answer. A value in the path wins; a body naming another task than its path is
refused (-32602 / 400), never silently re-targeted.
"""

from typing import Any
from urllib.parse import parse_qsl

from aigw.mocks.a2a import errors

BOOLEAN_QUERY = frozenset({"includeArtifacts", "include_artifacts"})


def query_params(query_string: bytes) -> dict[str, Any]:
    """The query string as ProtoJSON params: repeated names keep the last value; booleans are parsed."""
    params: dict[str, Any] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in BOOLEAN_QUERY:
            if value.lower() not in ("true", "false", "1", "0"):
                raise errors.invalid_params(f"{name} must be true or false, got {value!r}")
            params[name] = value.lower() in ("true", "1")
        else:
            params[name] = value
    return params


def params_for(path: dict[str, str], query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The JSON-RPC params of an operation from a REST request's path parameters, query and body."""
    params = {**query, **body}
    if "task_id" in path:
        stated = params.pop("task_id", None) or params.get("taskId")
        if stated not in (None, "", path["task_id"]):
            raise errors.invalid_params(f"the body names task {stated!r} but the path names task {path['task_id']!r}")
        params["taskId"] = path["task_id"]
    if "id" in path:
        params["id"] = path["id"]
    return params
