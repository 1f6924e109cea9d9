"""A2A v0.3 clients: slash method names, ``kind`` discriminators, validated against a2a.json v0.3.0.

Every response here is checked against the official v0.3.0 JSON Schema
(../shared/reference/upstream-specs/a2a.json), so a field v0.3 clients need cannot go missing.
"""

import json

import httpx
import jsonschema
import pytest

from a2a_helpers import a2a_config, advance_clock, stream
from conftest import running_mock, shared_dir

V03 = {"A2A-Version": "0.3"}


@pytest.fixture(scope="module")
def upstream():
    definitions = json.loads((shared_dir() / "reference/upstream-specs/a2a.json").read_text())["definitions"]

    def check(name, instance):
        schema = {"$ref": f"#/definitions/{name}", "definitions": definitions}
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(instance), key=str)
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"

    return check


@pytest.fixture(scope="module")
def base():
    with running_mock(a2a_config(work_seconds=30)) as (url, _):
        yield url


def call(base, method, params, id=1):
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
    return httpx.post(f"{base}/a2a/assistant", json=body, headers=V03).json()


def message(text, message_id="v03-1", **extra):
    return {"kind": "message", "role": "user", "messageId": message_id, "parts": [{"kind": "text", "text": text}], **extra}


def test_a2a_v03_card_validates_against_the_v03_schema(base, upstream):
    card = httpx.get(f"{base}/.well-known/agent-card.json").json()
    upstream("AgentCard", card)
    assert card["url"] == f"{base}/a2a/assistant" and card["preferredTransport"] == "JSONRPC"


def test_a2a_v03_send_get_cancel_and_push_configs(base, upstream):
    sent = call(base, "message/send", {"message": message("What is APIM?"), "configuration": {"blocking": False}})
    upstream("SendMessageSuccessResponse", sent)
    task = sent["result"]
    assert task["kind"] == "task" and task["status"]["state"] == "submitted"
    assert task["history"][0]["kind"] == "message" and task["history"][0]["role"] == "user"

    got = call(base, "tasks/get", {"id": task["id"], "historyLength": 1})
    upstream("GetTaskSuccessResponse", got)

    push = {"taskId": task["id"], "pushNotificationConfig": {"url": "http://127.0.0.1:9/hook",
                                                             "authentication": {"schemes": ["Bearer"]}}}
    created = call(base, "tasks/pushNotificationConfig/set", push)
    upstream("SetTaskPushNotificationConfigSuccessResponse", created)
    config_id = created["result"]["pushNotificationConfig"]["id"]
    upstream("GetTaskPushNotificationConfigSuccessResponse",
             call(base, "tasks/pushNotificationConfig/get", {"id": task["id"], "pushNotificationConfigId": config_id}))
    listed = call(base, "tasks/pushNotificationConfig/list", {"id": task["id"]})
    upstream("ListTaskPushNotificationConfigSuccessResponse", listed)
    deleted = call(base, "tasks/pushNotificationConfig/delete", {"id": task["id"], "pushNotificationConfigId": config_id})
    upstream("DeleteTaskPushNotificationConfigSuccessResponse", deleted)

    canceled = call(base, "tasks/cancel", {"id": task["id"]})
    upstream("CancelTaskSuccessResponse", canceled)
    assert canceled["result"]["status"]["state"] == "canceled"
    again = call(base, "tasks/cancel", {"id": task["id"]})
    upstream("JSONRPCErrorResponse", again)
    upstream("TaskNotCancelableError", again["error"])
    missing = call(base, "tasks/get", {"id": "nope"})
    upstream("TaskNotFoundError", missing["error"])


def test_a2a_v03_stream_and_resubscribe_carry_kind_and_final(base, upstream):
    import threading

    timer = threading.Timer(0.3, advance_clock, (base, 30))
    timer.start()
    events = stream(base, "message/stream", {"message": message("Stream please", "v03-2")}, headers=V03)
    timer.join()
    for event in events:
        upstream("SendStreamingMessageSuccessResponse", event)
    kinds = [e["result"]["kind"] for e in events]
    assert kinds[0] == "task" and "artifact-update" in kinds and kinds[-1] == "status-update"
    assert events[-1]["result"]["final"] is True and events[-1]["result"]["status"]["state"] == "completed"
    assert all(not e["result"]["final"] for e in events[1:-1] if e["result"]["kind"] == "status-update")

    timer = threading.Timer(0.3, advance_clock, (base, 30))
    timer.start()
    waiting = call(base, "message/send", {"message": message("Book a meeting room", "v03-3")})["result"]
    timer.join()
    assert waiting["status"]["state"] == "input-required"  # blocking by default in v0.3 too: waited for the clock


    def answer() -> None:  # while the resubscription is open: the follow-up resumes the task, the clock ends it
        follow_up = {**message("Tomorrow at ten", "v03-3b"), "taskId": waiting["id"]}
        call(base, "message/send", {"message": follow_up, "configuration": {"blocking": False}})
        advance_clock(base, 30)

    timer = threading.Timer(0.4, answer)
    timer.start()
    resumed = stream(base, "tasks/resubscribe", {"id": waiting["id"]}, headers=V03)
    timer.join()
    for event in resumed:
        upstream("SendStreamingMessageSuccessResponse", event)
    # interrupted is not the end of a resubscription: it stays open until the task is terminal (STREAM-SUB-002)
    assert resumed[0]["result"]["kind"] == "task" and resumed[0]["result"]["status"]["state"] == "input-required"
    assert resumed[-1]["result"]["final"] is True and resumed[-1]["result"]["status"]["state"] == "completed"


def test_a2a_v03_parts_round_trip_and_errors(base, upstream):
    parts = [{"kind": "text", "text": "hello"}, {"kind": "data", "data": {"k": 1}},
             {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "text/plain", "name": "a.txt"}}]
    sent = call(base, "message/send", {"message": {**message("x", "v03-4"), "parts": parts}})
    upstream("SendMessageSuccessResponse", sent)
    assert sent["result"]["kind"] == "message"  # "hello" selects the quick-reply skill
    bad_kind = call(base, "message/send", {"message": {**message("x", "v03-5"), "parts": [{"kind": "video"}]}})
    upstream("InvalidParamsError", bad_kind["error"])
    unknown = call(base, "tasks/list", {})
    upstream("MethodNotFoundError", unknown["error"])
    extended = call(base, "agent/getAuthenticatedExtendedCard", {})
    upstream("AuthenticatedExtendedCardNotConfiguredError", extended["error"])
