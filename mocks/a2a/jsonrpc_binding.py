"""The v1.0 JSON-RPC binding: method names of the ``A2AService`` proto, params and results in ProtoJSON.

Each handler reads its params (``params``), calls the agent's ``AgentService`` and returns the
result mapping; the two streaming methods return an async iterator of ``StreamResponse`` mappings
that ``app`` frames as server-sent events.
"""

from typing import Any
from urllib.parse import urlparse

from aigw.mocks.a2a import errors, params as p
from aigw.mocks.a2a.service import AgentService, Call
from aigw.mocks.a2a.tasks import STATES

STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})


def push_config(value: Any, where: str, task_id: str | None = None) -> dict[str, Any]:
    """A ``TaskPushNotificationConfig``: a URL to call back, an optional token and authentication."""
    value = p.as_object(value, where)
    url = p.string(value, "url", required=True)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise errors.invalid_params(f"{where}.url must be an absolute http(s) URL, got {url!r}")
    config: dict[str, Any] = {"url": url}
    for name in ("id", "token"):
        if p.string(value, name):
            config[name] = p.string(value, name)
    auth = p.get(value, "authentication")
    if auth is not None:
        auth = p.as_object(auth, f"{where}.authentication")
        config["authentication"] = {"scheme": p.string(auth, "scheme", required=True)}
        if p.string(auth, "credentials"):
            config["authentication"]["credentials"] = p.string(auth, "credentials")
    if task_id:
        config["taskId"] = task_id
    return config


def send_configuration(params: dict[str, Any]) -> dict[str, Any]:
    value = p.as_object(p.get(params, "configuration"), "configuration")
    config: dict[str, Any] = {"historyLength": p.integer(value, "historyLength"),
                              "returnImmediately": bool(p.boolean(value, "returnImmediately"))}
    modes = p.get(value, "acceptedOutputModes")
    if modes is not None and (not isinstance(modes, list) or not all(isinstance(m, str) for m in modes)):
        raise errors.invalid_params("configuration.acceptedOutputModes must be an array of strings")
    push = p.get(value, "taskPushNotificationConfig")
    if push is not None:
        config["push"] = push_config(push, "configuration.taskPushNotificationConfig")
    return config


async def send_message(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return await service.send(p.message(params), send_configuration(params), p.metadata(params), call.sleep)


async def send_streaming_message(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return service.stream(p.message(params), send_configuration(params), p.metadata(params), call.sleep)


async def get_task(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return service.get(p.string(params, "id", required=True), p.integer(params, "historyLength"))


async def cancel_task(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    p.metadata(params)
    return service.cancel(p.string(params, "id", required=True))


async def subscribe_to_task(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return service.subscribe(p.string(params, "id", required=True), call.sleep)


def task_state(value: Any) -> str | None:
    if value is None or value in (0, "TASK_STATE_UNSPECIFIED", ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < len(STATES):
        return STATES[value]
    if value in STATES:
        return value
    raise errors.invalid_params(f"status must be a TaskState name such as TASK_STATE_WORKING, got {value!r}")


async def list_tasks(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    query = {
        "contextId": p.string(params, "contextId"),
        "status": task_state(p.get(params, "status")),
        "pageSize": p.integer(params, "pageSize", 1, 100),
        "pageToken": p.string(params, "pageToken"),
        "historyLength": p.integer(params, "historyLength"),
        "statusTimestampAfter": p.timestamp(params, "statusTimestampAfter"),
        "includeArtifacts": p.boolean(params, "includeArtifacts"),
    }
    return service.list_tasks(query)


async def create_push_config(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    task_id = p.string(params, "taskId", required=True)
    return service.create_push(push_config(params, "params", task_id))


async def get_push_config(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    return service.get_push(p.string(params, "taskId", required=True), p.string(params, "id", required=True))


async def list_push_configs(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    p.integer(params, "pageSize")
    return {"configs": service.list_push(p.string(params, "taskId", required=True)), "nextPageToken": ""}


async def delete_push_config(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    service.require_push()
    service.delete_push(p.string(params, "taskId", required=True), p.string(params, "id", required=True))
    return {}


async def get_extended_agent_card(service: AgentService, params: dict[str, Any], call: Call) -> Any:
    return service.extended_card(call)


METHODS = {
    "SendMessage": send_message,
    "SendStreamingMessage": send_streaming_message,
    "GetTask": get_task,
    "ListTasks": list_tasks,
    "CancelTask": cancel_task,
    "SubscribeToTask": subscribe_to_task,
    "CreateTaskPushNotificationConfig": create_push_config,
    "GetTaskPushNotificationConfig": get_push_config,
    "ListTaskPushNotificationConfigs": list_push_configs,
    "DeleteTaskPushNotificationConfig": delete_push_config,
    "GetExtendedAgentCard": get_extended_agent_card,
}
