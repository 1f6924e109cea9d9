"""mixed — chat, chat streams, embeddings and MCP tool calls in configurable proportions.

    locust -f $(aigw load --print-locustfile mixed),$(aigw load --print-shapefile step) --headless \\
        -u 20 -r 10 -t 120s --host http://127.0.0.1:8080 --mix chat=6,stream=2,embeddings=1,mcp=1

Each user draws its next operation from ``--mix`` (seeded). MCP goes to ``--mcp-path`` (the embedded
target's ``/mcp`` API fronts the eastus mock's MCP server): one session per user (``initialize``, then
``notifications/initialized``), then ``tools/call calculator`` per draw; a session the server forgot (404)
is opened again. Streams are read to the end and report ``TTFT``/``ITL`` like the streaming scenario.
"""

import random
import time

import orjson
from locust import events, task

from aigw.load.locustlib import AigwUser, chat_body, fire, scenario
from aigw.load.sse_client import StreamResult

RECORD = scenario("mixed")
RECORD.declare("request", "t0", "ms", "operation", "status")
OPERATIONS = ("chat", "stream", "embeddings", "mcp")
MCP_VERSION = "2025-06-18"


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw mixed")
    group.add_argument("--mix", default="chat=6,stream=2,embeddings=1,mcp=1", help="OPERATION=WEIGHT,...")
    group.add_argument("--embedding-deployment", default="text-embedding-3-small")
    group.add_argument("--mcp-path", default="/mcp", help="the MCP API's path on the target")


def parse_mix(spec: str) -> dict[str, float]:
    mix = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, weight = item.partition("=")
        if name not in OPERATIONS:
            raise ValueError(f"--mix: unknown operation {name!r}; one of {', '.join(OPERATIONS)}")
        mix[name] = float(weight or 1)
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("--mix needs at least one operation with a positive weight")
    return mix


def json_rpc_result(response) -> dict | None:
    """The JSON-RPC message of an MCP answer, sent as JSON or as one SSE event."""
    body = response.content or b""
    if "text/event-stream" in (response.headers.get("content-type") or ""):
        data = [line[5:].strip() for line in body.split(b"\n") if line.startswith(b"data:")]
        body = data[-1] if data else b""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


class MixedUser(AigwUser):
    def on_start(self) -> None:
        super().on_start()
        mix = parse_mix(self.options.mix)
        self.operations, self.weights = list(mix), list(mix.values())
        self.random = random.Random(f"{self.options.seed}:{self.index}")
        self.session: str | None = None

    def wait_time(self) -> float:
        return 0.0

    @task
    def one(self) -> None:
        self.spend()
        operation = self.random.choices(self.operations, self.weights)[0]
        t0 = time.time()
        status = getattr(self, f"_{operation}")()
        RECORD.add("request", t0, (time.time() - t0) * 1000, operation, status)

    def _check(self, response) -> int:
        if response.status_code != 200:
            response.failure(f"HTTP {response.status_code}" if response.status_code else f"no response: {response.error}")
        return response.status_code

    def _chat(self) -> int:
        body = chat_body(f"Summarise ticket {self.index}-{self.sent} in one line", self.options.max_tokens)
        with self.client.post(self.operation_url("chat/completions"), json=body, headers=self.headers(),
                              name="chat", catch_response=True) as response:
            return self._check(response)

    def _stream(self) -> int:
        started = time.perf_counter()
        result = StreamResult(started)
        body = chat_body(f"Stream a short note about crate {self.index}-{self.sent}", self.options.max_tokens, stream=True)
        with self.client.post(self.operation_url("chat/completions"), json=body, headers=self.headers(),
                              name="chat stream", stream=True, catch_response=True) as response:
            if response.status_code == 200:
                result.consume(response._response, started + self.network_timeout)
                if result.error or not result.done:
                    response.failure(result.error or "the stream ended without data: [DONE]")
            status = self._check(response)
        if result.ttft_ms is not None:
            fire(self.environment, "TTFT", "chat stream", result.ttft_ms)
        if result.itl_ms is not None:
            fire(self.environment, "ITL", "chat stream", result.itl_ms)
        return status

    def _embeddings(self) -> int:
        body = {"input": f"invoice {self.index}-{self.sent}: two lamps and a chair"}
        url = self.operation_url("embeddings", deployment=self.options.embedding_deployment)
        with self.client.post(url, json=body, headers=self.headers(), name="embeddings", catch_response=True) as response:
            return self._check(response)

    def _mcp_post(self, message: dict, name: str):
        headers = self.headers(accept="application/json, text/event-stream")
        if self.session:
            headers.update({"mcp-session-id": self.session, "mcp-protocol-version": MCP_VERSION})
        return self.client.post(self.options.mcp_path, data=orjson.dumps(message), headers=headers, name=name,
                                catch_response=True)

    def _mcp_open(self) -> int:
        self.session = None
        hello = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": MCP_VERSION, "capabilities": {},
                            "clientInfo": {"name": "aigw-load", "version": "1"}}}
        with self._mcp_post(hello, "mcp initialize") as response:
            self.session = response.headers.get("mcp-session-id") if response.status_code == 200 else None
            if response.status_code == 200 and not self.session:
                response.failure("initialize answered without an Mcp-Session-Id")
            status = self._check(response)
        if self.session:
            with self._mcp_post({"jsonrpc": "2.0", "method": "notifications/initialized"}, "mcp initialized") as response:
                if response.status_code != 202:
                    response.failure(f"notifications/initialized: HTTP {response.status_code}, expected 202")
        return status

    def _mcp(self) -> int:
        if not self.session and self._mcp_open() != 200:
            return 0
        call = {"jsonrpc": "2.0", "id": self.sent, "method": "tools/call",
                "params": {"name": "calculator", "arguments": {"operation": "add", "a": self.sent, "b": 2}}}
        with self._mcp_post(call, "mcp tools/call") as response:
            if response.status_code == 404:
                self.session = None  # the server forgot the session: open a new one next time
            message = json_rpc_result(response) if response.status_code == 200 else None
            if response.status_code == 200 and (message is None or "result" not in message):
                response.failure(f"tools/call: no JSON-RPC result ({(message or {}).get('error')})")
                return 0
            return self._check(response)
