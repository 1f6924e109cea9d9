"""A real webhook receiver for push-notification tests: an HTTP server on loopback, in a thread.

It records every POST (path, headers, JSON body, arrival order) and answers each path with the
statuses it was told to (``fail(path, 503, 503)``: the first two POSTs to ``path`` get 503, later ones
200), so retries can be proved. ``wait_for(path, n)`` blocks until ``n`` notifications arrived.
"""

import http.server
import json
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    at: float


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: dict[str, list[int]] = {}
        self.lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    planned = receiver.script.get(self.path) or []
                    status = planned.pop(0) if planned else 200
                    if status < 300:
                        receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                          json.loads(raw), time.monotonic()))
                    receiver.lock.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail(self, path: str, *statuses: int) -> None:
        with self.lock:
            self.script[path] = list(statuses)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len([r for r in self.received if r.path == path]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.lock.wait(left)
            got = [r for r in self.received if r.path == path]
        assert len(got) >= count, f"{path} received {len(got)} of {count} notifications: {[r.body for r in got]}"
        return got

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def states(received: list[Received]) -> list[str]:
    """What each notification says, in arrival order: ``task:STATE``, ``status:STATE`` or ``artifact``."""
    out = []
    for item in received:
        body = item.body
        if "task" in body:
            out.append(f"task:{body['task']['status']['state']}")
        elif "statusUpdate" in body:
            out.append(f"status:{body['statusUpdate']['status']['state']}")
        else:
            out.append(next(iter(body)).removesuffix("Update"))
    return out
