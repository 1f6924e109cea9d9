"""A2A v1.0 requirements the mock must meet, one test per requirement group, named by its ids.

Ids are the specification's / TCK's (a2aproject/a2a-tck ``tck/requirements``): PUSH-DELIVER-001..003
(delivery with credentials, at least once, StreamResponse payloads) and the mock's own delivery
guarantees (retries with backoff, order per task, never on the request path, loopback-only webhooks),
PUSH-DEL-002 (idempotent delete), STREAM-SUB-002 (a subscription ends at a terminal state only),
CARD-CACHE-001..003 (Cache-Control/max-age, ETag, Last-Modified), CORE-HIST-005/006 (follow-ups
steered like first messages; history in order and as exchanged), the v1.0 error codes -32004..-32009
on their conditions, and the HTTP+JSON binding's paths and status mapping (§5.4, §11).
"""

import threading
import time

import httpx
import pytest

from a2a_helpers import a2a_config, rpc, stream, user_message
from conftest import ADMIN, running_mock
from webhook_receiver import WebhookReceiver, states

EXTENSION = "urn:aigw:test:required"


def _config():
    config = a2a_config(work_seconds=0.3, push={"backoff_seconds": 0.2, "max_backoff_seconds": 0.4,
                                                 "max_attempts": 3, "timeout_seconds": 2}).model_dump()
    config["a2a"]["agents"].append({
        "name": "strict", "description": "Requires an extension; has an extended card; one skill answers garbage.",
        "extensions": [{"uri": EXTENSION, "required": True, "description": "for tests"},
                       {"uri": "urn:aigw:test:optional"}],
        "extended_card": True,
        "extended_skills": [{"id": "secret", "name": "Secret", "description": "Only on the extended card."}],
        "skills": [{"id": "ok", "name": "OK", "description": "Completes."},
                   {"id": "broken", "name": "Broken", "description": "Answers nothing valid.", "keywords": ["garbage"],
                    "behaviour": "invalid"}]})
    config["a2a"]["agents"].append({"name": "declared", "description": "Declares an extended card, has none.",
                                    "extended_card": True, "skills": [{"id": "x", "name": "X", "description": "X"}]})
    return type(a2a_config()).model_validate(config)


@pytest.fixture(scope="module")
def base():
    with running_mock(_config()) as (url, _):
        yield url


@pytest.fixture(scope="module")
def receiver():
    webhooks = WebhookReceiver()
    yield webhooks
    webhooks.close()


