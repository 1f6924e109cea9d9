"""Each group starts from a known state, and a throttled target gets "inconclusive", never a wrong verdict.

Groups share one target: the schema group's fuzzing can leave a token window spent, a circuit breaker
open or answers cached, and the next group would then judge those leftovers instead of its own rule.
So, before the first check of every group (and before each fuzzed operation of the schema group):

1. **reset** what can be reset — the mocks behind the target (``--mock-admin``: ``/_mock/reset``) and the
   target itself where it offers a reset hook (``--reset-url``, e.g. the reference gateway's
   ``/_aigw/reset``);
2. **settle** — for groups that send model traffic, a minimal probe request must not be throttled
   (429) or unavailable (503). If it is, the suite waits out the ``Retry-After`` it was given, bounded by
   ``--max-wait`` and shown on the progress line, and probes again.

A target still throttled or unavailable after that cannot be judged: the group's checks are reported
**inconclusive** (a skip whose reason starts ``inconclusive:``, with the probe's request and answer as
evidence) — never as failures of rules that have nothing to do with throttling.

The same holds during a check: a check that fails on a 429 or 503 its group does not judge (only
``rate_limits`` judges 429s and ``failover`` 503s; a test may declare others with ``judges=``) is run
once more after the target has settled, and reported inconclusive if it is throttled again.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from aigw.contract_tests.prompts import fresh_word
from aigw.contract_tests.target import Exchange, Target

INCONCLUSIVE = "inconclusive"
THROTTLED = frozenset({429, 503})
DEFAULT_MAX_WAIT_S = 65.0  # one token window and a little: what one honest Retry-After can ask for
NO_RETRY_AFTER_WAIT_S = 5.0  # a 503 without Retry-After is probed again after this long

Notify = Callable[[float, str], None]  # (seconds about to be waited, why) → shown on the progress line


def throttled(exchange: Exchange | None) -> bool:
    return exchange is not None and exchange.status in THROTTLED


def retry_after_s(exchange: Exchange) -> float | None:
    """The wait the answer asks for (``retry-after-ms`` preferred, then ``Retry-After`` seconds)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = (exchange.header(name) or "").strip()
        if value.isdigit():
            return int(value) * scale
    return None


def probe(target: Target, key: str | None = None) -> Exchange:
    """The smallest model request: one fresh word (no cache answers it), one completion token."""
    body = {"messages": [{"role": "user", "content": f"Say yes. ({fresh_word()})"}], "max_tokens": 1}
    return target.post("chat", body, api_key=key, timeout=30)


def settle(target: Target, notify: Notify, max_wait_s: float, key: str | None = None,
           last: Exchange | None = None) -> Exchange | None:
    """Wait until a probe is answered without 429/503, within ``max_wait_s`` in total.

    ``last``: a throttled answer already in hand (its Retry-After is waited out first). Returns None when
    the target is available, else the last throttled exchange (the evidence).
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        if last is None:
            last = probe(target, key)
            if not throttled(last):
                return None
        wait = retry_after_s(last)
        wait = NO_RETRY_AFTER_WAIT_S if wait is None else max(wait, 0.05)
        if time.monotonic() + wait > deadline:
            return last
        notify(wait, f"target answered {last.status}" + (f" (Retry-After {last.header('retry-after')})"
                                                          if last.header("retry-after") else ""))
        time.sleep(wait + 0.1)
        last = None


def evidence(exchange: Exchange) -> str:
    retry = exchange.header("retry-after")
    return (f"{exchange.summary()}" + (f" Retry-After {retry}" if retry else "")
            + f": {exchange.body[:200].decode('utf-8', 'replace')}")


def inconclusive(why: str, exchange: Exchange | None = None) -> None:
    """Report the running check inconclusive (raises pytest's skip with an ``inconclusive:`` reason)."""
    pytest.skip(f"{INCONCLUSIVE}: {why}" + (f" — {evidence(exchange)}" if exchange is not None else ""))


def skip_reason(report: pytest.TestReport) -> str:
    """The reason of a skipped report, without pytest's ``Skipped:`` prefix."""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "")


def is_inconclusive(report: pytest.TestReport) -> bool:
    return report.skipped and skip_reason(report).startswith(INCONCLUSIVE + ":")


def unavailable_reason(max_wait_s: float) -> str:
    return f"target still throttled/unavailable after waiting up to {max_wait_s:g} s"
