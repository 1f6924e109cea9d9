"""Our mirror of the A2A TCK's MUST-level checks for the JSON-RPC binding (a2aproject/a2a-tck).

Each test is named after the TCK requirement it mirrors (tck/requirements/*.py and
tests/compatibility/**). The TCK drives the agent under test by ``messageId`` prefixes
(scenarios/core_operations.feature: ``tck-complete-task``, ``tck-input-required``, ...), which the
mock honours, so these requests are the TCK's own. The agent card is read from the root, as the
TCK does with ``--sut-host``.
"""

import httpx
import pytest

from a2a_helpers import a2a_config, rpc, stream, user_message
from conftest import running_mock


@pytest.fixture(scope="module")
def sut():
    with running_mock(a2a_config(work_seconds=0.5)) as (url, _):
        card = httpx.get(f"{url}/.well-known/agent-card.json").json()
        yield card["supportedInterfaces"][0]["url"], card


def send(endpoint, message, configuration=None, headers=None):
    params = {"message": message, **({"configuration": configuration} if configuration else {})}
    return _post(endpoint, "SendMessage", params, headers)


def _post(endpoint, method, params, headers=None, id=1):
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
    return httpx.post(endpoint, json=body, headers={"A2A-Version": "1.0", **(headers or {})}, timeout=30).json()


def error_code(body):
    return body["error"]["code"]


def test_CARD_discovery_and_required_fields(sut):
    endpoint, card = sut
    for field in ("name", "description", "supportedInterfaces", "version", "capabilities", "defaultInputModes",
                  "defaultOutputModes", "skills"):
        assert field in card, field
    assert card["supportedInterfaces"][0]["protocolBinding"] == "JSONRPC"
    assert card["supportedInterfaces"][0]["protocolVersion"] == "1.0"
    assert all({"id", "name", "description", "tags"} <= set(s) for s in card["skills"])


