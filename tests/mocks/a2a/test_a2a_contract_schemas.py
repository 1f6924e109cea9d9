"""What the mock's agents serve satisfies our own contract: specs/schemas/a2a-*.json (via aigw.protocol.spec)."""

import threading

import httpx
import orjson
import pytest

from a2a_helpers import a2a_config, advance_clock, rpc, send, stream, user_message
from aigw.protocol.spec import validator
from conftest import running_mock


@pytest.fixture(scope="module")
def base():
    with running_mock(a2a_config(work_seconds=30)) as (url, _):
        yield url


def valid(name, instance):
    errors = [f"{e.instance_path}: {e.message}" for e in validator(name).iter_errors(instance)]
    assert not errors, (name, errors[:3], instance)


def test_a2a_cards_match_the_card_schema(base):
    valid("a2a-agent-card", httpx.get(f"{base}/.well-known/agent-card.json").json())
    valid("a2a-agent-card", httpx.get(f"{base}/a2a/researcher/.well-known/agent-card.json").json())


def test_a2a_v1_answers_match_the_response_schema(base):
    request = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
               "params": {"message": user_message("Book a room"), "configuration": {"returnImmediately": True}}}
    valid("a2a-request", request)
    sent = httpx.post(f"{base}/a2a/assistant", json=request, headers={"A2A-Version": "1.0"}).json()
    valid("a2a-response", sent)
    task_id = sent["result"]["task"]["id"]
    push = rpc(base, "CreateTaskPushNotificationConfig", {"taskId": task_id, "url": "http://127.0.0.1:9/hook"})
    for body in (rpc(base, "GetTask", {"id": task_id}), rpc(base, "ListTasks", {}), push,
                 rpc(base, "ListTaskPushNotificationConfigs", {"taskId": task_id}),
                 rpc(base, "DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": push["result"]["id"]}),
                 send(base, "hello", "m-direct"), rpc(base, "CancelTask", {"id": task_id}),
                 rpc(base, "CancelTask", {"id": task_id}), rpc(base, "NoSuchMethod", {})):
        valid("a2a-response", body)
    parse_error = httpx.post(f"{base}/a2a/assistant", content=b"{", headers={"content-type": "application/json"})
    valid("a2a-response", parse_error.json())


def test_a2a_stream_events_match_the_event_schema(base):
    for method, headers in (("SendStreamingMessage", None), ("message/stream", {"A2A-Version": "0.3"})):
        timer = threading.Timer(0.3, advance_clock, (base, 30))
        timer.start()
        message = user_message("Stream it", "m-s") if headers is None else {
            "kind": "message", "role": "user", "messageId": "m-s3", "parts": [{"kind": "text", "text": "Stream it"}]}
        events = stream(base, method, {"message": message}, headers=headers)
        timer.join()
        assert len(events) >= 3
        for event in events:
            valid("a2a-stream-event", event)


def test_a2a_v03_answers_match_the_response_schema(base):
    body = {"jsonrpc": "2.0", "id": "v", "method": "message/send", "params": {"message": {
        "kind": "message", "role": "user", "messageId": "m3", "parts": [{"kind": "text", "text": "Hi"}]}}}
    valid("a2a-request", body)
    answer = httpx.post(f"{base}/a2a/assistant", content=orjson.dumps(body),
                        headers={"content-type": "application/json"}).json()
    valid("a2a-response", answer)
