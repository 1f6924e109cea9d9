"""A2A's error codes and the JSON-RPC error objects that carry them.

The codes are the spec's (v0.3 defined -32001..-32007, v1.0 added -32008 and -32009). A v1.0 error's
``data`` is the array of typed details the v1.0 binding prescribes, led by a ``google.rpc.ErrorInfo``
whose ``reason`` names the condition (what the official SDK client reads back); a v0.3 error carries
no ``data``, as its schema leaves it free.
"""

from typing import Any

from aigw.protocol import jsonrpc

TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOTIFICATION_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005
INVALID_AGENT_RESPONSE = -32006
EXTENDED_CARD_NOT_CONFIGURED = -32007
EXTENSION_SUPPORT_REQUIRED = -32008
VERSION_NOT_SUPPORTED = -32009

REASONS = {
    TASK_NOT_FOUND: "TASK_NOT_FOUND",
    TASK_NOT_CANCELABLE: "TASK_NOT_CANCELABLE",
    PUSH_NOTIFICATION_NOT_SUPPORTED: "PUSH_NOTIFICATION_NOT_SUPPORTED",
    UNSUPPORTED_OPERATION: "UNSUPPORTED_OPERATION",
    CONTENT_TYPE_NOT_SUPPORTED: "CONTENT_TYPE_NOT_SUPPORTED",
    INVALID_AGENT_RESPONSE: "INVALID_AGENT_RESPONSE",
    EXTENDED_CARD_NOT_CONFIGURED: "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
    EXTENSION_SUPPORT_REQUIRED: "EXTENSION_SUPPORT_REQUIRED",
    VERSION_NOT_SUPPORTED: "VERSION_NOT_SUPPORTED",
    jsonrpc.PARSE_ERROR: "PARSE_ERROR",
    jsonrpc.INVALID_REQUEST: "INVALID_REQUEST",
    jsonrpc.METHOD_NOT_FOUND: "METHOD_NOT_FOUND",
    jsonrpc.INVALID_PARAMS: "INVALID_PARAMS",
    jsonrpc.INTERNAL_ERROR: "INTERNAL_ERROR",
}
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN = "a2a-protocol.org"


class A2AError(Exception):
    """A refusal decided while serving a method; the binding turns it into the wire error."""

    def __init__(self, code: int, message: str, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.metadata = code, message, metadata or {}


def task_not_found(task_id: str) -> A2AError:
    return A2AError(TASK_NOT_FOUND, f"Task not found: {task_id}", {"taskId": task_id})


def invalid_params(message: str) -> A2AError:
    return A2AError(jsonrpc.INVALID_PARAMS, f"Invalid params: {message}")


def error_body(id: jsonrpc.Id, code: int, message: str, v1: bool, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    data = None
    if v1:
        data = [{"@type": ERROR_INFO_TYPE, "reason": REASONS.get(code, "UNKNOWN_ERROR"), "domain": DOMAIN,
                 "metadata": metadata or {}}]
    return jsonrpc.error(id, code, message, data)
