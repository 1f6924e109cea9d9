"""streaming — chat streams; time to first token and inter-token latency as their own Locust request types.

    locust -f $(aigw load --print-locustfile streaming) --headless -u 8 -r 8 -t 60s --host http://127.0.0.1:8080

Locust times a streamed request to its headers only, so the stream is read here event by event and two
more entries appear in Locust's statistics: request type ``TTFT`` (request start → first content delta)
and ``ITL`` (each stream's mean gap between content deltas). Tokens/s per stream (completion tokens over
first-to-last-token time) and whether the stream ended cleanly (``data: [DONE]``) go to the observations.
"""

import time

from locust import events, task

from aigw.load.locustlib import AigwUser, chat_body, fire, scenario
from aigw.load.sse_client import StreamResult

RECORD = scenario("streaming")
RECORD.declare("stream", "t0", "status", "ttft_ms", "itl_ms", "tokens", "tokens_per_s", "complete")


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw streaming")
    group.add_argument("--stream-tokens", type=int, default=60, help="max_tokens of each stream")


class StreamingUser(AigwUser):
    def wait_time(self) -> float:
        return 0.0

    @task
    def stream(self) -> None:
        self.spend()
        t0 = time.time()
        started = time.perf_counter()
        result = StreamResult(started)
        body = chat_body(f"Tell me a short story about lighthouse number {self.index}-{self.sent}",
                         self.options.stream_tokens, stream=True)
        with self.client.post(self.operation_url("chat/completions"), json=body, headers=self.headers(),
                              name="chat stream", stream=True, catch_response=True) as response:
            status = response.status_code
            if status == 200:
                result.consume(response._response, started + self.network_timeout)
                if result.error or not result.done:
                    response.failure(result.error or "the stream ended without data: [DONE]")
            else:
                response.failure(f"HTTP {status}" if status else f"no response: {response.error}")
        if result.ttft_ms is not None:
            fire(self.environment, "TTFT", "chat stream", result.ttft_ms)
        if result.itl_ms is not None:
            fire(self.environment, "ITL", "chat stream", result.itl_ms)
        RECORD.add("stream", t0, status, result.ttft_ms, result.itl_ms, result.tokens, result.tokens_per_s,
                   bool(result.done and not result.error))
