"""A2A v1.0's HTTP+JSON binding: its REST paths and how its errors map to HTTP statuses.

The paths are the ``google.api.http`` annotations of the ``A2AService`` in the normative
``a2a.proto`` (v1.0.1), relative to the interface URL an agent card names; each may also be
prefixed by ``/{tenant}``. ``SubscribeToTask`` is ``GET`` in the proto and ``POST`` in the official
SDK's client, so both are listed. An error is a ``google.rpc.Status`` in JSON (AIP-193):
``{"error": {"code": <HTTP status>, "status": <gRPC status name>, "message", "details":
[ErrorInfo]}}``, with the statuses of the specification's error mapping table (§5.4). Shared by the
mock (which serves the binding) and the gateway (which must know an extended-card read when it sees
one).
"""

import re
from typing import NamedTuple

OPERATIONS = ("message:send", "message:stream", "tasks", "extendedAgentCard")


class Route(NamedTuple):
    methods: tuple[str, ...]
    pattern: re.Pattern
    operation: str  # the v1.0 JSON-RPC method name it corresponds to


def _route(methods: str, template: str, operation: str) -> Route:
    regex = re.escape(template).replace(r"\{id\}", "(?P<id>[^/:]+)").replace(r"\{task_id\}", "(?P<task_id>[^/:]+)")
    return Route(tuple(methods.split()), re.compile(f"^{regex}$"), operation)


ROUTES = (
    _route("POST", "/message:send", "SendMessage"),
    _route("POST", "/message:stream", "SendStreamingMessage"),
    _route("GET", "/tasks", "ListTasks"),
    _route("GET", "/tasks/{id}", "GetTask"),
    _route("POST", "/tasks/{id}:cancel", "CancelTask"),
    _route("GET POST", "/tasks/{id}:subscribe", "SubscribeToTask"),
    _route("POST", "/tasks/{task_id}/pushNotificationConfigs", "CreateTaskPushNotificationConfig"),
    _route("GET", "/tasks/{task_id}/pushNotificationConfigs", "ListTaskPushNotificationConfigs"),
    _route("GET", "/tasks/{task_id}/pushNotificationConfigs/{id}", "GetTaskPushNotificationConfig"),
    _route("DELETE", "/tasks/{task_id}/pushNotificationConfigs/{id}", "DeleteTaskPushNotificationConfig"),
    _route("GET", "/extendedAgentCard", "GetExtendedAgentCard"),
)
STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})

# reason (google.rpc.ErrorInfo) -> (HTTP status, gRPC status name)
STATUS = {
    "TASK_NOT_FOUND": (404, "NOT_FOUND"),
    "TASK_NOT_CANCELABLE": (409, "FAILED_PRECONDITION"),
    "PUSH_NOTIFICATION_NOT_SUPPORTED": (400, "UNIMPLEMENTED"),
    "UNSUPPORTED_OPERATION": (400, "UNIMPLEMENTED"),
    "CONTENT_TYPE_NOT_SUPPORTED": (415, "INVALID_ARGUMENT"),
    "INVALID_AGENT_RESPONSE": (502, "INTERNAL"),
    "EXTENDED_AGENT_CARD_NOT_CONFIGURED": (400, "FAILED_PRECONDITION"),
    "EXTENSION_SUPPORT_REQUIRED": (400, "FAILED_PRECONDITION"),
    "VERSION_NOT_SUPPORTED": (400, "UNIMPLEMENTED"),
    "PARSE_ERROR": (400, "INVALID_ARGUMENT"),
    "INVALID_REQUEST": (400, "INVALID_ARGUMENT"),
    "INVALID_PARAMS": (400, "INVALID_ARGUMENT"),
    "METHOD_NOT_FOUND": (404, "NOT_FOUND"),
    "INTERNAL_ERROR": (500, "INTERNAL"),
}


def without_tenant(tail: str) -> str:
    """``/{tenant}/tasks/x`` → ``/tasks/x``: a first segment that starts no operation is a tenant."""
    first = tail.lstrip("/").split("/", 1)[0]
    if first and first not in OPERATIONS and not first.startswith("tasks") and "/" in tail.lstrip("/"):
        return "/" + tail.lstrip("/").split("/", 1)[1]
    return tail


def match(method: str, tail: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for ``method`` + ``tail`` (the path below the interface URL), its path parameters, and
    whether the path exists under another method (then the answer is 405, not 404)."""
    tail = without_tenant(tail)
    other_method = False
    for route in ROUTES:
        found = route.pattern.match(tail)
        if found is None:
            continue
        if method in route.methods or (method == "HEAD" and "GET" in route.methods):
            return route, {k: v for k, v in found.groupdict().items() if v is not None}, False
        other_method = True
    return None, {}, other_method


_TAIL = re.compile(r"/(message:send|message:stream|tasks(/[^/]+(:cancel|:subscribe|/pushNotificationConfigs(/[^/]+)?)?)?"
                   r"|extendedAgentCard)$")


def is_rest_path(path: str) -> bool:
    """Whether a full request path ends in one of the binding's operations (how a proxy tells the
    HTTP+JSON binding from a JSON-RPC POST to the interface URL itself)."""
    return _TAIL.search(path) is not None


EXTENDED_CARD = "/extendedAgentCard"


def is_extended_card_path(path: str) -> bool:
    return path.endswith(EXTENDED_CARD)


def error_body(reason: str, message: str, metadata: dict[str, str] | None = None,
               domain: str = "a2a-protocol.org") -> tuple[int, dict]:
    status, name = STATUS.get(reason, (500, "INTERNAL"))
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": domain,
            "metadata": metadata or {}}
    return status, {"error": {"code": status, "status": name, "message": message, "details": [info]}}