def deliveries(base: str, agent: str = "assistant", **filters: str) -> list[dict]:
    response = httpx.get(f"{base}/_mock/a2a/{agent}/deliveries", params=filters, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def push_send(base: str, text: str, message_id: str, url: str, **config) -> dict:
    push = {"url": url, "token": "tok", "authentication": {"scheme": "Bearer", "credentials": "secret"}, **config}
    params = {"message": user_message(text, message_id),
              "configuration": {"returnImmediately": True, "taskPushNotificationConfig": push}}
    return rpc(base, "SendMessage", params)


# --- push delivery ------------------------------------------------------------------------------

def test_PUSH_DELIVER_001_002_003_every_change_in_order_with_credentials(base, receiver):
    task = push_send(base, "What is a gateway?", "pd-1", receiver.url + "/pd1")["result"]["task"]
    got = receiver.wait_for("/pd1", 4)
    assert states(got) == ["task:TASK_STATE_SUBMITTED", "status:TASK_STATE_WORKING", "artifact",
                           "status:TASK_STATE_COMPLETED"]
    assert all(r.headers["authorization"] == "Bearer secret" and r.headers["x-a2a-notification-token"] == "tok"
               for r in got)
    assert got[0].body["task"]["id"] == task["id"] and got[2].body["artifactUpdate"]["taskId"] == task["id"]
    logged = deliveries(base, task=task["id"])
    assert [d["sequence"] for d in logged] == [1, 2, 3, 4] and {d["state"] for d in logged} == {"delivered"}
    assert logged[0]["headers"]["Authorization"].startswith("Bearer <sha256:")  # the secret is never shown
    assert "secret" not in str(logged) and logged[1]["event"] == got[1].body


def test_push_retries_with_backoff_then_delivers_in_order(base, receiver):
    receiver.fail("/retry", 503, 503)  # the first notification needs three tries; the rest must wait behind it
    task = push_send(base, "Explain retries", "pd-2", receiver.url + "/retry")["result"]["task"]
    got = receiver.wait_for("/retry", 4)
    assert states(got) == ["task:TASK_STATE_SUBMITTED", "status:TASK_STATE_WORKING", "artifact",
                           "status:TASK_STATE_COMPLETED"]
    first = deliveries(base, task=task["id"])[0]
    assert [a["status"] for a in first["attempts"]] == [503, 503, 200] and first["state"] == "delivered"


def test_push_gives_up_after_max_attempts_and_never_blocks_the_request(base):
    started = time.monotonic()
    task = push_send(base, "Is anyone there", "pd-3", "http://127.0.0.1:9/nobody-listens")["result"]["task"]
    assert time.monotonic() - started < 5  # generous: three tries with backoff would take longer than the request
    pending = deliveries(base, task=task["id"])
    assert pending and pending[0]["state"] == "pending"  # still being tried after the request was answered
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and deliveries(base, task=task["id"])[0]["state"] == "pending":
        time.sleep(0.1)
    failed = deliveries(base, task=task["id"])[0]
    assert failed["state"] == "failed" and len(failed["attempts"]) == 3
    assert all(a["status"] is None and a["error"] for a in failed["attempts"])


def test_push_4xx_is_final_and_a_deleted_config_gets_nothing_more(base, receiver):
    receiver.fail("/gone", 410)
    task = push_send(base, "Book a meeting room", "pd-4", receiver.url + "/gone")["result"]["task"]
    receiver.wait_for("/gone", 2)  # WORKING and INPUT_REQUIRED arrive; the task snapshot was refused with 410
    first = deliveries(base, task=task["id"])[0]
    assert first["state"] == "failed" and [a["status"] for a in first["attempts"]] == [410]  # not retried
    sent = len(deliveries(base, task=task["id"]))
    rpc(base, "DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": first["configId"]})
    answered = rpc(base, "SendMessage", {"message": user_message("Tomorrow", "pd-4b", taskId=task["id"])})
    assert answered["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    time.sleep(0.5)
    assert len(deliveries(base, task=task["id"])) == sent and len(receiver.at("/gone")) == 2


def test_push_webhooks_are_loopback_only_by_default(base, receiver):
    task = rpc(base, "SendMessage", {"message": user_message("x", "pd-5"),
                                     "configuration": {"returnImmediately": True}})["result"]["task"]
    for url in ("http://10.0.0.8/hook", "http://169.254.169.254/latest", "https://example.com/hook",
                "http://user:pw@127.0.0.1/hook", "ftp://127.0.0.1/x"):
        refused = rpc(base, "CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": url})
        assert refused["error"]["code"] == -32602, url
    inline = push_send(base, "x", "pd-6", "http://192.168.1.1/hook")
    assert inline["error"]["code"] == -32602 and "allowed_hosts" in inline["error"]["message"]
    ok = rpc(base, "CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": "http://localhost:9/h"})
    assert ok["result"]["url"] == "http://localhost:9/h"


def test_push_config_validation_of_allowed_hosts():
    with pytest.raises(ValueError, match="neither an IP network"):
        a2a_config(push={"allowed_hosts": ["not a host!"]})
    a2a_config(push={"allowed_hosts": ["10.0.0.0/8", "*.internal.example", "*"]})


def test_PUSH_DEL_002_delete_is_idempotent(base):
    task = rpc(base, "SendMessage", {"message": user_message("x", "pdel"),
                                     "configuration": {"returnImmediately": True}})["result"]["task"]
    created = rpc(base, "CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": "http://127.0.0.1:9/x"})
    for _ in range(2):
        assert rpc(base, "DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": created["result"]["id"]}) \
            == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert rpc(base, "DeleteTaskPushNotificationConfig", {"taskId": "no-task", "id": "x"})["error"]["code"] == -32001
    gone = httpx.delete(f"{base}/a2a/assistant/tasks/{task['id']}/pushNotificationConfigs/never-was")
    assert gone.status_code == 200 and gone.json() == {}


# --- subscriptions, history, steering -------------------------------------------------------------

