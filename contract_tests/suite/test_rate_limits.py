"""rate_limits: a 429 exactly when the declared token limit is exceeded, an honest Retry-After, and
remaining-token headers that agree with what was charged.

The declared estimate rule decides what a request costs at admission, per profile:

- backend (Azure OpenAI, the mock): ``ceil(prompt characters / 4) + max_tokens × n``, charged at
  admission and never reconciled; the limit is the deployment's TPM (the mock admin's ``/_mock/limits``),
  the counter key the deployment. 429s carry ``retry-after`` and ``retry-after-ms``. A request larger than
  the whole limit can never fit: it is refused at once and charged nothing (Azure answers it with a 429
  and ``retry-after: 86400``; see ``aigw.mocks.ratelimit`` for the evidence).
- gateway (``llm-token-limit`` with ``estimate-prompt-tokens``): prompt tokens (the tokenizer) +
  ``max_tokens × n`` reserved at admission, then reconciled to the reported ``usage``; the limit is the
  declared ``rate_limit_tpm`` per subscription key; a request larger than the whole limit is admitted
  into an empty window (never starved) and refused while the window holds anything.

Both: fixed one-minute windows. Each check starts by finding where a window ends: a request the window
cannot take is refused, and its Retry-After says when the window ends; waiting that long (the mock's
virtual clock, or real time for a gateway's own windows — at most a minute, once) and retrying must
succeed — the honesty check — and leaves the check at the start of a window whose content it knows
exactly. From there every request gets a verdict: must admit (``used + estimate <= limit - slack``), must
refuse (``> limit + slack``), or none near the window's end. Completion allowances larger than one
answer's cap (the deployment's model limit) are spread over ``n`` choices, so every request is one the
model can serve. Prompts are made-up words (``prompts.fresh_word``) so no cache answers them; gateway
checks keep the real usage far below the limit so the key stays usable for the groups that run after.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from aigw.contract_tests.prompts import chat, fresh_word, per_choice_cap, spread
from aigw.protocol.tokens import TokenCountError, count_chat_prompt

WINDOW_S = 60.0
END_EDGE_S = 2.5  # no verdict this close to the end of a window (clock uncertainty)


def words(count: int) -> str:
    return " ".join(fresh_word() for _ in range(count))


# -- estimate rules ----------------------------------------------------------------------------------


def allowance(body: dict) -> int:
    return body["max_tokens"] * (body.get("n") or 1)


class AzureEstimate:
    name = "Azure OpenAI admission estimate: ceil(prompt chars / 4) + max_tokens × n, charged at admission"
    slack = 2
    remaining_header = "x-ratelimit-remaining-tokens"
    oversized_admitted_when_empty = False  # refused at once, never charged

    def prompt(self, body: dict, model: str) -> int:
        return math.ceil(len("\n".join(m["content"] for m in body["messages"])) / 4)

    def estimate(self, body: dict, model: str) -> int:
        return self.prompt(body, model) + allowance(body)

    def pad(self, body: dict, tokens: int) -> dict:
        """The body with its estimate raised by exactly ``tokens`` (four characters each)."""
        content = body["messages"][0]["content"]
        content += " " * (-len(content) % 4) + "zzzz" * tokens
        return {**body, "messages": [{"role": "user", "content": content}]}

    def charge(self, estimate: int, exchange) -> int:
        return estimate


class TokenLimitEstimate:
    name = "llm-token-limit: prompt tokens + max_tokens × n reserved, reconciled with usage"
    slack = 8
    remaining_header = None  # discovered: any *remaining*token* header within the limit
    oversized_admitted_when_empty = True

    def prompt(self, body: dict, model: str) -> int:
        try:
            return count_chat_prompt(body["messages"], model)
        except (TokenCountError, KeyError, ValueError):
            return count_chat_prompt(body["messages"], "gpt-4o")

    def estimate(self, body: dict, model: str) -> int:
        return self.prompt(body, model) + allowance(body)

    def pad(self, body: dict, tokens: int) -> dict:
        return body  # a tokenizer's count moves in uneven steps: the estimate is what the body gives

    def charge(self, estimate: int, exchange) -> int:
        usage = exchange.json().get("usage") or {}
        assert isinstance(usage.get("total_tokens"), int), f"an admitted answer carries no usage: {exchange.body[:300]!r}"
        return usage["total_tokens"]


# -- the window model --------------------------------------------------------------------------------


@dataclass
class Window:
    """One fixed window whose start the check knows (on its own clock) and whose content it tracks."""

    limit: int
    rule: object
    start: float
    uncertainty: float
    clock: object  # () -> seconds on the target's clock, as far as the check can tell
    used: int = 0
    unknown: bool = False  # an admission near the window's end: the content is unknown until it rolls
    requests: dict[int, int] = field(default_factory=dict)  # 10 s slot → admitted requests
    last_remaining: int | None = None

    def elapsed(self) -> float:
        return self.clock() - self.start

    def roll(self) -> None:
        passed = math.floor(self.elapsed() / WINDOW_S)
        if passed > 0:
            self.start += passed * WINDOW_S
            self.used, self.unknown, self.requests, self.last_remaining = 0, False, {}, None

    def near_end(self) -> bool:
        return self.elapsed() + self.uncertainty > WINDOW_S - END_EDGE_S

    def verdict(self, estimate: int, per_10s: int | None = None) -> str | None:
        self.roll()
        if self.unknown or self.near_end():
            return None
        if per_10s is not None and self.requests.get(int(self.elapsed() // 10), 0) + 1 > per_10s:
            return None  # the request-rate limit may refuse: no token verdict
        slack = self.rule.slack
        if self.used + estimate <= self.limit - slack:
            return "admit"
        if self.used > 0 and self.used + estimate > self.limit + slack:
            return "refuse"
        return None

    def admitted(self, charge: int) -> None:
        if self.near_end():
            self.unknown = True
            return
        self.used += charge
        slot = int(self.elapsed() // 10)
        self.requests[slot] = self.requests.get(slot, 0) + 1


def remaining_tokens(exchange, rule, limit: int) -> int | None:
    names = [rule.remaining_header] if rule.remaining_header else [
        n for n in exchange.response_headers if "remaining" in n.lower() and "token" in n.lower() and "quota" not in n.lower()]
    for name in names:
        value = exchange.header(name)
        if value is not None and value.strip().isdigit() and int(value) <= limit:
            return int(value)
    return None


def check_refusal_headers(exchange, window: Window | None, need_ms: bool) -> float:
    """Retry-After (and retry-after-ms) present, well-formed, within the window; returns the wait in seconds."""
    value = exchange.header("retry-after")
    assert value is not None and value.strip().isdigit() and int(value) >= 1, (
        f"a 429 must carry Retry-After as a positive number of seconds; got {value!r}")
    seconds = int(value)
    assert seconds <= WINDOW_S + 1, f"Retry-After {seconds} s is longer than the one-minute window"
    if window is not None:
        left = WINDOW_S - window.elapsed() + window.uncertainty + 1
        assert seconds <= left, f"Retry-After {seconds} s but the window ends in at most {left:.1f} s"
    ms = exchange.header("retry-after-ms")
    if need_ms:
        assert ms is not None, "an Azure OpenAI 429 must carry retry-after-ms as well as retry-after"
    if ms is None:
        return float(seconds)
    assert ms.strip().isdigit() and int(ms) >= 1, f"retry-after-ms {ms!r} is not a positive integer"
    assert abs(math.ceil(int(ms) / 1000) - seconds) <= 1, f"retry-after-ms {ms} disagrees with retry-after {seconds}"
    return int(ms) / 1000


class Checker:
    """Sends requests for one counter key and judges each against the window model.

    ``advance(seconds)`` lets the target's clock move on: the mock admin's virtual clock (``virtual``)
    or a real sleep.
    """

    def __init__(self, target, rule, limit: int, key_index: int, advance, *, virtual: bool, need_ms: bool,
                 per_10s: int | None = None) -> None:
        self.target, self.rule, self.limit, self.key_index = target, rule, limit, key_index
        self.advance, self.virtual, self.need_ms, self.per_10s = advance, virtual, need_ms, per_10s
        self.uncertainty = 0.05 if virtual else 1.5  # retry-after-ms is exact; whole seconds are not
        self.model = target.deployment
        self.cap = per_choice_cap(target.capabilities)
        self.offset = 0.0  # seconds the virtual clock was advanced
        self.window: Window | None = None

    def now(self) -> float:
        return time.monotonic() + self.offset

    def post(self, body: dict):
        exchange = self.target.post("chat", body, key_index=self.key_index)
        assert exchange.status in (200, 429), f"a chat request got {exchange.status}: {exchange.body[:300]!r}"
        return exchange

    def body_for(self, estimate: int, prompt_words: int = 3) -> dict | None:
        """A chat body whose estimate is ``estimate`` (exactly, where the rule allows), or None if too small."""
        body = chat(words(prompt_words), max_tokens=1)
        completion = estimate - self.rule.prompt(body, self.model)
        if completion < 1:
            return None
        body = spread(body, completion, self.cap)
        return self.rule.pad(body, completion - allowance(body))

    def sized(self, prompt_words: int, completion: int) -> dict:
        """A chat body of ``prompt_words`` made-up words asking for ``completion`` tokens in all."""
        return spread(chat(words(prompt_words), max_tokens=1), completion, self.cap)

    def wait_out(self, refusal, body: dict, refused_at: float | None = None) -> None:
        """Wait the refusal's Retry-After, resend: it must be admitted (the next window is empty, and the
        request fits an empty window). Starts a new window model.

        The retry asks the same of the model in new words of the same length (a cache must not answer it:
        a cached answer is not charged, which would make the window's content unknowable)."""
        refused_at = self.now() if refused_at is None else refused_at
        wait = check_refusal_headers(refusal, None, self.need_ms)
        self.advance(wait)
        if self.virtual:
            self.offset += wait
        length = len(body["messages"][0]["content"])
        content = words(len(body["messages"][0]["content"].split()))
        content = (content + " " + "z" * length)[:length] if len(content) < length else content[:length]
        body = {**body, "messages": [{"role": "user", "content": content}]}
        retry = self.post(body)
        assert retry.status == 200, (
            f"Retry-After said {wait:g} s; after waiting that long the same request was refused again "
            f"(Retry-After {retry.header('retry-after')}): the Retry-After is not honest")
        self.window = Window(self.limit, self.rule, refused_at + wait, self.uncertainty, self.now)
        self.window.admitted(self.rule.charge(self.rule.estimate(body, self.model), retry))

    def align(self) -> None:
        """Find the end of the current window with a request it cannot take, wait for it, retry (honesty)."""
        if self.rule.oversized_admitted_when_empty:
            probe = self.sized(2, self.limit + 1)  # refused while the window holds anything
            attempts = [probe] * 3
        else:
            # A filler the empty window takes, then a small request the filled window cannot take.
            attempts = [self.body_for(self.limit - self.rule.slack), self.body_for(4 * self.rule.slack + 20)]
        for body in attempts:
            exchange = self.post(body)
            if exchange.status == 429:
                self.wait_out(exchange, body)
                if self.virtual:  # the retry may have filled this window: judge from the next, empty one
                    self.advance(WINDOW_S)
                    self.offset += WINDOW_S
                    self.window.roll()
                return
        raise AssertionError(f"requests adding up to more than the declared limit ({self.limit} tokens) were all admitted "
                             "in one window: the limit is not enforced")

    def send_oversized(self) -> None:
        """Azure's rule: a request larger than the whole limit is refused at once and charged nothing."""
        body = self.body_for(self.limit + 4 * self.rule.slack + 10)
        exchange = self.post(body)
        assert exchange.status == 429, (
            f"a request whose estimate ({self.rule.estimate(body, self.model)}) is larger than the whole limit "
            f"({self.limit} tokens) got {exchange.status}: it can never fit a window and must be refused")
        value = exchange.header("retry-after")
        assert value is not None and value.strip().isdigit() and int(value) >= 1, (
            f"the 429 for a request that can never fit carries no Retry-After (got {value!r})")

    def send(self, body: dict) -> tuple[str, object]:
        """Send and judge one request; returns ('admit'|'refuse', exchange)."""
        window = self.window
        estimate = self.rule.estimate(body, self.model)
        verdict = window.verdict(estimate, self.per_10s)
        used_before = window.used
        exchange = self.post(body)
        context = (f"declared limit {self.limit}, tokens already charged in this window {used_before}, this request's "
                   f"estimate {estimate} ({self.rule.name})")
        if exchange.status == 429:
            assert verdict != "admit", f"429 before the declared limit was reached: {context}"
            remaining = remaining_tokens(exchange, self.rule, self.limit)
            if remaining is not None and verdict is not None:
                assert remaining < estimate + self.rule.slack, (
                    f"429 while the remaining-tokens header says {remaining} tokens are left: {context}")
            check_refusal_headers(exchange, None if window.unknown else window, self.need_ms)
            return "refuse", exchange
        assert verdict != "refuse", f"admitted although the declared limit is exceeded: {context}"
        window.admitted(self.rule.charge(estimate, exchange))
        remaining = remaining_tokens(exchange, self.rule, self.limit)
        if remaining is not None and verdict is not None and not window.unknown:
            expected = self.limit - window.used
            assert abs(remaining - expected) <= self.rule.slack, (
                f"remaining-tokens header {remaining}, but {window.used} of {self.limit} tokens are charged: {context}")
            if window.last_remaining is not None:
                assert remaining <= window.last_remaining, (
                    f"remaining tokens went up from {window.last_remaining} to {remaining} within one window")
            window.last_remaining = remaining
        return "admit", exchange


# -- backend: a state machine on the mock's virtual clock --------------------------------------------


class FirstViolation:
    """Keeps the first violation a state machine meets, with the requests that led to it.

    Hypothesis replays a failing example to shrink and report it, but a live target has moved on by then
    (its windows, its clock, a defect that strikes every third request): the replay may take another path
    and end in ``Flaky``, burying the finding under "inconsistent data generation". The first violation
    is the finding; it is reported as such.
    """

    def __init__(self, target) -> None:
        self.target, self.error, self.exchanges = target, None, []

    def rule(self, method):
        @functools.wraps(method)
        def recorded(machine, *args, **kwargs):
            try:
                return method(machine, *args, **kwargs)
            except AssertionError as exc:
                if self.error is None:
                    self.error, self.exchanges = exc, list(self.target.exchanges)
                raise
        return recorded

    @contextlib.contextmanager
    def reported(self):
        try:
            yield
        except Flaky:
            if self.error is None:
                raise
            self.target.exchanges[:] = self.exchanges  # the reproducers: the requests up to the violation
            raise AssertionError(f"{self.error}\n(the first violation met; replaying the example went another way: "
                                 "the target's answers depend on more than the requests sent)") from None


def _backend(target):
    if target.profile != "backend":
        pytest.skip("not applicable: a gateway's own windows use real time (see the real-time check)")
    admin = target.mock_admins[0]
    limits = admin.limits()["deployments"].get(target.deployment)
    assert limits, f"the mock admin knows no deployment {target.deployment!r}"
    return admin, limits


def _virtual_checker(target, admin, limit: int, per_10s: int | None = None) -> Checker:
    return Checker(target, AzureEstimate(), limit, 0, admin.advance_clock, virtual=True,
                   need_ms=target.paths != "v1", per_10s=per_10s)


@pytest.mark.aigw(group="rate_limits", needs=("rate_limits", "mock_admin"))
def test_token_limit_state_machine_on_virtual_clock(aigw_target):
    target = aigw_target
    admin, limits = _backend(target)
    limit = target.capabilities.rate_limit_tpm or limits["tokens_limit"]
    first = FirstViolation(target)

    # Which rules exist never depends on the target's answers (no preconditions on them): Hypothesis
    # would call a replay that meets another answer "inconsistent data generation".
    class TokenWindowMachine(RuleBasedStateMachine):
        @initialize()
        @first.rule
        def align(self):
            self.checker = _virtual_checker(target, admin, limit, limits["requests_limit_per_10s"])
            self.checker.align()
            self.refused = None

        def _send(self, body):
            outcome, exchange = self.checker.send(body)
            if outcome == "refuse":
                self.refused = (exchange, body, self.checker.now())

        @rule(prompt_words=st.sampled_from([2, 40, 400]), share=st.floats(0.01, 0.45))
        @first.rule
        def send(self, prompt_words, share):
            self._send(self.checker.sized(prompt_words, int(limit * share)))

        @rule()
        @first.rule
        def too_large_for_any_window(self):
            self.checker.send_oversized()  # the window model is unchanged: later verdicts prove nothing was charged

        @rule(delta=st.sampled_from([-60, -3, 0, 3, 60]))
        @first.rule
        def probe_the_boundary(self, delta):
            body = self.checker.body_for(limit - self.checker.window.used + delta)
            if body is not None:
                self._send(body)

        @rule(seconds=st.floats(0, 40))
        def wait(self, seconds):
            admin.advance_clock(seconds)
            self.checker.offset += seconds
            self.refused = None  # its Retry-After counted from before the wait

        @rule()
        @first.rule
        def retry_after_the_refusal(self):
            if self.refused is None:
                return
            exchange, body, refused_at = self.refused
            self.refused = None
            if not self.checker.window.unknown:
                self.checker.wait_out(exchange, body, refused_at)

    try:
        with first.reported():
            # No shrinking: it replays examples on a target whose windows have moved on (slow, and misleading).
            run_state_machine_as_test(TokenWindowMachine, settings=settings(
                max_examples=min(target.max_examples, 8), stateful_step_count=12, deadline=None, database=None,
                derandomize=True, suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate)))
    finally:
        admin.reset()  # windows, counters and the virtual clock back to now, for the groups after this one


