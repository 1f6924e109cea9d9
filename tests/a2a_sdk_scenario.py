"""Every A2A operation through the official ``a2a-sdk`` client, on a chosen binding, with a real webhook.

One scenario, run against the mock directly and through the gateway, for each binding the card
declares (``JSONRPC``, ``HTTP+JSON``): send (blocking), get, list, stream, cancel (and the errors of a
second cancel and of an unknown task), subscribe (open through INPUT_REQUIRED until the follow-up
completes the task), and push configs set/get/list/delete (twice: idempotent) — while the webhook
receiver collects what the agent POSTs. ``check`` asserts it all; the agent must work for
``work_seconds`` ≈ 0.3 so a returnImmediately task is still running when it is canceled.
"""

import asyncio
from typing import Any

import httpx
import pytest

pytest.importorskip("a2a.client", reason="a2a-sdk is a test extra: pip install 'aigw-suite[test]'")
from a2a.client import ClientConfig, create_client  # noqa: E402
from a2a.types import a2a_pb2 as pb  # noqa: E402
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError  # noqa: E402

from webhook_receiver import WebhookReceiver, states  # noqa: E402

S = pb.TaskState


def message(text: str, message_id: str, task_id: str = "") -> pb.Message:
    return pb.Message(role=pb.Role.ROLE_USER, message_id=message_id, task_id=task_id, parts=[pb.Part(text=text)])


def webhook(receiver: WebhookReceiver, path: str, task_id: str = "", config_id: str = "") -> pb.TaskPushNotificationConfig:
    return pb.TaskPushNotificationConfig(id=config_id, task_id=task_id, url=receiver.url + path, token=f"tok{path}",
                                         authentication=pb.AuthenticationInfo(scheme="Bearer", credentials=f"cred{path}"))


async def _last_task(client, request: pb.SendMessageRequest) -> pb.Task:
    return [e async for e in client.send_message(request)][-1].task


async def run(agent_url: str, binding: str, receiver: WebhookReceiver, headers: dict[str, str] | None = None,
              tag: str = "") -> dict[str, Any]:
    """Drive every operation; returns what was seen (``check`` asserts it)."""
    seen: dict[str, Any] = {"binding": binding}
    hook = f"/{binding.replace('+', '')}{tag}"
    requests: list[str] = []

    async def record(request: httpx.Request) -> None:
        requests.append(f"{request.method} {request.url.path}")

    seen["requests"] = requests
    async with httpx.AsyncClient(headers=headers or {}, timeout=20, event_hooks={"request": [record]}) as http:
        config = lambda streaming: ClientConfig(streaming=streaming, httpx_client=http,  # noqa: E731
                                                supported_protocol_bindings=[binding])
        client = await create_client(agent_url, config(False))
        streaming = await create_client(agent_url, config(True))
        try:
            inline = pb.SendMessageConfiguration(task_push_notification_config=webhook(receiver, hook + "/inline"))
            seen["task"] = await _last_task(client, pb.SendMessageRequest(message=message("What is APIM?", f"{hook}-1"),
                                                                          configuration=inline))
            seen["got"] = await client.get_task(pb.GetTaskRequest(id=seen["task"].id, history_length=1))
            seen["listed"] = await client.list_tasks(pb.ListTasksRequest(context_id=seen["task"].context_id))
            seen["stream"] = [e async for e in streaming.send_message(pb.SendMessageRequest(
                message=message("Explain SSE", f"{hook}-2")))]

            slow = pb.SendMessageRequest(message=message("Research this slowly", f"{hook}-3"),
                                         configuration=pb.SendMessageConfiguration(return_immediately=True))
            working = await _last_task(client, slow)
            seen["canceled"] = await client.cancel_task(pb.CancelTaskRequest(id=working.id))
            seen["errors"] = []
            for call in (lambda: client.cancel_task(pb.CancelTaskRequest(id=working.id)),
                         lambda: client.get_task(pb.GetTaskRequest(id="no-such-task"))):
                try:
                    await call()
                except (TaskNotCancelableError, TaskNotFoundError) as exc:
                    seen["errors"].append(type(exc).__name__)

            # push configs on a task waiting for input; the follow-up then produces the notifications
            ask = await _last_task(client, pb.SendMessageRequest(message=message("Book a meeting room", f"{hook}-4")))
            seen["ask"] = ask
            created = await client.create_task_push_notification_config(webhook(receiver, hook + "/later", ask.id, "cfg-1"))
            seen["push_created"] = created
            seen["push_got"] = await client.get_task_push_notification_config(
                pb.GetTaskPushNotificationConfigRequest(task_id=ask.id, id=created.id))
            seen["push_listed"] = await client.list_task_push_notification_configs(
                pb.ListTaskPushNotificationConfigsRequest(task_id=ask.id))
            spare = await client.create_task_push_notification_config(webhook(receiver, hook + "/deleted", ask.id, "cfg-2"))
            for _ in range(2):  # idempotent: the second delete of the same config succeeds too
                await client.delete_task_push_notification_config(
                    pb.DeleteTaskPushNotificationConfigRequest(task_id=ask.id, id=spare.id))
            seen["push_after_delete"] = await client.list_task_push_notification_configs(
                pb.ListTaskPushNotificationConfigsRequest(task_id=ask.id))

            # subscribe while it waits for input: the stream must stay open until the task is terminal
            subscribed: list[pb.StreamResponse] = []

            async def follow() -> None:
                async for event in streaming.subscribe(pb.SubscribeToTaskRequest(id=ask.id)):
                    subscribed.append(event)

            follower = asyncio.create_task(follow())
            while not subscribed:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            seen["open_while_input_required"] = not follower.done()
            seen["answer"] = await _last_task(client, pb.SendMessageRequest(
                message=message("Tomorrow 10:00, room 4", f"{hook}-5", ask.id)))
            await asyncio.wait_for(follower, 15)
            seen["subscribed"] = subscribed
        finally:
            await client.close()
            await streaming.close()
    seen["inline"] = receiver.wait_for(hook + "/inline", 4)
    seen["later"] = receiver.wait_for(hook + "/later", 3)
    seen["deleted"] = receiver.at(hook + "/deleted")
    seen["hook"] = hook
    return seen


