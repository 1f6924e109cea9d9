"""What every aigw locustfile shares: options, request helpers, bounded users and the observation recorder.

Imported only by locustfiles (it imports Locust, which monkey-patches the process with gevent) — never by
the runner, the analysis or the tests. Everything a scenario needs to prove a verdict that Locust's own
statistics cannot carry (which key was admitted how many tokens, which backend answered, whether an answer
was a cache hit) is recorded here as rows, shipped from workers to the master with Locust's own
``report_to_master`` / ``worker_report`` events, and written by the master (or the single local process)
as ``--observations FILE`` when Locust quits. ``aigw.load.analysis`` turns that file into verdicts.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import os
import time
from collections import defaultdict
from typing import Any

import gevent
from locust import FastHttpUser, events
from locust.exception import StopUser
from locust.runners import WorkerRunner

log = logging.getLogger("aigw.load")
MAX_ROWS = 2_000_000  # observation rows kept per run; more are counted, not stored
DEFAULT_MAX_SECONDS = 3600.0


@events.init_command_line_parser.add_listener
def _common_options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw (all scenarios)")
    group.add_argument("--api-path", default="/openai", help="the gateway API's path prefix (default /openai)")
    group.add_argument("--deployment", default="gpt-4o", help="chat deployment (default gpt-4o)")
    group.add_argument("--api-version", default="2024-10-21", help="api-version query parameter")
    group.add_argument("--key-header", default="api-key", help="subscription key header (default api-key)")
    group.add_argument("--keys", default="ops-key-000000003",
                       help="comma-separated subscription keys; rate-limit takes KEY:REQUESTS_PER_SECOND")
    group.add_argument("--max-tokens", type=int, default=60, help="max_tokens of each chat request")
    group.add_argument("--max-requests", type=int, default=1_000_000, help="per user: stop after this many requests")
    group.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                       help="stop the whole run after this long when --run-time is not given")
    group.add_argument("--observations", default="", help="write the scenario's observations (JSON) here at exit")
    group.add_argument("--backend-header", default="x-ms-region", help="response header naming the backend")
    group.add_argument("--cache-header", default="x-aigw-cache", help="response header with the cache's hit|miss|bypass")
    group.add_argument("--seed", type=int, default=0, help="seed of the workload generator")


# -- the recorder ---------------------------------------------------------------------------------------


class Recorder:
    """Rows per kind (``request``, ``wait``, ``action``...), kept in memory and merged on the master."""

    def __init__(self) -> None:
        self.columns: dict[str, list[str]] = {}
        self.rows: dict[str, list[list]] = defaultdict(list)
        self.kept = 0
        self.dropped = 0
        self.meta: dict[str, Any] = {}

    def declare(self, kind: str, *columns: str) -> None:
        self.columns[kind] = list(columns)

    def add(self, kind: str, *row: Any) -> None:
        if self.kept >= MAX_ROWS:
            self.dropped += 1
            return
        self.kept += 1
        self.rows[kind].append(list(row))

    def take(self) -> dict:
        rows, self.rows = dict(self.rows), defaultdict(list)
        return {"rows": rows, "dropped": self.dropped}

    def merge(self, shipped: dict) -> None:
        for kind, rows in shipped.get("rows", {}).items():
            self.rows[kind].extend(rows)
            self.kept += len(rows)
        self.dropped = max(self.dropped, 0) + shipped.get("dropped", 0)

    def write(self, path: str, scenario: str, options: Any) -> None:
        document = {"scenario": scenario, "columns": self.columns, "rows": dict(self.rows), "dropped": self.dropped,
                    "meta": self.meta, "options": _plain_options(options)}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))


def _plain_options(options: Any) -> dict:
    if options is None:
        return {}
    return {k: v for k, v in vars(options).items() if isinstance(v, (str, int, float, bool, type(None)))}


RECORDER = Recorder()
_SCENARIO = {"name": "custom"}


def scenario(name: str) -> Recorder:
    """Called once by a scenario module: names the observations file's scenario and returns the recorder."""
    _SCENARIO["name"] = name
    return RECORDER