@pytest.mark.parametrize("binding", ["jsonrpc", "http_json"])
def test_STREAM_SUB_002_subscription_stays_open_through_input_required(base, binding):
    task = rpc(base, "SendMessage", {"message": user_message("Book a meeting room", f"sub-{binding}")})["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"

    def answer() -> None:  # sent while the subscription is open
        rpc(base, "SendMessage", {"message": user_message("At noon", f"sub-{binding}-b", taskId=task["id"]),
                                  "configuration": {"returnImmediately": True}})

    timer = threading.Timer(0.4, answer)
    timer.start()
    if binding == "jsonrpc":
        events = [e["result"] for e in stream(base, "SubscribeToTask", {"id": task["id"]})]
    else:
        events = _rest_stream(f"{base}/a2a/assistant/tasks/{task['id']}:subscribe")
    timer.join()
    assert events[0]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert [e["statusUpdate"]["status"]["state"] for e in events if "statusUpdate" in e] == [
        "TASK_STATE_WORKING", "TASK_STATE_COMPLETED"], events


def _rest_stream(url: str) -> list[dict]:
    import orjson

    from aigw.protocol.sse import decode_all

    response = httpx.get(url, headers={"A2A-Version": "1.0"}, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    return [orjson.loads(e.data) for e in decode_all(response.content)]


def test_CORE_HIST_005_006_follow_ups_are_steered_like_first_messages(base):
    first = rpc(base, "SendMessage", {"message": user_message("turn 1", "tck-input-required-hist")})["result"]["task"]
    task_id = first["id"]
    for turn in (2, 3):  # the TCK reuses its messageId: each turn is steered into INPUT_REQUIRED again
        again = rpc(base, "SendMessage", {"message": user_message(f"turn {turn}", "tck-input-required-hist",
                                                                  taskId=task_id)})["result"]["task"]
        assert again["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    done = rpc(base, "SendMessage", {"message": user_message("turn 4", "tck-complete-task-hist", taskId=task_id)})
    assert done["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    history = rpc(base, "GetTask", {"id": task_id})["result"]["history"]
    users = [m["parts"][0]["text"] for m in history if m["role"] == "ROLE_USER"]
    assert users == ["turn 1", "turn 2", "turn 3", "turn 4"]  # chronological, as exchanged
    steered = rpc(base, "SendMessage", {"message": user_message("Book a meeting room", "steer-1")})["result"]["task"]
    reply = rpc(base, "SendMessage", {"message": user_message("please schedule it", "steer-2", taskId=steered["id"])})
    assert reply["result"]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"  # keyword "schedule" asks again


# --- agent cards --------------------------------------------------------------------------------

def test_CARD_CACHE_001_002_003_cache_headers_and_conditional_gets(base):
    for path in ("/.well-known/agent-card.json", "/a2a/researcher/.well-known/agent-card.json"):
        card = httpx.get(base + path)
        assert card.headers["cache-control"] == "public, max-age=300"
        etag, modified = card.headers["etag"], card.headers["last-modified"]
        assert etag.startswith('"') and modified.endswith("GMT")
        assert httpx.get(base + path).headers["etag"] == etag  # stable
        not_modified = httpx.get(base + path, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified.headers["etag"] == etag
        assert httpx.get(base + path, headers={"If-None-Match": '"other"'}).status_code == 200
        assert httpx.get(base + path, headers={"If-Modified-Since": modified}).status_code == 304
        assert httpx.get(base + path, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
        assert httpx.get(base + path, headers={"If-Modified-Since": "garbage"}).status_code == 200


# --- errors on their conditions -------------------------------------------------------------------

def test_CORE_ERR_v1_codes_on_their_conditions(base):
    ext = {"A2A-Extensions": EXTENSION}
    missing = rpc(base, "SendMessage", {"message": user_message("hi", "e-1")}, agent="strict")
    assert missing["error"]["code"] == -32008 and missing["error"]["data"][0]["reason"] == "EXTENSION_SUPPORT_REQUIRED"
    ok = httpx.post(f"{base}/a2a/strict", json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
        "message": user_message("hi", "e-2")}}, headers={"A2A-Version": "1.0", "A2A-Extensions": f"{EXTENSION}, urn:x"})
    assert ok.json()["result"]["task"] and ok.headers["a2a-extensions"] == EXTENSION
    invalid = rpc(base, "SendMessage", {"message": user_message("garbage please", "e-3")}, agent="strict", headers=ext)
    assert invalid["error"]["code"] == -32006 and invalid["error"]["data"][0]["reason"] == "INVALID_AGENT_RESPONSE"
    card = rpc(base, "GetExtendedAgentCard", {}, agent="strict", headers=ext)["result"]
    assert "secret" in {s["id"] for s in card["skills"]} and card["capabilities"]["extendedAgentCard"] is True
    public = httpx.get(f"{base}/a2a/strict/.well-known/agent-card.json").json()
    assert "secret" not in {s["id"] for s in public["skills"]}
    assert [e["uri"] for e in public["capabilities"]["extensions"]] == [EXTENSION, "urn:aigw:test:optional"]
    assert rpc(base, "GetExtendedAgentCard", {}, agent="declared")["error"]["code"] == -32007
    assert rpc(base, "GetExtendedAgentCard", {})["error"]["code"] == -32004
    assert rpc(base, "SendMessage", {"message": user_message("x", "e-4")}, headers={"A2A-Version": "3.1"})["error"][
        "code"] == -32009


# --- HTTP+JSON binding ----------------------------------------------------------------------------

def test_HTTP_JSON_paths_and_status_mapping(base):
    agent = f"{base}/a2a/assistant"
    sent = httpx.post(f"{agent}/message:send", json={"message": user_message("What is A2A?", "r-1")})
    assert sent.status_code == 200 and sent.headers["content-type"].startswith("application/json")
    task = sent.json()["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    got = httpx.get(f"{agent}/tasks/{task['id']}", params={"historyLength": 1}).json()
    assert got["id"] == task["id"] and len(got["history"]) == 1
    listed = httpx.get(f"{agent}/tasks", params={"contextId": task["contextId"], "includeArtifacts": "true"}).json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]] and "artifacts" in listed["tasks"][0]
    assert httpx.get(f"{base}/a2a/assistant/tenant-1/tasks/{task['id']}").json()["id"] == task["id"]  # /{tenant}/...

    def error(response, status, reason):
        assert response.status_code == status, response.text
        body = response.json()["error"]
        assert body["code"] == status and body["details"][0]["reason"] == reason, body
        assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"

    error(httpx.get(f"{agent}/tasks/no-such"), 404, "TASK_NOT_FOUND")
    error(httpx.post(f"{agent}/tasks/{task['id']}:cancel"), 409, "TASK_NOT_CANCELABLE")  # bodyless POST is fine
    error(httpx.get(f"{agent}/tasks/{task['id']}:subscribe"), 400, "UNSUPPORTED_OPERATION")
    error(httpx.post(f"{agent}/message:send", content=b"<x/>", headers={"content-type": "application/xml"}),
          415, "CONTENT_TYPE_NOT_SUPPORTED")
    error(httpx.post(f"{agent}/message:send", content=b"{nope", headers={"content-type": "application/json"}),
          400, "PARSE_ERROR")
    error(httpx.post(f"{agent}/message:send", json={"message": {"role": "ROLE_USER"}}), 400, "INVALID_PARAMS")
    error(httpx.post(f"{agent}/message:send", json={"message": user_message("x", "r-2")},
                     headers={"A2A-Version": "0.3"}), 400, "VERSION_NOT_SUPPORTED")
    error(httpx.post(f"{base}/a2a/researcher/tasks/{task['id']}/pushNotificationConfigs", json={"url": "http://127.0.0.1:9"}),
          400, "PUSH_NOTIFICATION_NOT_SUPPORTED")
    error(httpx.post(f"{agent}/tasks/{task['id']}/pushNotificationConfigs",
                     json={"taskId": "another-task", "url": "http://127.0.0.1:9"}), 400, "INVALID_PARAMS")
    error(httpx.get(f"{agent}/nothing/here/at/all"), 404, "METHOD_NOT_FOUND")
    assert httpx.put(f"{agent}/message:send", json={}).status_code == 405
    error(httpx.post(f"{base}/a2a/strict/message:send", json={"message": user_message("garbage", "r-3")},
                     headers={"A2A-Extensions": EXTENSION}), 502, "INVALID_AGENT_RESPONSE")
    error(httpx.get(f"{base}/a2a/declared/extendedAgentCard"), 400, "EXTENDED_AGENT_CARD_NOT_CONFIGURED")
    error(httpx.get(f"{base}/a2a/strict/extendedAgentCard"), 400, "EXTENSION_SUPPORT_REQUIRED")


def test_admin_api_overview_filters_and_reset(base):
    overview = httpx.get(f"{base}/_mock/a2a", headers=ADMIN).json()["agents"]
    assert set(overview) >= {"assistant", "researcher", "strict"} and overview["assistant"]["tasks"] >= 1
    assert httpx.get(f"{base}/_mock/a2a").status_code == 401
    assert httpx.get(f"{base}/_mock/a2a/nobody/deliveries", headers=ADMIN).status_code == 404
    assert httpx.get(f"{base}/_mock/a2a/assistant/deliveries", params={"state": "odd"}, headers=ADMIN).status_code == 400
    assert httpx.get(f"{base}/_mock/a2a/assistant/deliveries", params={"bogus": 1}, headers=ADMIN).status_code == 400
    assert httpx.delete(f"{base}/_mock/a2a/assistant/deliveries", headers=ADMIN).json()["deliveries"] == []
    assert deliveries(base) == []
    assert httpx.post(f"{base}/_mock/a2a/reset", headers=ADMIN).json() == {"status": "reset"}
    assert httpx.get(f"{base}/_mock/a2a", headers=ADMIN).json()["agents"]["assistant"]["tasks"] == 0
