"""JSON-RPC 2.0 framing (MCP and A2A both speak it).

Parsing returns either a message or the exact error object the spec mandates, so servers never have
to improvise codes: -32700 for unparseable text, -32600 for a structurally wrong message.
"""

from dataclasses import dataclass
from typing import Any

import orjson

from aigw.protocol.json_depth import message as depth_message
from aigw.protocol.json_depth import too_deep

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

Id = str | int | None


@dataclass(frozen=True)
class Message:
    """A request (has ``id``), a notification (no ``id``) or a response (``result``/``error``)."""

    raw: dict[str, Any]

    @property
    def id(self) -> Id:
        return self.raw.get("id")

    @property
    def method(self) -> str | None:
        return self.raw.get("method")

    @property
    def params(self) -> Any:
        return self.raw.get("params")

    @property
    def is_request(self) -> bool:
        return "method" in self.raw and "id" in self.raw

    @property
    def is_notification(self) -> bool:
        return "method" in self.raw and "id" not in self.raw

    @property
    def is_response(self) -> bool:
        return "method" not in self.raw and ("result" in self.raw or "error" in self.raw)


class JSONRPCError(Exception):
    def __init__(self, code: int, message: str, id: Id = None, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.id, self.data = code, message, id, data

    def body(self) -> dict[str, Any]:
        return error(self.id, self.code, self.message, self.data)


def parse(body: bytes) -> Message | list[Message]:
    """Parse one message or a batch; raises JSONRPCError with the spec's code when invalid."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise JSONRPCError(PARSE_ERROR, f"Parse error: {exc}") from None
    deep = too_deep(value)
    if deep is not None:
        raise JSONRPCError(INVALID_REQUEST, f"Invalid Request: {depth_message(deep)}")
    if isinstance(value, list):
        if not value:
            raise JSONRPCError(INVALID_REQUEST, "Invalid Request: empty batch")
        return [validate(item) for item in value]
    return validate(value)


def validate(value: Any) -> Message:
    if not isinstance(value, dict):
        raise JSONRPCError(INVALID_REQUEST, "Invalid Request: a message must be a JSON object")
    msg_id = value.get("id")
    if msg_id is not None and (isinstance(msg_id, bool) or not isinstance(msg_id, (str, int))):
        raise JSONRPCError(INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    if value.get("jsonrpc") != "2.0":
        raise JSONRPCError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', msg_id)
    if "method" in value:
        if not isinstance(value["method"], str):
            raise JSONRPCError(INVALID_REQUEST, "Invalid Request: method must be a string", msg_id)
        if "params" in value and not isinstance(value["params"], (dict, list)):
            raise JSONRPCError(INVALID_REQUEST, "Invalid Request: params must be an object or array", msg_id)
    elif not ("result" in value) ^ ("error" in value):
        raise JSONRPCError(INVALID_REQUEST, "Invalid Request: needs a method, or exactly one of result/error", msg_id)
    return Message(value)


def request(id: Id, method: str, params: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return body


def notification(method: str, params: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    return body


def result(id: Id, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "result": value}


def error(id: Id, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": err}