@events.report_to_master.add_listener
def _ship(client_id, data, **_kw) -> None:
    data["aigw"] = RECORDER.take()


@events.worker_report.add_listener
def _receive(client_id, data, **_kw) -> None:
    if "aigw" in data:
        RECORDER.merge(data["aigw"])


@events.quit.add_listener
def _write(exit_code, **_kw) -> None:
    environment = _ENVIRONMENT.get("env")
    if environment is None or isinstance(environment.runner, WorkerRunner):
        return
    path = getattr(environment.parsed_options, "observations", "")
    if path:
        RECORDER.write(path, _SCENARIO["name"], environment.parsed_options)


_ENVIRONMENT: dict[str, Any] = {}


@events.init.add_listener
def _remember(environment, **_kw) -> None:
    _ENVIRONMENT["env"] = environment


@events.test_start.add_listener
def _time_guard(environment, **_kw) -> None:
    """Every run ends by itself: without ``--run-time`` it stops after ``--max-seconds``."""
    options = environment.parsed_options
    RECORDER.meta.setdefault("started", time.time())
    if isinstance(environment.runner, WorkerRunner) or options is None or getattr(options, "run_time", None):
        return
    gevent.spawn_later(float(getattr(options, "max_seconds", DEFAULT_MAX_SECONDS)), environment.runner.quit)


@events.test_stop.add_listener
def _stopped(environment, **_kw) -> None:
    RECORDER.meta["stopped"] = time.time()


def is_controller(environment) -> bool:
    """The master, or the one local process: where once-per-run work (fault schedules) belongs."""
    return not isinstance(environment.runner, WorkerRunner)


# -- request helpers ------------------------------------------------------------------------------------

_USER_INDEX = itertools.count()


class AigwUser(FastHttpUser):
    """A FastHttpUser with a request budget (``--max-requests``) and the gateway's URL shapes."""

    abstract = True
    connection_timeout = 10.0
    network_timeout = 60.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.options = options
        self.index = next(_USER_INDEX)
        self.sent = 0
        self.budget = int(getattr(options, "max_requests", 1_000_000))
        keys = parse_keys(getattr(options, "keys", ""))
        self.key, self.key_rate = keys[self.index % len(keys)] if keys else ("", None)
        self.key_header = getattr(options, "key_header", "api-key")

    def spend(self) -> None:
        """Count one request; stop this user (for good) when its budget is used up."""
        self.sent += 1
        if self.sent > self.budget:
            raise StopUser()

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.key:
            headers[self.key_header] = self.key
        headers.update(extra)
        return headers

    def operation_url(self, operation: str, deployment: str | None = None, api_path: str | None = None) -> str:
        options = self.options
        prefix = (api_path if api_path is not None else options.api_path).rstrip("/")
        return (f"{prefix}/deployments/{deployment or options.deployment}/{operation}"
                f"?api-version={options.api_version}")


def parse_keys(spec: str) -> list[tuple[str, float | None]]:
    """``"k1:20,k2:5,k3"`` → ``[("k1", 20.0), ("k2", 5.0), ("k3", None)]``."""
    keys = []
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        key, _, rate = item.partition(":")
        keys.append((key, float(rate) if rate else None))
    return keys


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def fire(environment, request_type: str, name: str, milliseconds: float, length: int = 0,
         exception: Exception | None = None) -> None:
    """Report a measurement Locust does not take itself (TTFT, inter-token latency) as its own request type."""
    environment.events.request.fire(request_type=request_type, name=name, response_time=milliseconds,
                                    response_length=length, exception=exception, context={})


def chat_body(prompt: str, max_tokens: int, stream: bool = False) -> dict:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def usage_of(response) -> dict:
    try:
        return (response.json() or {}).get("usage") or {}
    except (ValueError, AttributeError):
        return {}


def remaining_seconds(environment) -> float:
    """How long the run still has, by ``--run-time`` (or ``--max-seconds``) from the first test_start."""
    options = environment.parsed_options
    total = getattr(options, "run_time", None) or getattr(options, "max_seconds", DEFAULT_MAX_SECONDS)
    started = RECORDER.meta.get("started", time.time())
    return max(0.0, started + float(total) - time.time())
