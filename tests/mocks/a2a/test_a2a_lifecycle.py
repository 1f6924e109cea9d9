"""Tasks progress on the virtual clock: SUBMITTED → WORKING → COMPLETED, INPUT_REQUIRED, FAILED, REJECTED.

The slow mock gives every task 30 s of work, so nothing finishes unless the admin API advances the
clock — which makes each intermediate state observable without sleeping.
"""

import pytest

from a2a_helpers import a2a_config, advance_clock, rpc, send, stream
from conftest import running_mock


@pytest.fixture
def slow_a2a_mock():
    with running_mock(a2a_config(work_seconds=30)) as started:
        yield started


def state(base, task_id, agent="assistant"):
    return rpc(base, "GetTask", {"id": task_id}, agent)["result"]["status"]["state"]


def test_a2a_task_progresses_only_as_the_virtual_clock_moves(slow_a2a_mock):
    base, _ = slow_a2a_mock
    task = send(base, "What is an AI gateway?")["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_SUBMITTED"
    advance_clock(base, 5)
    assert state(base, task["id"]) == "TASK_STATE_WORKING"
    working = rpc(base, "GetTask", {"id": task["id"]})["result"]
    assert "artifacts" not in working
    advance_clock(base, 25)
    done = rpc(base, "GetTask", {"id": task["id"]})["result"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED" and done["artifacts"][0]["parts"][0]["text"]
    assert [m["role"] for m in done["history"]] == ["ROLE_USER", "ROLE_AGENT"]


def test_a2a_fail_and_reject_skills_end_their_tasks(slow_a2a_mock):
    base, _ = slow_a2a_mock
    failing = send(base, "Please fail this")["result"]["task"]
    rejected = send(base, "Please reject this")["result"]["task"]
    assert rejected["status"]["state"] == "TASK_STATE_REJECTED"
    advance_clock(base, 30)
    failed = rpc(base, "GetTask", {"id": failing["id"]})["result"]
    assert failed["status"]["state"] == "TASK_STATE_FAILED" and "failed" in failed["status"]["message"]["parts"][0]["text"]


def test_a2a_input_required_then_follow_up_in_same_context_completes(slow_a2a_mock):
    base, _ = slow_a2a_mock
    task = send(base, "Book a meeting room")["result"]["task"]
    advance_clock(base, 30)
    assert state(base, task["id"]) == "TASK_STATE_INPUT_REQUIRED"
    follow = send(base, "Tomorrow at ten", "msg-2", taskId=task["id"], contextId=task["contextId"])["result"]["task"]
    assert follow["id"] == task["id"] and follow["status"]["state"] == "TASK_STATE_WORKING"
    advance_clock(base, 30)
    assert state(base, task["id"]) == "TASK_STATE_COMPLETED"


def test_a2a_cancel_list_and_subscribe_while_working(slow_a2a_mock):
    base, _ = slow_a2a_mock
    ids = [send(base, f"question {i}", f"m{i}", contextId="ctx-list")["result"]["task"]["id"] for i in range(3)]
    advance_clock(base, 5)
    working = rpc(base, "ListTasks", {"contextId": "ctx-list", "status": "TASK_STATE_WORKING"})["result"]
    assert {t["id"] for t in working["tasks"]} == set(ids)
    assert rpc(base, "CancelTask", {"id": ids[0]})["result"]["status"]["state"] == "TASK_STATE_CANCELED"
    canceled = rpc(base, "ListTasks", {"contextId": "ctx-list", "status": "TASK_STATE_CANCELED"})["result"]
    assert [t["id"] for t in canceled["tasks"]] == [ids[0]]
    # subscribe in a second thread of control: the stream ends when the clock reaches the end
    import threading

    timer = threading.Timer(0.3, advance_clock, (base, 30))
    timer.start()
    events = [e["result"] for e in stream(base, "SubscribeToTask", {"id": ids[1]})]
    timer.join()
    assert events[0]["task"]["status"]["state"] == "TASK_STATE_WORKING"
    assert "artifactUpdate" in events[1] and events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_a2a_replies_are_deterministic_by_seed():
    def run(seed):
        config = a2a_config(work_seconds=0).model_copy(update={"seed": seed})
        with running_mock(config) as (base, _):
            task = send(base, "Summarise the gateway", wait=True)["result"]["task"]
            return task["id"], task["artifacts"][0]["parts"][0]["text"]

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first[1] != other[1] and first[0] != other[0]


def test_a2a_push_config_crud(slow_a2a_mock):
    base, _ = slow_a2a_mock
    task = send(base, "notify me")["result"]["task"]
    created = rpc(base, "CreateTaskPushNotificationConfig",
                  {"taskId": task["id"], "url": "http://127.0.0.1:9/hook", "token": "t",
                   "authentication": {"scheme": "Bearer", "credentials": "c"}})["result"]
    assert created["taskId"] == task["id"] and created["id"]
    got = rpc(base, "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": created["id"]})["result"]
    assert got == created
    listed = rpc(base, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})["result"]
    assert listed == {"configs": [created], "nextPageToken": ""}
    assert rpc(base, "DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": created["id"]})["result"] == {}
    missing = rpc(base, "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": created["id"]})
    assert missing["error"]["code"] == -32001
    bad_url = rpc(base, "CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": "not a url"})
    assert bad_url["error"]["code"] == -32602
