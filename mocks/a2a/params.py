"""Reading v1.0 request params: the ProtoJSON rules, with a clear -32602 for anything malformed.

ProtoJSON accepts a field under its lowerCamelCase name or its proto name (``historyLength`` or
``history_length``) and ignores unknown fields; an empty string is the same as an absent field.
Everything a handler relies on is checked here, before any work starts.
"""

import base64
import binascii
from datetime import datetime
from typing import Any

from aigw.mocks.a2a.errors import invalid_params

ROLES = ("ROLE_USER", "ROLE_AGENT")
PART_KINDS = ("text", "raw", "url", "data")


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def get(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    return params.get(_snake(name)) if value is None else value


def as_object(params: Any, what: str = "params") -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise invalid_params(f"{what} must be an object")
    return params


def string(params: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = get(params, name)
    if value is None or value == "":
        if required:
            raise invalid_params(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise invalid_params(f"{name} must be a string")
    return value


def integer(params: dict[str, Any], name: str, low: int = 0, high: int = 2**31 - 1) -> int | None:
    value = get(params, name)
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit():  # ProtoJSON allows int32 as a string
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_params(f"{name} must be an integer")
    if not low <= value <= high:
        raise invalid_params(f"{name} must be between {low} and {high}, got {value}")
    return value


def boolean(params: dict[str, Any], name: str) -> bool | None:
    value = get(params, name)
    if value is not None and not isinstance(value, bool):
        raise invalid_params(f"{name} must be a boolean")
    return value


def timestamp(params: dict[str, Any], name: str) -> datetime | None:
    value = string(params, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_params(f"{name} must be an RFC 3339 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        raise invalid_params(f"{name} must carry a time zone (e.g. a trailing Z), got {value!r}")
    return parsed


def metadata(params: dict[str, Any], name: str = "metadata") -> dict[str, Any] | None:
    value = get(params, name)
    if value is not None and not isinstance(value, dict):
        raise invalid_params(f"{name} must be an object")
    return value or None


def part(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_params(f"{where} must be an object")
    kinds = [k for k in PART_KINDS if k in value]
    if len(kinds) != 1:
        raise invalid_params(f"{where} must have exactly one of text, raw, url, data; has {kinds or 'none'}")
    kind = kinds[0]
    if kind in ("text", "raw", "url") and not isinstance(value[kind], str):
        raise invalid_params(f"{where}.{kind} must be a string")
    if kind == "raw":
        raw = value["raw"].replace("-", "+").replace("_", "/")
        try:
            base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise invalid_params(f"{where}.raw must be base64") from None
    for name in ("mediaType", "filename"):
        if string(value, name) is None and get(value, name) not in (None, ""):
            raise invalid_params(f"{where}.{name} must be a string")
    metadata(value)
    clean = {kind: value[kind]}
    for name in ("mediaType", "filename"):
        if string(value, name):
            clean[name] = string(value, name)
    if value.get("metadata"):
        clean["metadata"] = value["metadata"]
    return clean


def message(params: dict[str, Any]) -> dict[str, Any]:
    """The ``message`` of a SendMessageRequest, normalised to lowerCamelCase."""
    value = get(params, "message")
    if value is None:
        raise invalid_params("message is required")
    if not isinstance(value, dict):
        raise invalid_params("message must be an object")
    message_id = string(value, "messageId", required=True)
    role = get(value, "role")
    if role not in ROLES:
        raise invalid_params(f"message.role must be one of {', '.join(ROLES)}, got {role!r}")
    parts = get(value, "parts")
    if not isinstance(parts, list) or not parts:
        raise invalid_params("message.parts must be a non-empty array")
    clean: dict[str, Any] = {"messageId": message_id, "role": role,
                             "parts": [part(p, f"message.parts[{i}]") for i, p in enumerate(parts)]}
    for name in ("contextId", "taskId"):
        if string(value, name):
            clean[name] = string(value, name)
    for name in ("extensions", "referenceTaskIds"):
        items = get(value, name)
        if items is not None:
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise invalid_params(f"message.{name} must be an array of strings")
            if items:
                clean[name] = items
    if metadata(value):
        clean["metadata"] = value["metadata"]
    return clean


def media_type(part_value: dict[str, Any]) -> str | None:
    if "mediaType" in part_value:
        return part_value["mediaType"]
    return {"text": "text/plain", "data": "application/json"}.get(next(iter(part_value)))


def accepts(modes: list[str], media: str) -> bool:
    kind = media.split(";")[0].strip().lower()
    for mode in modes:
        mode = mode.lower()
        if mode in ("*/*", kind) or (mode.endswith("/*") and kind.startswith(mode[:-1])):
            return True
    return False
