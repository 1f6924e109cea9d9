"""A2A v0.3 for older clients: the slash method names and ``kind``-tagged shapes of a2a.json v0.3.0.

Requests are translated to the v1.0 forms the core serves and results are translated back, so a task
created by a v0.3 client is the same task a v1.0 client reads. Differences that matter on the wire:
roles and states are lower-case words (``user``, ``input-required``), parts are tagged
``{"kind": "text"|"file"|"data"}``, a status update carries ``final``, a push config nests under
``pushNotificationConfig`` with ``authentication.schemes``, and ``blocking`` is the inverse of v1.0's
``returnImmediately``.
"""

from typing import Any, AsyncIterator

from aigw.mocks.a2a import errors, params as p
from aigw.mocks.a2a.jsonrpc_binding import push_config
from aigw.mocks.a2a.service import AgentService, Call
from aigw.mocks.a2a.tasks import is_final

ROLE_TO_V1 = {"user": "ROLE_USER", "agent": "ROLE_AGENT"}
ROLE_TO_V03 = {v: k for k, v in ROLE_TO_V1.items()}
STREAMING = frozenset({"message/stream", "tasks/resubscribe"})


def state_v03(state: str) -> str:
    return state.removeprefix("TASK_STATE_").lower().replace("_", "-").replace("unspecified", "unknown")


# --- v0.3 → v1.0 -------------------------------------------------------------------------------
def part_v1(value: Any, where: str) -> dict[str, Any]:
    value = p.as_object(value, where)
    kind = value.get("kind")
    if kind == "text":
        converted: dict[str, Any] = {"text": value.get("text")}
    elif kind == "data":
        if not isinstance(value.get("data"), dict):
            raise errors.invalid_params(f"{where}.data must be an object")
        converted = {"data": value["data"]}
    elif kind == "file":
        file = p.as_object(value.get("file"), f"{where}.file")
        if ("bytes" in file) == ("uri" in file):
            raise errors.invalid_params(f"{where}.file must have exactly one of bytes, uri")
        converted = {"raw": file["bytes"]} if "bytes" in file else {"url": file["uri"]}
        if file.get("mimeType") is not None:
            converted["mediaType"] = file["mimeType"]
        if file.get("name") is not None:
            converted["filename"] = file["name"]
    else:
        raise errors.invalid_params(f'{where}.kind must be "text", "file" or "data", got {kind!r}')
    if value.get("metadata") is not None:
        converted["metadata"] = value["metadata"]
    return converted


def message_v1(params: dict[str, Any]) -> dict[str, Any]:
    value = params.get("message")
    if not isinstance(value, dict):
        raise errors.invalid_params("message is required and must be an object")
    if value.get("kind") != "message":
        raise errors.invalid_params(f'message.kind must be "message", got {value.get("kind")!r}')
    if value.get("role") not in ROLE_TO_V1:
        raise errors.invalid_params(f'message.role must be "user" or "agent", got {value.get("role")!r}')
    parts = value.get("parts")
    if not isinstance(parts, list) or not parts:
        raise errors.invalid_params("message.parts must be a non-empty array")
    converted = {k: v for k, v in value.items() if k not in ("kind", "role", "parts")}
    converted["role"] = ROLE_TO_V1[value["role"]]
    converted["parts"] = [part_v1(part, f"message.parts[{i}]") for i, part in enumerate(parts)]
    return p.message({"message": converted})  # the v1.0 checks (ids, part contents) apply too


def push_v1(value: Any, where: str, task_id: str | None = None) -> dict[str, Any]:
    value = p.as_object(value, where)
    auth = value.get("authentication")
    if auth is not None:
        auth = p.as_object(auth, f"{where}.authentication")
        schemes = auth.get("schemes")
        if not isinstance(schemes, list) or not schemes or not all(isinstance(s, str) for s in schemes):
            raise errors.invalid_params(f"{where}.authentication.schemes must be a non-empty array of strings")
        value = {**value, "authentication": {"scheme": schemes[0], "credentials": auth.get("credentials")}}
    return push_config(value, where, task_id)


def send_config_v1(params: dict[str, Any]) -> dict[str, Any]:
    value = p.as_object(params.get("configuration"), "configuration")
    config: dict[str, Any] = {"historyLength": p.integer(value, "historyLength"),
                              "returnImmediately": p.boolean(value, "blocking") is False}
    if value.get("pushNotificationConfig") is not None:
        config["push"] = push_v1(value["pushNotificationConfig"], "configuration.pushNotificationConfig")
    return config