def check(seen: dict[str, Any]) -> None:
    task = seen["task"]
    assert task.status.state == S.TASK_STATE_COMPLETED and task.artifacts[0].parts[0].text
    assert seen["got"].id == task.id and len(seen["got"].history) == 1
    assert [t.id for t in seen["listed"].tasks] == [task.id]
    kinds = [e.WhichOneof("payload") for e in seen["stream"]]
    assert kinds[0] == "task" and "artifact_update" in kinds
    assert [e.status_update.status.state for e in seen["stream"] if e.HasField("status_update")] == [
        S.TASK_STATE_WORKING, S.TASK_STATE_COMPLETED]
    assert seen["canceled"].status.state == S.TASK_STATE_CANCELED
    assert seen["errors"] == ["TaskNotCancelableError", "TaskNotFoundError"]

    ask, hook = seen["ask"], seen["hook"]
    assert ask.status.state == S.TASK_STATE_INPUT_REQUIRED
    created = seen["push_created"]
    assert (created.id, created.task_id, created.authentication.scheme) == ("cfg-1", ask.id, "Bearer")
    assert seen["push_got"] == created and list(seen["push_listed"].configs) == [created]
    assert list(seen["push_after_delete"].configs) == [created]

    assert seen["open_while_input_required"], "SubscribeToTask closed while the task only waited for input"
    subscribed = seen["subscribed"]
    assert subscribed[0].task.status.state == S.TASK_STATE_INPUT_REQUIRED
    assert [e.status_update.status.state for e in subscribed if e.HasField("status_update")] == [
        S.TASK_STATE_WORKING, S.TASK_STATE_COMPLETED]
    assert seen["answer"].status.state == S.TASK_STATE_COMPLETED

    # the webhooks: every change, in order, with the configured credentials; nothing after a delete
    assert states(seen["inline"]) == ["task:TASK_STATE_SUBMITTED", "status:TASK_STATE_WORKING", "artifact",
                                      "status:TASK_STATE_COMPLETED"]
    assert states(seen["later"]) == ["status:TASK_STATE_WORKING", "artifact", "status:TASK_STATE_COMPLETED"]
    for path, received in ((hook + "/inline", seen["inline"]), (hook + "/later", seen["later"])):
        for item in received:
            assert item.headers["authorization"] == f"Bearer cred{path}"
            assert item.headers["x-a2a-notification-token"] == f"tok{path}"
            assert item.headers["content-type"] == "application/json"
    for item in seen["later"]:
        assert (item.body.get("statusUpdate") or item.body.get("artifactUpdate"))["taskId"] == ask.id
    assert seen["deleted"] == []
    # the SDK used the binding it was asked for, as the card declared it
    calls = [r for r in seen["requests"] if "agent-card.json" not in r]
    rest = [r for r in calls if ":send" in r or "/tasks" in r or ":stream" in r]
    if seen["binding"] == "HTTP+JSON":
        assert {"POST /message:send", "POST /message:stream", "GET /tasks"} <= {
            r.split(" ")[0] + " /" + r.rsplit("/", 1)[-1] for r in rest}, seen["requests"]
    else:
        assert rest == [] and all(r.startswith("POST ") for r in calls), calls