def test_CORE_SEND_001_returns_task_or_message(sut):
    result = send(sut[0], user_message("Hello from TCK", "tck-complete-task-001"))["result"]
    assert set(result) == {"task"} and result["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert result["task"]["status"]["message"]["parts"] == [{"text": "Hello from TCK"}]
    direct = send(sut[0], user_message("hi", "tck-message-response-001"))["result"]
    assert direct["message"]["role"] == "ROLE_AGENT" and direct["message"]["parts"] == [{"text": "Direct message response"}]


def test_CORE_SEND_002_terminal_task_rejects_messages(sut):
    task = send(sut[0], user_message("done", "tck-complete-task-002"))["result"]["task"]
    again = send(sut[0], user_message("more", "tck-send-002", taskId=task["id"]))
    assert error_code(again) == -32004


def test_CORE_SEND_003_unsupported_media_type(sut):
    message = {"role": "ROLE_USER", "messageId": "tck-send-003",
               "parts": [{"raw": "dGNr", "mediaType": "application/x-unsupported-tck-type"}]}
    assert error_code(send(sut[0], message)) == -32005


def test_CORE_STREAM_001_002_003_streams(sut):
    endpoint = sut[0]
    base, agent = endpoint.rsplit("/a2a/", 1)
    events = [e["result"] for e in stream(base, "SendStreamingMessage",
                                          {"message": user_message("Stream", "tck-delayed-complete-s1")}, agent)]
    assert "task" in events[0] and events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    only = [e["result"] for e in stream(base, "SendStreamingMessage",
                                        {"message": user_message("m", "tck-message-response-s2")}, agent)]
    assert len(only) == 1 and "message" in only[0]


def test_CORE_GET_001_002(sut):
    task = send(sut[0], user_message("x", "tck-artifact-text-get"))["result"]["task"]
    got = _post(sut[0], "GetTask", {"id": task["id"]})["result"]
    assert got["id"] == task["id"] and got["artifacts"][0]["parts"][0]["text"] == "Generated text content"
    assert error_code(_post(sut[0], "GetTask", {"id": "tck-nonexistent-get-002"})) == -32001


def test_CORE_LIST_001_to_005(sut):
    context = "tck-list-context"
    ids = [send(sut[0], user_message("x", f"tck-artifact-text-l{i}", contextId=context))["result"]["task"]["id"]
           for i in range(3)]
    page = _post(sut[0], "ListTasks", {"contextId": context, "pageSize": 2})["result"]
    assert page["totalSize"] == 3 and page["pageSize"] == 2 and len(page["tasks"]) == 2 and page["nextPageToken"]
    rest = _post(sut[0], "ListTasks", {"contextId": context, "pageSize": 2, "pageToken": page["nextPageToken"]})["result"]
    assert rest["nextPageToken"] == "" and len(rest["tasks"]) == 1
    assert [t["id"] for t in page["tasks"] + rest["tasks"]] == ids[::-1]  # most recently updated first
    assert all("artifacts" not in t for t in page["tasks"])  # CORE-LIST-005: omitted unless includeArtifacts
    with_artifacts = _post(sut[0], "ListTasks", {"contextId": context, "includeArtifacts": True})["result"]
    assert all("artifacts" in t for t in with_artifacts["tasks"])
    timestamps = [t["status"]["timestamp"] for t in with_artifacts["tasks"]]
    assert timestamps == sorted(timestamps, reverse=True)


def test_CORE_CANCEL_001_002_003(sut):
    task = send(sut[0], user_message("need input", "tck-input-required-c1"))["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    canceled = _post(sut[0], "CancelTask", {"id": task["id"]})["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    assert error_code(_post(sut[0], "CancelTask", {"id": task["id"]})) == -32002
    assert error_code(_post(sut[0], "CancelTask", {"id": "tck-nonexistent-cancel-003"})) == -32001


def test_CORE_EXECUTION_MODE_001_002(sut):
    blocking = send(sut[0], user_message("b", "tck-delayed-complete-e1"), {"returnImmediately": False})
    assert blocking["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    immediate = send(sut[0], user_message("n", "tck-delayed-complete-e2"), {"returnImmediately": True})
    assert immediate["result"]["task"]["status"]["state"] in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")


def test_CORE_MULTI_001a_003_004_005_006(sut):
    first = send(sut[0], user_message("x", "tck-complete-task-m1"))["result"]["task"]
    second = send(sut[0], user_message("x", "tck-complete-task-m2"))["result"]["task"]
    assert first["contextId"] and first["id"] != second["id"]
    assert error_code(send(sut[0], user_message("x", "tck-multi-004", taskId="tck-nonexistent-multi-004"))) == -32001
    waiting = send(sut[0], user_message("x", "tck-input-required-m5"))["result"]["task"]
    resumed = send(sut[0], user_message("answer", "tck-m5-reply", taskId=waiting["id"]))["result"]["task"]
    assert resumed["contextId"] == waiting["contextId"]  # inferred from the task
    other = send(sut[0], user_message("x", "tck-input-required-m6"))["result"]["task"]
    mismatch = send(sut[0], user_message("x", "tck-m6", taskId=other["id"], contextId="some-other-context"))
    assert error_code(mismatch) == -32602


def test_CORE_HIST_002_history_length(sut):
    task = send(sut[0], user_message("x", "tck-complete-task-h1"))["result"]["task"]
    for length in (0, 1):
        got = _post(sut[0], "GetTask", {"id": task["id"], "historyLength": length})["result"]
        assert len(got.get("history", [])) <= length
    assert "history" not in send(sut[0], user_message("x", "tck-complete-task-h2"), {"historyLength": 0})["result"]["task"]


def test_CORE_CAP_001_push_not_supported(sut):
    base = sut[0].rsplit("/a2a/", 1)[0]
    body = rpc(base, "CreateTaskPushNotificationConfig", {"taskId": "t", "url": "https://example.com"}, "researcher")
    assert error_code(body) == -32003


def test_CORE_CAP_003_no_extended_card(sut):
    assert error_code(_post(sut[0], "GetExtendedAgentCard", {})) == -32004


def test_STREAM_SUB_subscribe_first_event_is_task_and_terminal_is_refused(sut):
    base, agent = sut[0].rsplit("/a2a/", 1)
    task = send(sut[0], user_message("x", "tck-delayed-complete-sub"), {"returnImmediately": True})["result"]["task"]
    events = [e["result"] for e in stream(base, "SubscribeToTask", {"id": task["id"]}, agent)]
    assert events[0]["task"]["id"] == task["id"]
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert error_code(rpc(base, "SubscribeToTask", {"id": task["id"]}, agent)) == -32004


def test_JSONRPC_SSE_002_error_code_mappings(sut):
    endpoint = sut[0]
    bad_type = httpx.post(endpoint, content=b"{'not': 'json'}", headers={"Content-Type": "text/plain"})
    assert bad_type.json()["error"]["code"] == -32005
    assert error_code(send(endpoint, user_message("v", "tck-error-code-009"), headers={"A2A-Version": "99.0"})) == -32009


def test_JSONRPC_ERR_003_error_data_is_error_info(sut):
    error = _post(sut[0], "GetTask", {"id": "tck-missing"})["error"]
    (info,) = error["data"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "TASK_NOT_FOUND" and info["domain"] == "a2a-protocol.org"


def test_VER_SERVER_002_003_versions(sut):
    message = user_message("v", "tck-complete-task-v")
    assert "result" in send(sut[0], message, headers={"A2A-Version": ""})  # empty: 0.3 default, still answered
    assert "result" in send(sut[0], message, headers={"A2A-Version": "1.0.7"})  # patch ignored
    assert error_code(send(sut[0], message, headers={"A2A-Version": "2.0"})) == -32009


def test_CORE_ERR_002_invalid_params_are_refused(sut):
    for params in ({}, {"message": {"role": "ROLE_USER", "parts": [{"text": "x"}]}},
                   {"message": {"role": "ROLE_BOSS", "messageId": "m", "parts": [{"text": "x"}]}},
                   {"message": {"role": "ROLE_USER", "messageId": "m", "parts": []}},
                   {"message": {"role": "ROLE_USER", "messageId": "m", "parts": [{"text": "x", "url": "y"}]}}):
        assert error_code(_post(sut[0], "SendMessage", params)) == -32602, params