# --- v1.0 → v0.3 -------------------------------------------------------------------------------
def part_v03(part: dict[str, Any]) -> dict[str, Any]:
    if "text" in part:
        converted: dict[str, Any] = {"kind": "text", "text": part["text"]}
    elif "data" in part:
        data = part["data"]
        converted = {"kind": "data", "data": data if isinstance(data, dict) else {"value": data}}
    else:
        file = {"bytes": part["raw"]} if "raw" in part else {"uri": part["url"]}
        if part.get("mediaType"):
            file["mimeType"] = part["mediaType"]
        if part.get("filename"):
            file["name"] = part["filename"]
        converted = {"kind": "file", "file": file}
    if part.get("metadata"):
        converted["metadata"] = part["metadata"]
    return converted


def message_v03(message: dict[str, Any]) -> dict[str, Any]:
    converted = {k: v for k, v in message.items() if k not in ("role", "parts")}
    return {"kind": "message", **converted, "role": ROLE_TO_V03[message["role"]],
            "parts": [part_v03(x) for x in message["parts"]]}


def status_v03(status: dict[str, Any]) -> dict[str, Any]:
    converted = {"state": state_v03(status["state"]), "timestamp": status["timestamp"]}
    if "message" in status:
        converted["message"] = message_v03(status["message"])
    return converted


def artifact_v03(artifact: dict[str, Any]) -> dict[str, Any]:
    return {**artifact, "parts": [part_v03(x) for x in artifact["parts"]]}


def task_v03(task: dict[str, Any]) -> dict[str, Any]:
    converted = {"kind": "task", **task, "status": status_v03(task["status"])}
    if "artifacts" in task:
        converted["artifacts"] = [artifact_v03(a) for a in task["artifacts"]]
    if "history" in task:
        converted["history"] = [message_v03(m) for m in task["history"]]
    return converted


def event_v03(event: dict[str, Any]) -> dict[str, Any]:
    if "task" in event:
        return task_v03(event["task"])
    if "message" in event:
        return message_v03(event["message"])
    if "statusUpdate" in event:
        update = event["statusUpdate"]
        return {"kind": "status-update", "taskId": update["taskId"], "contextId": update["contextId"],
                "status": status_v03(update["status"]), "final": is_final(update["status"]["state"])}
    update = event["artifactUpdate"]
    return {"kind": "artifact-update", "taskId": update["taskId"], "contextId": update["contextId"],
            "artifact": artifact_v03(update["artifact"]), "append": False, "lastChunk": update.get("lastChunk", True)}


def push_v03(config: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in config.items() if k != "taskId"}
    if "authentication" in inner:
        auth = inner["authentication"]
        inner["authentication"] = {"schemes": [auth["scheme"]], **({"credentials": auth["credentials"]}
                                                                   if auth.get("credentials") else {})}
    return {"taskId": config["taskId"], "pushNotificationConfig": inner}


async def _translated(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for event in stream:
        yield event_v03(event)


# --- methods -----------------------------------------------------------------------------------
async def message_send(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    result = await service.send(message_v1(params), send_config_v1(params), p.metadata(params), call.sleep)
    return event_v03(result)


async def message_stream(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return _translated(service.stream(message_v1(params), send_config_v1(params), p.metadata(params), call.sleep))


async def tasks_get(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return task_v03(service.get(p.string(params, "id", required=True), p.integer(params, "historyLength")))


async def tasks_cancel(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return task_v03(service.cancel(p.string(params, "id", required=True)))


async def tasks_resubscribe(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return _translated(service.subscribe(p.string(params, "id", required=True), call.sleep))


async def push_set(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    task_id = p.string(params, "taskId", required=True)
    return push_v03(service.create_push(push_v1(params.get("pushNotificationConfig"), "pushNotificationConfig", task_id)))


async def push_get(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    task_id = p.string(params, "id", required=True)
    config_id = p.string(params, "pushNotificationConfigId")
    if config_id is None:  # TaskIdParams form: the task's first config
        configs = service.list_push(task_id)
        if not configs:
            raise errors.A2AError(errors.TASK_NOT_FOUND, f"Task {task_id} has no push notification config")
        return push_v03(configs[0])
    return push_v03(service.get_push(task_id, config_id))


async def push_list(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    return [push_v03(c) for c in service.list_push(p.string(params, "id", required=True))]


async def push_delete(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    service.delete_push(p.string(params, "id", required=True), p.string(params, "pushNotificationConfigId", required=True))
    return None


async def extended_card(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return service.extended_card(call, legacy=True)


METHODS = {
    "message/send": message_send,
    "message/stream": message_stream,
    "tasks/get": tasks_get,
    "tasks/cancel": tasks_cancel,
    "tasks/resubscribe": tasks_resubscribe,
    "tasks/pushNotificationConfig/set": push_set,
    "tasks/pushNotificationConfig/get": push_get,
    "tasks/pushNotificationConfig/list": push_list,
    "tasks/pushNotificationConfig/delete": push_delete,
    "agent/getAuthenticatedExtendedCard": extended_card,
}
