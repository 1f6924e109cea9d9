"""Groups start from a known state: a target whose backends are throttled and whose breakers are open when a
group starts still gets correct verdicts — reset when it can be, waited for when it asks, and reported
inconclusive (never failed) when it stays unavailable."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import httpx
import pytest

from aigw.stack.plan import StackPlan
from aigw.stack.run import in_thread
from broken.catalogue import gateway_flags

pytestmark = pytest.mark.slow
CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
MOCK_ADMIN = {"authorization": "Bearer mock-admin"}


@pytest.fixture(scope="module")
def stack():
    with in_thread(StackPlan(latency="off", admin_token="isolation-test-admin-token", log_level="error")) as endpoints:
        yield endpoints


@pytest.fixture
def fresh(stack):
    stack.reset()
    yield stack
    stack.reset()


def check(stack, tmp_path, *options: str, resettable: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    flags = gateway_flags(stack)
    if not resettable:  # a vendor's gateway: no mock admin behind it, no reset hook
        kept, skip = [], False
        for flag in flags:
            if skip:
                skip = False
                continue
            if flag in ("--mock-admin", "--reset-url", "--reset-token"):
                skip = True
                continue
            kept.append(flag)
        flags = kept
    result = subprocess.run([sys.executable, "-m", "aigw.cli.main", "check", "--target", stack.gateway, *flags,
                             "--report-dir", str(tmp_path), *options], capture_output=True, text=True, timeout=600)
    return result, json.loads((tmp_path / "scorecard.json").read_text("utf-8"))


def gateway_chat(stack, text: str) -> httpx.Response:
    return httpx.post(stack.gateway + CHAT, json={"messages": [{"role": "user", "content": text}], "max_tokens": 5},
                      headers={"api-key": stack.fuzz_key}, timeout=30)


def spend_every_mocks_window(stack) -> None:
    """Each mock's gpt-4o token window charged to the last token (450,000 TPM), straight at the mock."""
    for url in stack.mocks.values():
        for body in ({"n": 27, "max_tokens": 16384}, {"max_tokens": 7630}):  # 1 + 442,368, then 1 + 7,630
            answer = httpx.post(url + CHAT, json={"messages": [{"role": "user", "content": "hi"}], **body}, timeout=60)
            assert answer.status_code == 200, answer.text[:200]


def open_every_breaker(stack) -> httpx.Response:
    """Requests until the gateway answers itself (every breaker open): 503, or 429 when they opened on 429s."""
    for i in range(60):
        answer = gateway_chat(stack, f"Is anyone there? {i}")
        if answer.status_code in (429, 503) and "statusCode" in answer.text:
            return answer
    raise AssertionError(f"the breakers never opened: {answer.status_code} {answer.text[:200]}")


def set_outage(stack, down: bool) -> None:
    for url in stack.mocks.values():
        httpx.post(url + "/_mock/outage/gpt-4o", json={"down": down}, headers=MOCK_ADMIN).raise_for_status()


def test_a_throttled_target_with_open_breakers_is_reset_before_each_group(fresh, tmp_path):
    spend_every_mocks_window(fresh)
    open_every_breaker(fresh)
    result, card = check(fresh, tmp_path, "--include", "streaming,caching,metrics")
    groups = card["groups"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert card["verdict"] == "compliant" and card["totals"]["inconclusive"] == 0
    assert {name: entry["status"] for name, entry in groups.items()} == {
        "streaming": "passed", "caching": "passed", "metrics": "passed"}


def test_a_target_that_asks_for_a_short_wait_is_waited_for_then_judged(fresh, tmp_path):
    set_outage(fresh, True)
    try:
        refused = open_every_breaker(fresh)
    finally:
        set_outage(fresh, False)
    assert refused.status_code == 503 and 1 <= int(refused.headers["retry-after"]) <= 10  # the breakers' trip
    result, card = check(fresh, tmp_path, "--include", "streaming", "--max-wait", "30", resettable=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert card["groups"]["streaming"]["status"] == "passed" and card["totals"]["inconclusive"] == 0


def test_a_target_that_stays_unavailable_is_inconclusive_not_failed(fresh, tmp_path):
    set_outage(fresh, True)  # every backend down for good, and nothing the suite may reset
    result, card = check(fresh, tmp_path, "--include", "streaming,metrics,auth", "--max-wait", "2", resettable=False)
    assert result.returncode == 3, result.stderr[-3000:]
    assert card["verdict"] == "inconclusive" and card["totals"]["failed"] == 0
    for group in ("streaming", "metrics"):
        entry = card["groups"][group]
        assert entry["status"] == "inconclusive" and entry["inconclusive"] == entry["passed"] + entry["inconclusive"] > 0
        for item in entry["inconclusive_checks"]:
            assert item["message"].startswith("inconclusive: target still throttled/unavailable"), item["message"]
            assert "503" in item["message"] and item["requests"], item  # the evidence, with a reproducer
    assert card["groups"]["auth"]["status"] == "passed"  # keys are judged without the model: not affected
    cases = list(ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"))
    unjudged = [case for case in cases if case.find("skipped") is not None
                and case.find("skipped").get("message", "").startswith("inconclusive:")]
    assert unjudged and all(any(p.get("name") == "aigw_verdict" and p.get("value") == "inconclusive"
                                for p in case.iter("property")) for case in unjudged)
    html = (tmp_path / "report.html").read_text("utf-8")
    assert "Inconclusive" in html and "class='verdict inconclusive'" in html
    assert "inconclusive" in result.stderr and "(inconclusive)" in result.stderr  # summary table and progress
