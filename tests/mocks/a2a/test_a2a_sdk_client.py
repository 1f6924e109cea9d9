"""Proof with the official ``a2a-sdk`` (1.x) client: card, send, stream, get, list and cancel.

The client resolves the card from the mock, picks the JSON-RPC interface at protocol 1.0, sends
``A2A-Version: 1.0`` and parses every answer into the SDK's protobuf types — so a shape the official
client cannot read fails here.
"""

import asyncio

import httpx
import pytest

a2a_client = pytest.importorskip("a2a.client", reason="a2a-sdk is a test extra: pip install 'aigw-suite[test]'")
from a2a.client import ClientConfig, create_client  # noqa: E402
from a2a.client.card_resolver import A2ACardResolver  # noqa: E402
from a2a.types import a2a_pb2 as pb  # noqa: E402
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError  # noqa: E402

from a2a_helpers import a2a_config  # noqa: E402
from conftest import running_mock  # noqa: E402


@pytest.fixture(scope="module")
def agent_url():
    with running_mock(a2a_config(work_seconds=0.3)) as (url, _):
        yield url


def user_message(text: str, message_id: str, task_id: str = "") -> pb.Message:
    return pb.Message(role=pb.Role.ROLE_USER, message_id=message_id, task_id=task_id, parts=[pb.Part(text=text)])


async def _client(url: str, streaming: bool):
    return await create_client(f"{url}/a2a/assistant", ClientConfig(streaming=streaming))


def test_sdk_resolves_the_card_of_the_default_agent_and_each_agent(agent_url):
    async def main():
        async with httpx.AsyncClient() as http:
            default = await A2ACardResolver(http, agent_url).get_agent_card()
            researcher = await A2ACardResolver(http, f"{agent_url}/a2a/researcher").get_agent_card()
        return default, researcher

    default, researcher = asyncio.run(main())
    assert default.name == "assistant" and default.capabilities.streaming and default.capabilities.push_notifications
    (interface,) = default.supported_interfaces
    assert (interface.url, interface.protocol_binding, interface.protocol_version) == (
        f"{agent_url}/a2a/assistant", "JSONRPC", "1.0")
    assert {s.id for s in default.skills} >= {"answer", "clarify", "fail"}
    assert set(default.security_schemes) == {"apiKey", "bearer"}
    assert default.security_schemes["apiKey"].api_key_security_scheme.name == "api-key"
    assert researcher.name == "researcher" and not researcher.capabilities.push_notifications


def test_sdk_sends_a_message_and_gets_the_completed_task(agent_url):
    async def main():
        client = await _client(agent_url, streaming=False)
        try:
            events = [e async for e in client.send_message(pb.SendMessageRequest(message=user_message("What is APIM?", "sdk-1")))]
            task = events[-1].task
            again = await client.get_task(pb.GetTaskRequest(id=task.id))
            listed = await client.list_tasks(pb.ListTasksRequest(context_id=task.context_id))
        finally:
            await client.close()
        return task, again, listed

    task, again, listed = asyncio.run(main())
    assert task.status.state == pb.TaskState.TASK_STATE_COMPLETED  # blocking send waited for the end
    assert task.artifacts[0].parts[0].text and task.status.message.role == pb.Role.ROLE_AGENT
    assert again.id == task.id and again.status.state == pb.TaskState.TASK_STATE_COMPLETED
    assert [t.id for t in listed.tasks] == [task.id] and listed.total_size == 1 and listed.next_page_token == ""


def test_sdk_consumes_a_stream_to_the_final_event(agent_url):
    async def main():
        client = await _client(agent_url, streaming=True)
        try:
            return [e async for e in client.send_message(pb.SendMessageRequest(message=user_message("Explain SSE", "sdk-2")))]
        finally:
            await client.close()

    events = asyncio.run(main())
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and events[0].task.status.state == pb.TaskState.TASK_STATE_SUBMITTED
    assert "artifact_update" in kinds
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states == [pb.TaskState.TASK_STATE_WORKING, pb.TaskState.TASK_STATE_COMPLETED]


def test_sdk_cancels_a_working_task_and_sees_the_spec_errors(agent_url):
    async def main():
        client = await _client(agent_url, streaming=False)
        try:
            request = pb.SendMessageRequest(message=user_message("Research this slowly", "sdk-3"),
                                            configuration=pb.SendMessageConfiguration(return_immediately=True))
            task = [e async for e in client.send_message(request)][-1].task
            canceled = await client.cancel_task(pb.CancelTaskRequest(id=task.id))
            with pytest.raises(TaskNotCancelableError):
                await client.cancel_task(pb.CancelTaskRequest(id=task.id))
            with pytest.raises(TaskNotFoundError):
                await client.get_task(pb.GetTaskRequest(id="no-such-task"))
        finally:
            await client.close()
        return task, canceled

    task, canceled = asyncio.run(main())
    assert task.status.state in (pb.TaskState.TASK_STATE_SUBMITTED, pb.TaskState.TASK_STATE_WORKING)
    assert canceled.status.state == pb.TaskState.TASK_STATE_CANCELED


def test_sdk_continues_a_task_that_asked_for_input(agent_url):
    async def main():
        client = await _client(agent_url, streaming=False)
        try:
            first = [e async for e in client.send_message(
                pb.SendMessageRequest(message=user_message("Book a meeting room", "sdk-4")))][-1].task
            second = [e async for e in client.send_message(
                pb.SendMessageRequest(message=user_message("Tomorrow 10:00, room 4", "sdk-5", task_id=first.id)))][-1].task
        finally:
            await client.close()
        return first, second

    first, second = asyncio.run(main())
    assert first.status.state == pb.TaskState.TASK_STATE_INPUT_REQUIRED
    assert second.id == first.id and second.context_id == first.context_id
    assert second.status.state == pb.TaskState.TASK_STATE_COMPLETED
    assert [m.message_id for m in second.history if m.role == pb.Role.ROLE_USER] == ["sdk-4", "sdk-5"]
