"""Thousands of malformed requests: the mock never answers 5xx and never sends a non-JSON error.

Hypothesis generates broken requests in families — wrong types for every schema field, out-of-range and
unparseable numbers, huge / deeply nested / odd-unicode strings, random JSON bodies, invalid UTF-8 and
truncated JSON, wrong content types, missing and duplicated headers, random paths, methods and query
strings, mutations of rich valid requests, and random tool / response_format schemas — for all three
operations in all three path styles. Every answer must be < 500, carry ``apim-request-id``, and every
4xx must be the OpenAI error envelope. Examples are derandomized (same requests on every run, in CI
too) and bounded; the total across families is checked to be at least 2,000 requests.

Requests go over one keep-alive ``http.client`` connection: it sends exactly the bytes and header list
given (duplicates included), which ``requests`` would normalise away. The target mock runs with
``auth.mode: keys`` so the auth step is fuzzed too, with limits so high that only a deliberately huge
``max_tokens`` can exhaust a window — the fuzzer then advances the virtual clock so later requests
still reach the stages behind admission. The admin API (``/_mock/``) is a different contract and is
left out of the random paths.
"""

import http.client
import json
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from aigw.protocol.sse import decode_all
from conftest import ADMIN, mock_config, running_mock
from fuzz_corpus import CRASHERS, DEPLOYMENTS, KEY, Request, post
from fuzz_strategies import (
    mutated_valid,
    odd_headers,
    odd_numbers,
    odd_strings,
    odd_targets,
    random_bodies,
    random_schemas,
    raw_bytes,
    wrong_types,
)

MAX_BODY = 64 * 1024
TOTAL_AT_LEAST = 2000
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Fuzzer:
    """Sends requests over one keep-alive connection and checks every answer against the oracle."""

    url: str
    sent: Counter = field(default_factory=Counter)  # family → requests sent
    statuses: Counter = field(default_factory=Counter)
    connection: http.client.HTTPConnection | None = None

    def exchange(self, family: str, request: Request) -> None:
        status, headers, body = self._send(request)
        self.sent[family] += 1
        self.statuses[status] += 1
        check_answer(request, status, headers, body)
        if status == 429:  # a huge estimate emptied a window: roll it so later requests get past admission
            self.roll_windows()

    def admitted(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """The answer to ``request`` past the rate limiter (windows rolled and resent once on a 429)."""
        answer = self._send(request)
        if answer[0] == 429:
            self.roll_windows()
            answer = self._send(request)
        return answer

    def roll_windows(self) -> None:
        requests.post(self.url + "/_mock/clock/advance", json={"seconds": 60}, headers=ADMIN).raise_for_status()

    def _send(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            if self.connection is None:
                host, port = self.url.removeprefix("http://").split(":")
                self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                return self._once(self.connection, request)
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2:  # a fresh connection failed too: the mock dropped the request
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _once(connection: http.client.HTTPConnection, request: Request) -> tuple[int, dict[str, str], bytes]:
        connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers:
            connection.putheader(name, value.encode("latin-1"))
        if request.body is not None:
            connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            connection.close()
        return response.status, headers, body


def check_answer(request: Request, status: int, headers: dict[str, str], body: bytes) -> None:
    """The oracle: no 5xx, request ids always, the OpenAI error envelope on every 4xx, parseable 2xx."""
    assert status < 500, f"{status} for {request!r}: {body[:300]!r}"
    assert len(headers.get("apim-request-id", "")) == 36, f"no apim-request-id on {status} for {request!r}"
    if request.method == "HEAD":
        return  # no body on the wire by definition
    content_type = headers.get("content-type", "")
    if status >= 400:
        assert content_type.startswith("application/json"), f"{status} {content_type!r} for {request!r}: {body[:200]!r}"
        payload = json.loads(body)
        assert isinstance(payload, dict) and set(payload) == {"error"}, f"{status} {payload!r}"
        error = payload["error"]
        assert {"code", "message", "param", "type"} <= set(error), error
        assert isinstance(error["message"], str) and error["message"], error
        assert error["code"] is None or isinstance(error["code"], str), error
        assert error["param"] is None or isinstance(error["param"], str), error
        return
    if content_type.startswith("text/event-stream"):
        events = decode_all(body)
        assert events and events[-1].data == "[DONE]", f"stream not ended by [DONE] for {request!r}"
        for event in events[:-1]:
            assert isinstance(json.loads(event.data), dict)
    else:
        assert content_type.startswith("application/json"), f"{status} {content_type!r} for {request!r}"
        assert isinstance(json.loads(body), dict)


# --- the families ------------------------------------------------------------------------------------

#: family → (strategy, examples). The sum is the number of requests sent.
FAMILIES = {
    "wrong-types": (wrong_types(), 450),
    "odd-numbers": (odd_numbers(), 300),
    "odd-strings": (odd_strings(), 220),
    "random-bodies": (random_bodies(), 200),
    "raw-bytes": (raw_bytes(), 250),
    "odd-headers": (odd_headers(), 250),
    "odd-targets": (odd_targets(), 300),
    "mutated-valid": (mutated_valid(), 350),
    "random-schemas": (random_schemas(), 200),
}


@pytest.fixture(scope="module")
def fuzzer():
    deployments = [{"name": name, "model": name, "tpm": 10**15} for names in DEPLOYMENTS.values() for name in names]
    config = mock_config(auth={"mode": "keys", "keys": [KEY]}, max_body_bytes=MAX_BODY, deployments=deployments)
    with running_mock(config) as (url, _):
        yield Fuzzer(url)


def run_family(fuzzer: Fuzzer, family: str) -> None:
    strategy, examples = FAMILIES[family]

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def one_request(request: Request) -> None:
        fuzzer.exchange(family, request)

    one_request()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_never_5xx_and_always_openai_errors(fuzzer, family):
    run_family(fuzzer, family)
    assert fuzzer.sent[family] >= FAMILIES[family][1]


def test_fuzzed_at_least_2000_requests_and_reached_every_stage(fuzzer):
    for family in FAMILIES:  # run alone (e.g. -k), this test still fuzzes everything
        if not fuzzer.sent[family]:
            run_family(fuzzer, family)
    assert sum(fuzzer.sent.values()) >= TOTAL_AT_LEAST
    # The fuzz is only meaningful if it reached the answer as well as every refusal on the way.
    assert {200, 400, 401, 404, 405, 413, 415} <= set(fuzzer.statuses), fuzzer.statuses


# --- minimised crashers found by the fuzz ---------------------------------------------------------------


@pytest.mark.parametrize("target, raw", CRASHERS)
def test_minimised_crashers_answer_without_5xx(fuzzer, target, raw):
    """Each was a 500 (a traceback in the mock); the real service answers these with a 400."""
    request = post(target, raw.encode())
    check_answer(request, *fuzzer.admitted(request))
