"""rate-limit — several subscriptions at different rates against a per-key token limit.

    locust -f $(aigw load --print-locustfile rate-limit) --headless -u 8 -r 8 -t 60s \\
        --host http://127.0.0.1:8080 --rate-keys tenant-a-key-0001:40,tenant-b-key-0002:10 \\
        --token-limit 20000 --observations reports/load/observations.json

Each user sends chat requests for one key, paced so that the users of a key together send the key's
requests/second. A 429 must carry ``Retry-After``; the user honours it (sleeps that long, within the
run) and the request after the wait says whether it recovered. Recorded per request: key, start, end,
status, tokens admitted (``usage.total_tokens``; none for answers the gateway's cache marked ``hit``), the
request's reservation bound (prompt + max_tokens) and Retry-After. ``aigw.load.analysis`` checks that no key was admitted more than ``--token-limit`` tokens
in any ``--window`` (+ one reservation, which APIM documents as possible overshoot).
"""

import random
import time

from locust import events, task

from aigw.load.locustlib import AigwUser, chat_body, parse_keys, remaining_seconds, retry_after_seconds, scenario, usage_of

RECORD = scenario("rate-limit")
RECORD.declare("request", "key", "t0", "t1", "status", "tokens", "reservation", "retry_after", "cached")
RECORD.declare("wait", "key", "ended", "waited", "status_after")
WORDS = ("budget river garden signal window morning engine planet market story winter pattern library "
         "journey question harbor silver letter forest machine").split()


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw rate-limit")
    group.add_argument("--rate-keys", default="tenant-a-key-0001:40,tenant-b-key-0002:10",
                       help="KEY:REQUESTS_PER_SECOND,... (users are spread round-robin over the keys)")
    group.add_argument("--token-limit", type=int, default=20000, help="declared tokens per window and key")
    group.add_argument("--window", type=float, default=60.0, help="the limit's window in seconds (60: per minute)")
    group.add_argument("--window-offset", type=float, default=0.0,
                       help="seconds the gateway's clock is ahead of ours (the embedded target's --clock-offset)")
    group.add_argument("--window-alignment", choices=["utc", "any"], default="utc",
                       help="utc: windows start on the minute (APIM, aigw); any: find the best-case alignment")
    group.add_argument("--max-wait", type=float, default=120.0, help="longest Retry-After a client honours")


class SubscriptionUser(AigwUser):
    """One client of one subscription; honours Retry-After."""

    def on_start(self) -> None:
        super().on_start()
        keys = parse_keys(self.options.rate_keys)
        if not keys:
            raise ValueError("--rate-keys is empty")
        self.key, rate = keys[self.index % len(keys)]
        users = max(1, int(getattr(self.options, "num_users", None) or 1))
        users_of_key = users // len(keys) + (1 if self.index % len(keys) < users % len(keys) else 0)
        self.interval = max(users_of_key, 1) / rate if rate else 0.0
        self.random = random.Random(f"{self.options.seed}:{self.index}")
        self.next_wait: float | None = None
        self.waiting: tuple[float, float] | None = None  # (wait ends at, seconds) of an honoured Retry-After
        self.last_start = time.monotonic()

    def wait_time(self) -> float:
        if self.next_wait is not None:
            wait, self.next_wait = self.next_wait, None
            return wait
        return max(0.0, self.interval - (time.monotonic() - self.last_start))

    @task
    def chat(self) -> None:
        self.spend()
        self.last_start = time.monotonic()
        prompt = " ".join(self.random.choice(WORDS) for _ in range(12)) + f" ({self.index}-{self.sent})"
        max_tokens = self.options.max_tokens
        t0 = time.time()
        with self.client.post(self.operation_url("chat/completions"), json=chat_body(prompt, max_tokens),
                              headers=self.headers(), name="chat", catch_response=True) as response:
            t1 = time.time()
            status = response.status_code
            tokens, reservation, retry_after = 0, max_tokens, None
            cached = ((response.headers or {}).get(self.options.cache_header) or "").lower() == "hit"
            if status == 200:
                if cached:  # a cached answer costs no tokens (APIM, aigw)
                    response.request_meta["name"] = "chat (cached)"
                else:
                    usage = usage_of(response)
                    tokens = int(usage.get("total_tokens") or 0)
                    reservation = int(usage.get("prompt_tokens") or 0) + max_tokens
            elif status == 429:
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                if retry_after is None:
                    response.failure("429 without a usable Retry-After header")
                else:
                    response.request_meta["name"] = "chat (throttled)"
                    response.success()
                    self._honour(retry_after)
            elif status == 0:
                response.failure(f"no response: {response.error}")
            else:
                response.failure(f"HTTP {status}")
        if self.waiting is not None and t0 >= self.waiting[0]:
            RECORD.add("wait", self.key, self.waiting[0], self.waiting[1], status)
            self.waiting = None
        RECORD.add("request", self.key, t0, t1, status, tokens, reservation, retry_after, cached)

    def _honour(self, retry_after: float) -> None:
        wait = min(retry_after, self.options.max_wait)
        left = remaining_seconds(self.environment)
        if wait < left:  # the wait ends inside the run: what follows it says whether the client recovered
            self.waiting = (time.time() + wait, wait)
        self.next_wait = min(wait, left + 1.0)
