"""failover — steady load while the backends fail, slow down, throttle and come back on a schedule.

    locust -f $(aigw load --print-locustfile failover) --headless -u 8 -r 8 -t 60s --host http://127.0.0.1:8080 \\
        --mock-admin eastus=http://127.0.0.1:8081,swedencentral=http://127.0.0.1:8082,westus=http://127.0.0.1:8083

The master (or the single local process) drives the mocks' admin API (``/_mock/outage/{deployment}``,
``/_mock/faults/{deployment}``; aigw.mocks.admin) while every user sends chat requests at ``--user-rps``.
The schedule is YAML (``--schedule FILE``) or the default below; ``at`` is seconds or a share of the run::

    - {at: 15%, backend: eastus, action: outage}          # the whole deployment answers 503
    - {at: 35%, backend: eastus, action: restore}
    - {at: 45%, backend: swedencentral, action: throttle} # every request 429 + Retry-After
    - {at: 60%, backend: swedencentral, action: restore}
    - {at: 65%, backend: eastus, action: slow, ms: 400}   # 400 ms added before each answer
    - {at: 80%, backend: eastus, action: restore}
    # also: {action: fail, status: 500, rate: 1.0}

Every backend is restored when the run stops. Recorded per request: start, latency, status and the backend
that answered (``--backend-header``, the mock's ``x-ms-region``); per action: when, what, and the admin
API's answer — from which the analysis derives the client-visible error rate per phase, the time to recover
after each disruption and each backend's share of the traffic over time.
"""

import json
import time
import urllib.error
import urllib.request

import gevent
from locust import events, task

from aigw.load.locustlib import AigwUser, chat_body, is_controller, log, scenario
from aigw.load.schedule import ScheduleError, admin_calls, check_backends, load_schedule, parse_mocks

RECORD = scenario("failover")
RECORD.declare("request", "t0", "ms", "status", "backend")
RECORD.declare("action", "t", "backend", "action", "result")


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw failover")
    group.add_argument("--mock-admin", default="", help="REGION=URL,... of the mocks behind the gateway")
    group.add_argument("--mock-admin-token", default="mock-admin", help="the mocks' admin token")
    group.add_argument("--mock-deployment", default="gpt-4o", help="the mock deployment the gateway calls")
    group.add_argument("--schedule", default="", help="YAML file with the fault schedule (default: built in)")
    group.add_argument("--user-rps", type=float, default=10.0, help="requests per second per user")


def _call(base: str, token: str, method: str, path: str, body: dict | None) -> str:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                     headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.status)
    except urllib.error.HTTPError as error:
        return f"{error.code} {error.read()[:200].decode('utf-8', 'replace')}"
    except OSError as error:
        return f"unreachable: {error}"


class Driver:
    """Runs the schedule once per run, on the controller; restores every backend at the end."""

    def __init__(self, environment) -> None:
        options = environment.parsed_options
        self.options = options
        self.mocks = parse_mocks(options.mock_admin)
        run_seconds = float(getattr(options, "run_time", None) or options.max_seconds)
        self.steps = load_schedule(options.schedule, run_seconds)
        check_backends(self.steps, self.mocks)
        self.greenlet = None

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run, time.time())

    def _run(self, started: float) -> None:
        for step in self.steps:
            gevent.sleep(max(0.0, started + step["at"] - time.time()))
            self.apply(step)

    def apply(self, step: dict) -> None:
        results = [_call(self.mocks[step["backend"]], self.options.mock_admin_token, method, path, body)
                   for method, path, body in admin_calls(step, self.options.mock_deployment)]
        RECORD.add("action", time.time(), step["backend"], step["action"], "; ".join(results))

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=False)
        for backend in self.mocks:
            self.apply({"backend": backend, "action": "restore"})


_DRIVER: dict[str, Driver] = {}


@events.test_start.add_listener
def _start_schedule(environment, **_kw) -> None:
    if not is_controller(environment) or not environment.parsed_options.mock_admin:
        return
    try:
        driver = Driver(environment)
    except ScheduleError as error:  # the runner checks first; this is for plain `locust -f`
        log.error("failover: %s; stopping", error)
        environment.process_exit_code = 2
        gevent.spawn(environment.runner.quit)
        return
    _DRIVER["driver"] = driver
    driver.start()


@events.test_stop.add_listener
def _restore(environment, **_kw) -> None:
    driver = _DRIVER.pop("driver", None)
    if driver is not None:
        driver.stop()


class FailoverUser(AigwUser):
    def on_start(self) -> None:
        super().on_start()
        self.interval = 1.0 / self.options.user_rps if self.options.user_rps > 0 else 0.0
        self.last_start = time.monotonic()

    def wait_time(self) -> float:
        return max(0.0, self.interval - (time.monotonic() - self.last_start))

    @task
    def chat(self) -> None:
        self.spend()
        self.last_start = time.monotonic()
        t0 = time.time()
        body = chat_body(f"Status check {self.index}-{self.sent}: summarise the weather", self.options.max_tokens)
        with self.client.post(self.operation_url("chat/completions"), json=body, headers=self.headers(),
                              name="chat", catch_response=True) as response:
            ms = (time.time() - t0) * 1000
            headers = response.headers or {}
            backend = headers.get(self.options.backend_header) or ""
            if (headers.get(self.options.cache_header) or "").lower() == "hit":
                backend = "cache"  # answered by the gateway itself
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}" if response.status_code else f"no response: {response.error}")
        RECORD.add("request", t0, ms, response.status_code, backend)
