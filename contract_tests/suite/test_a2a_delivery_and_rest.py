"""a2a: push-notification delivery and the HTTP+JSON binding (A2A v1.0).

**Push delivery** (needs ``--mock-admin`` for the mock behind the target, and a card declaring
``pushNotifications``): a message goes through the target with a push config naming a webhook of
this process (loopback) with a token and bearer credentials. The agent must then have POSTed the
task's notifications — the task first, then every change, in order — to exactly that URL with
exactly those credentials, which the mock's admin API (``/_mock/a2a/{agent}/deliveries``) shows
(secrets as fingerprints). What reached the local receiver, when the agent could reach it, must be
those same notifications in the same order. A gateway that rewrites, strips or refuses push configs
fails here; one that merely is not API Management does not.

**HTTP+JSON** (when the card declares an ``HTTP+JSON`` interface): ``POST …/message:send`` answers a
``SendMessageResponse``, ``GET …/tasks/{id}`` the task, an unknown task is 404 with an AIP-193 body
whose ``ErrorInfo.reason`` is ``TASK_NOT_FOUND``, a malformed message 400, and ``POST
…/message:stream`` an event stream of bare ``StreamResponse`` objects ending with a final one.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
import uuid
from urllib.parse import urlsplit

import orjson
import pytest

from aigw.contract_tests.suite.test_mcp_a2a import _card
from aigw.protocol import sse

V1 = {"A2A-Version": "1.0", "Content-Type": "application/json"}
FINAL_STATES = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED",
                "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"}
V03_FINAL = {"completed", "failed", "canceled", "rejected", "input-required", "auth-required"}
DELIVERY_WAIT_S = 20.0


def _interface(card: dict, binding: str) -> str | None:
    for interface in card.get("supportedInterfaces") or []:
        if isinstance(interface, dict) and str(interface.get("protocolBinding", "")).upper() == binding \
                and str(interface.get("protocolVersion", "1.0")).startswith("1.") and isinstance(interface.get("url"), str):
            return interface["url"]
    return None


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _Receiver:
    """A loopback webhook: records each POST body in arrival order."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(min(int(self.headers.get("content-length") or 0), 1 << 20))
                try:
                    received.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    received.append({"unparseable": raw[:200].decode("latin-1")})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/aigw-check-webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _send_with_push(target, card: dict, url: str, token: str, credentials: str) -> str:
    """Send a message with an inline push config through the target; the task's id."""
    endpoint = _interface(card, "JSONRPC")
    if endpoint is not None:  # v1.0 JSON-RPC
        params = {"message": {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": "What can you do?"}]},
                  "configuration": {"returnImmediately": True, "taskPushNotificationConfig": {
                      "url": url, "token": token, "authentication": {"scheme": "Bearer", "credentials": credentials}}}}
        body = {"jsonrpc": "2.0", "id": "push-1", "method": "SendMessage", "params": params}
        headers = V1
    else:  # v0.3: url + message/send
        endpoint = card.get("url")
        params = {"message": {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex,
                              "parts": [{"kind": "text", "text": "What can you do?"}]},
                  "configuration": {"blocking": False, "pushNotificationConfig": {
                      "url": url, "token": token, "authentication": {"schemes": ["Bearer"], "credentials": credentials}}}}
        body = {"jsonrpc": "2.0", "id": "push-1", "method": "message/send", "params": params}
        headers = {"Content-Type": "application/json"}
    exchange = target.request("POST", _path(endpoint), body=orjson.dumps(body), headers=headers)
    assert exchange.status == 200, f"sending a message with a push config got HTTP {exchange.status}: {exchange.body[:300]!r}"
    answer = exchange.json()
    result = answer.get("result") if isinstance(answer, dict) else None
    assert isinstance(result, dict), f"sending a message with a push config failed: {answer}"
    task = result.get("task", result)
    if "message" in result or result.get("kind") == "message":
        pytest.skip("not applicable: the agent answered with a Message, so there is no task to be notified about")
    assert isinstance(task.get("id"), str), f"the answer names no task id: {result}"
    return task["id"]


def _state(event: dict) -> str | None:
    if "task" in event:
        return event["task"].get("status", {}).get("state")
    if "statusUpdate" in event:
        return event["statusUpdate"].get("status", {}).get("state")
    if event.get("kind") in ("task", "status-update"):
        return (event.get("status") or {}).get("state")
    return None


def _deliveries(target, agent: str, task_id: str) -> list[dict] | None:
    """The deliveries of ``task_id`` from whichever mock admin knows them (None: no admin knows the agent)."""
    found = None
    for admin in target.mock_admins:
        deliveries = admin.a2a_deliveries(agent, task_id)
        if deliveries is not None:  # None: this mock has no such agent; another one behind the target may
            found = (found or []) + deliveries
    return found


@pytest.mark.aigw(group="a2a", needs=("a2a", "mock_admin"))
def test_a2a_push_notifications_reach_the_webhook_in_order_with_credentials(aigw_target):
    card = _card(aigw_target)
    if not (card.get("capabilities") or {}).get("pushNotifications"):
        pytest.skip("not applicable: the agent card does not declare pushNotifications")
    receiver = _Receiver()
    try:
        token, credentials = f"tok-{uuid.uuid4().hex[:8]}", f"cred-{uuid.uuid4().hex}"
        task_id = _send_with_push(aigw_target, card, receiver.url, token, credentials)
        deadline, deliveries = time.monotonic() + DELIVERY_WAIT_S, None
        while time.monotonic() < deadline:
            deliveries = _deliveries(aigw_target, card.get("name", ""), task_id)
            if deliveries is None:
                pytest.skip(f"not applicable: no --mock-admin knows agent {card.get('name')!r}")
            settled = [d for d in deliveries if d["state"] != "pending"]
            if settled and len(settled) == len(deliveries) and _state(deliveries[-1]["event"]) in FINAL_STATES | V03_FINAL:
                break
            time.sleep(0.2)
        assert deliveries, (f"the agent sent no push notification for task {task_id} within {DELIVERY_WAIT_S:.0f} s: "
                            "the push config did not reach it, or it does not deliver")
        first = deliveries[0]
        assert first["url"] == receiver.url, f"the agent called {first['url']!r}, not the webhook the client gave {receiver.url!r}"
        assert first["headers"].get("Authorization") == f"Bearer <{_fingerprint(credentials)}>", (
            f"the webhook call did not carry the client's credentials: {first['headers'].get('Authorization')!r}")
        assert first["headers"].get("X-A2A-Notification-Token") == f"<{_fingerprint(token)}>", "the token was not sent"
        assert [d["sequence"] for d in deliveries] == sorted(d["sequence"] for d in deliveries), "notifications out of order"
        assert "task" in first["event"], f"the first notification of an inline config must be the task: {first['event']}"
        assert _state(deliveries[-1]["event"]) in FINAL_STATES, f"no notification of the task's final state: {deliveries[-1]}"
        delivered = [d["event"] for d in deliveries if d["state"] == "delivered"]
        if delivered:  # the agent could reach this process: what arrived is what was sent, in order
            deadline = time.monotonic() + 5
            while len(receiver.bodies) < len(delivered) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert receiver.bodies == delivered, "the webhook received other notifications than the agent reports sending"
    finally:
        receiver.close()


@pytest.mark.aigw(group="a2a", needs=("a2a",))
def test_a2a_http_json_binding(aigw_target):
    card = _card(aigw_target)
    url = _interface(card, "HTTP+JSON")
    if url is None:
        pytest.skip("not applicable: the agent card declares no HTTP+JSON interface at protocol 1.x")
    base = _path(url).rstrip("/")
    message = {"message": {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": "What can you do?"}]}}
    sent = aigw_target.request("POST", f"{base}/message:send", body=orjson.dumps(message), headers=V1)
    assert sent.status == 200, f"POST {base}/message:send got HTTP {sent.status}: {sent.body[:300]!r}"
    result = sent.json()
    assert isinstance(result, dict) and ({"task", "message"} & set(result)), f"not a SendMessageResponse: {result}"
    if "task" in result:
        task_id = result["task"]["id"]
        got = aigw_target.request("GET", f"{base}/tasks/{task_id}", headers=V1)
        assert got.status == 200 and got.json().get("id") == task_id, f"GET {base}/tasks/{task_id} got {got.status}: {got.body[:300]!r}"
    missing = aigw_target.request("GET", f"{base}/tasks/aigw-check-{uuid.uuid4().hex}", headers=V1)
    assert missing.status == 404, f"an unknown task got HTTP {missing.status}, not 404"
    error = (missing.json() or {}).get("error") if isinstance(missing.json(), dict) else None
    reasons = [d.get("reason") for d in (error or {}).get("details") or [] if isinstance(d, dict)]
    assert "TASK_NOT_FOUND" in reasons, f"an unknown task's 404 must carry ErrorInfo reason TASK_NOT_FOUND: {missing.body[:300]!r}"
    bad = aigw_target.request("POST", f"{base}/message:send", body=b'{"message": {"role": "ROLE_USER"}}', headers=V1)
    assert bad.status == 400, f"a message without messageId and parts got HTTP {bad.status}, not 400"
    if not (card.get("capabilities") or {}).get("streaming"):
        return
    message["message"]["messageId"] = uuid.uuid4().hex
    streamed = aigw_target.request("POST", f"{base}/message:stream", body=orjson.dumps(message),
                                   headers={**V1, "Accept": "text/event-stream"})
    assert streamed.status == 200, f"POST {base}/message:stream got HTTP {streamed.status}: {streamed.body[:300]!r}"
    events = [orjson.loads(e.data) for e in sse.decode_all(streamed.body) if e.data.strip()]
    assert events, "message:stream sent no events"
    for event in events:
        assert isinstance(event, dict) and len(set(event) & {"task", "message", "statusUpdate", "artifactUpdate"}) == 1, (
            f"an HTTP+JSON stream event must be one bare StreamResponse: {event}")
    last = events[-1]
    assert "message" in last or _state(last) in FINAL_STATES, f"the stream ends without a final event: {last}"