@pytest.mark.aigw(group="rate_limits", needs=("rate_limits", "mock_admin", "embeddings"))
def test_deployments_have_independent_limits(aigw_target):
    """Exhausting one deployment's window leaves another deployment's untouched."""
    target = aigw_target
    admin, limits = _backend(target)
    checker = _virtual_checker(target, admin, limits["tokens_limit"])
    try:
        checker.align()
        checker.send_oversized()
        assert checker.send(chat(words(5), max_tokens=20))[0] == "admit", (
            "a small request into an empty window was refused (after a request too large for any window: was it charged?)")
        outcome, _ = checker.send(checker.body_for(checker.limit - checker.window.used + 10))
        assert outcome == "refuse", "a request over the remaining tokens was admitted"
        other = target.post("embeddings", {"input": words(5)})
        assert other.status == 200, (f"deployment {target.embeddings_deployment} was refused ({other.status}) while "
                                     f"{target.deployment} is at its limit: the limits are not per deployment")
    finally:
        admin.reset()


# -- gateway: real time, one wait ---------------------------------------------------------------------


@pytest.mark.aigw(group="rate_limits", needs=("rate_limits", "rate_limit_tpm"))
def test_token_limit_per_key_in_real_time(aigw_target):
    target = aigw_target
    if target.profile == "backend":
        pytest.skip("not applicable: the backend's windows are checked on the mock's virtual clock")
    key = 1 if len(target.api_keys) > 1 else 0  # the second tenant: the main key carries the other groups
    limit = target.capabilities.rate_limit_tpm
    checker = Checker(target, TokenLimitEstimate(), limit, key, lambda s: time.sleep(s + 0.3), virtual=False, need_ms=False)
    checker.align()
    slack = checker.rule.slack
    for delta in (-slack - 1, slack + 1, -slack - 40, slack + 40):  # just under and just over what is left
        checker.send(checker.body_for(limit - checker.window.used + delta))
    rng = random.Random(target.seed)
    for _ in range(6):  # generated traffic, each request judged; real usage stays a small share of the limit
        checker.send(checker.sized(rng.choice([3, 30, 120]), rng.choice([5, limit // 4, limit // 2, limit])))
    if len(target.api_keys) > 1:
        heavy = target.post("chat", chat(words(200), max_tokens=5), key_index=1 - key)
        if heavy.status == 200:  # charged to the other key: must not count here
            outcome, _ = checker.send(checker.body_for(limit - checker.window.used - slack - 1))
            assert outcome == "admit" or checker.window.unknown, (
                "another key's traffic was charged to this key: limits per counter key are not independent")


@pytest.mark.aigw(group="rate_limits", needs=("quota",))
def test_token_quota_exhaustion_is_403(aigw_target):
    target = aigw_target
    first = target.post("chat", chat(words(3), max_tokens=5))
    assert first.status == 200, f"a small request got {first.status}: {first.body[:300]!r}"
    names = [n for n in first.response_headers if "remaining" in n.lower() and "quota" in n.lower()]
    values = [first.header(n) for n in names if (first.header(n) or "").strip().isdigit()]
    if not values:
        pytest.skip("not applicable: the quota left is not observable (no *remaining*quota* response header)")
    remaining = int(values[0])
    rule = TokenLimitEstimate()
    over = chat(words(3), max_tokens=1)
    over["max_tokens"] = remaining - rule.estimate(over, target.deployment) + rule.slack + 2
    refused = target.post("chat", over)
    assert refused.status == 403, (f"a request estimated above the remaining quota ({remaining} tokens) got "
                                   f"{refused.status}, not 403: {refused.body[:300]!r}")
    under = {**over, "max_tokens": max(1, over["max_tokens"] - 2 * rule.slack - 50)}
    allowed = target.post("chat", under)
    assert allowed.status != 403, f"a request estimated within the remaining quota got 403: {allowed.body[:300]!r}"
