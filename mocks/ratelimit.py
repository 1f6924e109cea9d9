"""Per-deployment TPM and RPM limits charged the way Azure OpenAI charges them.

Azure admits a request against an *estimate* (prompt tokens + max_tokens) taken at admission, so
clients see 429s while their real usage is still under the limit. Tokens-per-minute are counted in
60 s windows; requests-per-minute are enforced in 10 s windows of RPM/6 requests each (facts file §1).
Both windows are fixed and aligned to the virtual clock so Retry-After is exact and honest: a retry
after it is admitted.

**A request whose estimate exceeds the whole TPM limit is refused at once and charged nothing**, with
``retry-after: 86400``. It could never fit any window, so admitting it (even alone, into an empty
window) would be wrong, and charging it would throttle every other client for a minute. That is what the
real services do, as far as public evidence shows:

- Microsoft Q&A 2263211 (2025, a gpt-4.1 deployment at 30,000 TPM): the 429 "suggests a request of 42,638
  tokens exceeded the actual enforced limit of 30,000 TPM" — one request above the limit is a 429;
- users of small-TPM deployments quote Azure's 429 "... Please retry after 86400 seconds" for such
  requests, and it goes away when the deployment's TPM is raised or the request split (GitHub
  vanderschaarlab/climb#1 at 30k TPM; an embeddings batch fixed by splitting it);
- OpenAI itself answers ``429 Request too large for gpt-4o ... on tokens per min (TPM): Limit 30000,
  Requested 30601. The input or output tokens must be reduced in order to run successfully.``
  (TheR1D/shell_gpt#653, vanderschaarlab/climb#1).

The day-long Retry-After is the service's way of saying "not within any window"; a client (or a
gateway's circuit breaker) must not read it as "this backend is busy for a day" (see
``aigw.gateway.backends``). Requests the model itself cannot serve (above its context window or
completion cap) never get here: they are 400s (``model_limits``), also uncharged.
"""

import math
from dataclasses import dataclass

TOKEN_WINDOW_S = 60.0
REQUEST_WINDOW_S = 10.0
NEVER_FITS_RETRY_AFTER_S = 86_400.0  # Azure's answer to a request larger than the whole TPM (module docstring)


@dataclass(slots=True)
class Decision:
    admitted: bool
    remaining_requests: int
    remaining_tokens: int
    retry_after_s: float = 0.0
    kind: str = "token"  # which limit refused: "token" or "call"

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))

    @property
    def retry_after_ms_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s * 1000)))


class Window:
    """A fixed window: ``used`` resets when the clock passes into the next window."""

    __slots__ = ("length", "limit", "start", "used")

    def __init__(self, length: float, limit: int) -> None:
        self.length, self.limit, self.start, self.used = length, limit, 0.0, 0

    def roll(self, now: float) -> None:
        start = now - (now % self.length)
        if start != self.start:
            self.start, self.used = start, 0

    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def wait(self, now: float) -> float:
        return self.start + self.length - now


class DeploymentLimiter:
    def __init__(self, tpm: int, rpm: int) -> None:
        self.tokens = Window(TOKEN_WINDOW_S, tpm)
        self.requests = Window(REQUEST_WINDOW_S, max(1, math.ceil(rpm / (TOKEN_WINDOW_S / REQUEST_WINDOW_S))))
        self.limit_headers = ((b"x-ratelimit-limit-requests", str(self.requests.limit).encode()),
                              (b"x-ratelimit-limit-tokens", str(self.tokens.limit).encode()))

    def admit(self, estimate: int, now: float) -> Decision:
        """Check and charge in one step (the mock is single-threaded per worker: no race)."""
        self.tokens.roll(now)
        self.requests.roll(now)
        if estimate > self.tokens.limit:  # it can never fit: refused, nothing charged (module docstring)
            return Decision(False, self.requests.remaining(), self.tokens.remaining(), NEVER_FITS_RETRY_AFTER_S, "token")
        if self.requests.used + 1 > self.requests.limit:
            return Decision(False, 0, self.tokens.remaining(), self.requests.wait(now), "call")
        if self.tokens.used + estimate > self.tokens.limit:
            return Decision(False, self.requests.remaining(), self.tokens.remaining(), self.tokens.wait(now), "token")
        self.requests.used += 1
        self.tokens.used += estimate
        return Decision(True, self.requests.remaining(), self.tokens.remaining())

    def snapshot(self, now: float) -> dict[str, int]:
        self.tokens.roll(now)
        self.requests.roll(now)
        return {
            "tokens_limit": self.tokens.limit,
            "tokens_used": self.tokens.used,
            "requests_limit_per_10s": self.requests.limit,
            "requests_used": self.requests.used,
        }
