"""security: what an attacker tries on a gateway — every probe non-destructive and bounded in time.

- **Paths**: traversal and encoding variants (``..``, ``%2e%2e``, ``..%2f``, double encoding, mixed case,
  ``;`` parameters, backslashes, NUL) aimed at the backend's admin API (``/_mock/health``: read-only)
  and at other surfaces of the backend. Judged where it matters — at the backend, through the mocks'
  request log (``--mock-admin``): no probe may arrive anywhere but a canonical model-API path. A
  gateway may refuse a variant (400/404) or serve it as the operation it canonically names.
- **Limits**: with the second tenant's token limit spent, no path variant of the chat operation is
  answered (needs the declared ``rate_limit_tpm``).
- **Keys**: a subscription key in the query (plain and percent-encoded names) or in a header never
  travels upstream, in any header, path or query.
- **Server bounds**: a 1 MiB header or 10,000 headers are refused (or the connection closed), never
  answered as a request or with a 5xx; a client sending its headers a line at a time is cut off
  within a bound (70 s: generous to any sane header timeout).
- **Deep JSON**: a request nested 300 or 900 levels deep (past what common JSON serialisers write
  back, short of what they parse) is a 4xx — and a few of them in a row do not take the service
  down for anyone else.

Gateway profile (capability ``security``); the probes that read the backends need ``--mock-admin``.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from urllib.parse import urlsplit

import orjson
import pytest

from aigw.contract_tests.checks import check_error_body
from aigw.contract_tests.prompts import fresh_chat, per_choice_cap, spread
from aigw.contract_tests.target import Exchange, Target

pytestmark = pytest.mark.aigw(group="security", needs=("security",))
SLOW_HEADER_BOUND_S = 70.0
DRIP_EVERY_S = 5.0
PROBE = "aigw-probe"
# What a backend may receive for a model-API request: a canonical path, nothing left to decode or resolve.
UNCANONICAL = re.compile(r"(^|/)\.\.?(/|;|$)|%2e|%2f|%5c|%00|%25|\\|//|;", re.IGNORECASE)
ADMIN_SURFACE = "/_mock"

ESCAPES = [
    "/openai/../_mock/health", "/openai/%2e%2e/_mock/health", "/openai/%2E%2E/_mock/health",
    "/openai/.%2e/_mock/health", "/openai/..%2f_mock/health", "/openai/..%2F_mock%2Fhealth",
    "/openai/%252e%252e/_mock/health", "/openai/..%252f_mock/health", "/openai/..;/_mock/health",
    "/openai/..\\_mock\\health", "/openai/..%5c_mock%5chealth", "/openai/deployments/../../_mock/health",
    "/openai/deployments/{d}/../../../_mock/health", "/openai//../_mock/health", "/openai/%00/../_mock/health",
    "/OPENAI/../_mock/health", "/openai/../v1/models", "/openai/%2e%2e/mcp", "/mcp/../_mock/health",
    "/a2a/..%2f_mock/health", "/../_mock/health",
]
CHAT_VARIANTS = [
    "/openai/deployments/x/../{d}/chat/completions", "/openai/deployments/x/%2e%2e/{d}/chat/completions",
    "/openai/deployments/x/..%2f{d}/chat/completions", "/openai/deployments/{d}/./chat/completions",
    "/openai/deployments/{d}/chat/completions/", "/openai/deployments/{d}/chat/completions/.",
    "/openai/deployments/{d}/chat//completions", "/openai//deployments/{d}/chat/completions",
    "/openai/deployments/{d};v=1/chat/completions", "/openai/deployments/{d}/chat/completions;x",
    "/openai/deployments/{d}/chat%2fcompletions", "/openai/deployments/{d}\\chat\\completions",
    "/openai/deployments/{d}/chat/completions%00", "/openai/deployments/%252e%252e/{d}/chat/completions",
]
QUERY_KEY_NAMES = ["subscription-key", "subscription%2Dkey", "subscription%2dkey", "%73ubscription-key",
                   "subscription-key%00", "subscription-key;", "SUBSCRIPTION-KEY"]


def _chat_body() -> bytes:
    return orjson.dumps({**fresh_chat("Say hi"), "max_tokens": 5})


def _query(target: Target, marker: str) -> str:
    return f"?api-version={target.api_version}&{PROBE}={marker}"


def _arrivals(target: Target, since: float, marker: str) -> list[dict]:
    """What the mocks received since ``since`` from this probe (its marker in the query), plus anything at all
    that reached their admin API other than the suite's own admin calls."""
    found = []
    for admin in target.mock_admins:
        found += [entry for entry in admin.requests() if entry["at"] >= since and not entry["admin"]
                  and (marker in entry["query"] or entry["raw_path"].startswith(ADMIN_SURFACE))]
    return found


def _reachable_mocks(target: Target) -> None:
    for admin in target.mock_admins:
        try:
            admin.requests(limit=1)
        except AssertionError as exc:
            pytest.skip(f"not applicable: the mock admin has no request log ({exc})")


def _post_raw(target: Target, path: str, marker: str, key_index: int = 0) -> Exchange:
    return target.raw_request("POST", path.format(d=target.deployment) + _query(target, marker), body=_chat_body(),
                              headers={"Content-Type": "application/json"}, key_index=key_index, timeout=30)


@pytest.mark.aigw(group="security", needs=("security", "azure_paths", "mock_admin"))
def test_path_variants_never_reach_unconfigured_upstream_paths(aigw_target):
    target = aigw_target
    _reachable_mocks(target)
    since = time.time() - 1
    marker = uuid.uuid4().hex
    answers = {path: _post_raw(target, path, marker) for path in ESCAPES + CHAT_VARIANTS}
    for path, exchange in answers.items():
        assert exchange.status != 0, f"{path}: no answer ({exchange.error})"
        assert exchange.status < 500 or exchange.status in (502, 503, 504), (
            f"{path}: {exchange.status} — a traversal attempt must be refused or confined, not crash the target")
    for path in ESCAPES:
        status = answers[path].status
        assert status >= 400, f"{path}: answered {status}: it escaped the API (expected 400 or 404)"
    breaches = []
    for entry in _arrivals(target, since, marker):
        raw = entry["raw_path"]
        if raw.startswith(ADMIN_SURFACE) or not raw.startswith("/openai/") or UNCANONICAL.search(raw):
            breaches.append(f"{entry['method']} {raw}")
    assert not breaches, ("path variants reached the backend as: " + ", ".join(breaches[:8])
                          + " — the target routed on one reading of the path and forwarded another")


@pytest.mark.aigw(group="security", needs=("security", "azure_paths", "rate_limits", "rate_limit_tpm"))
def test_a_tenant_at_its_limit_gets_nothing_through_path_variants(aigw_target):
    """A request whose estimate (prompt + max_tokens = the whole per-minute limit) cannot fit a window that
    already holds some usage is refused on the canonical path — and must be on every variant of it."""
    target = aigw_target
    if len(target.api_keys) < 2:
        pytest.skip("not applicable: needs a second tenant key (repeat --api-key): the main key stays unthrottled")
    limit = target.capabilities.rate_limit_tpm  # spread over choices the model can serve (its cap per answer)
    body = spread(fresh_chat("Count to three"), limit + limit // 100 + 1, per_choice_cap(target.capabilities))
    raw = orjson.dumps(body)
    for _ in range(2):  # a second round only if the minute window turned during the first
        warm = target.post("chat", {**fresh_chat("Say hi"), "max_tokens": 5}, key_index=1)
        refused = target.post("chat", body, key_index=1)
        if warm.status != 200 or refused.status != 429:
            pytest.skip(f"not applicable: the limit could not be made to refuse one request ({warm.status}, "
                        f"{refused.status}): it does not count max_tokens, so variants cannot be judged")
        marker = uuid.uuid4().hex
        answers = {path: target.raw_request("POST", path.format(d=target.deployment) + _query(target, marker), body=raw,
                                            headers={"Content-Type": "application/json"}, key_index=1)
                   for path in CHAT_VARIANTS}
        if target.post("chat", body, key_index=1).status == 429:
            break
    through = [path for path, exchange in answers.items() if 200 <= exchange.status < 300]
    assert not through, f"a request over the tenant's token limit was answered through: {', '.join(through)}"


@pytest.mark.aigw(group="security", needs=("security", "auth", "azure_paths", "mock_admin"))
def test_keys_in_the_query_never_travel_upstream(aigw_target):
    key = aigw_target.main_key
    statuses = _send_keys(aigw_target, [(f"&{name}={key}", {}) for name in QUERY_KEY_NAMES])
    assert statuses[0] == 200, f"the plain subscription-key query parameter was not accepted: {statuses}"


@pytest.mark.aigw(group="security", needs=("security", "auth", "azure_paths", "mock_admin"))
def test_keys_in_headers_never_travel_upstream(aigw_target):
    key = aigw_target.main_key
    statuses = _send_keys(aigw_target, [("", {header: key}) for header in ("api-key", "Ocp-Apim-Subscription-Key")])
    assert statuses == [200, 200], f"a key in the api-key or Ocp-Apim-Subscription-Key header was not accepted: {statuses}"


def _send_keys(target: Target, ways: list[tuple[str, dict]]) -> list[int]:
    """Send the main key each way (extra query, headers), then look for it in what reached the mocks."""
    _reachable_mocks(target)
    since, marker = time.time() - 1, uuid.uuid4().hex
    path = f"/openai/deployments/{target.deployment}/chat/completions{_query(target, marker)}"
    statuses = []
    for query, headers in ways:
        exchange = target.raw_request("POST", path + query, body=_chat_body(), auth=False,
                                      headers={"Content-Type": "application/json", **headers})
        assert exchange.status != 0 and exchange.status < 500, exchange.summary()
        statuses.append(exchange.status)
    leaks = _leaks(_arrivals(target, since, marker), target.main_key)
    assert not leaks, "the client's subscription key travelled upstream: " + "; ".join(leaks[:5])
    return statuses


def _leaks(entries: list[dict], key: str) -> list[str]:
    found = []
    for entry in entries:
        where = [f"header {name}" for name, value in entry["headers"] if key in value]
        if key in entry["query"] or key in entry["raw_path"]:
            where.append("path or query")
        if where:
            found.append(f"{entry['method']} {entry['raw_path']}: {', '.join(where)}")
    return found


@pytest.mark.parametrize("shape", ["one-1MiB-header", "10000-headers"])
def test_oversized_headers_are_refused(aigw_target, shape):
    target = aigw_target
    headers = {"Content-Type": "application/json"}
    if shape == "one-1MiB-header":
        headers["X-Probe-Large"] = "a" * (1024 * 1024)
    else:
        headers.update({f"X-Probe-{i}": "1" for i in range(10_000)})
    exchange = target.raw_request("POST", target.operation_url("chat").removeprefix(target.base_url),
                                  body=_chat_body(), headers=headers, api_key=target.fuzz_key or target.main_key, timeout=30)
    if exchange.status == 0:
        assert "timed out" not in (exchange.error or ""), f"{shape}: the target neither answered nor closed within 30 s"
        return  # the connection was closed: refused without a word, acceptable
    assert 400 <= exchange.status < 500, f"{shape}: answered {exchange.status}; expected a refusal (431, 400 or 413)"


def test_headers_sent_a_line_at_a_time_are_cut_off(aigw_target):
    target = aigw_target
    scheme, netloc, base_path, _, _ = urlsplit(target.base_url)
    if scheme != "http":
        pytest.skip("not applicable: the slow-header probe speaks plain HTTP only")
    host, _, port = netloc.partition(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port or 80)), timeout=10) as sock:
        sock.sendall(f"POST {base_path}/openai/deployments/{target.deployment}/chat/completions HTTP/1.1\r\n"
                     f"Host: {netloc}\r\n".encode())
        cut_off = False
        while time.monotonic() - started < SLOW_HEADER_BOUND_S:
            sock.settimeout(DRIP_EVERY_S)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                data = None
            except OSError:
                cut_off = True
                break
            if data is not None:  # an answer (408) or the connection closed: both end the slow request
                cut_off = True
                break
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                cut_off = True
                break
    assert cut_off, (f"a client sending one header line every {DRIP_EVERY_S:g} s was still connected after "
                     f"{SLOW_HEADER_BOUND_S:g} s: no header-read timeout (slow-loris)")


def _nested(depth: int) -> bytes:
    """A JSON Schema ``depth`` levels deep, written by hand: serialisers refuse to write it (that is the point)."""
    levels = depth // 2
    return b'{"type":"object","properties":{"a":' * levels + b'{"type":"string"}' + b"}}" * levels


@pytest.mark.parametrize("depth", [300, 900])
def test_deep_json_is_a_client_error_and_harms_no_one(aigw_target, depth):
    target = aigw_target
    key = target.fuzz_key or target.main_key
    head = orjson.dumps({**fresh_chat("Use the tool"), "max_tokens": 5})[:-1]
    bodies = [head + b',"tools":[{"type":"function","function":{"name":"probe","parameters":' + _nested(depth) + b"}}]}",
              head + b',"response_format":{"type":"json_schema","json_schema":{"name":"probe","schema":'
              + _nested(depth) + b"}}}"]
    url = target.operation_url("chat")
    for _ in range(3):
        for body in bodies:
            exchange = target.request("POST", url, body=body, headers={"Content-Type": "application/json"}, api_key=key)
            assert 400 <= exchange.status < 500, f"JSON nested {depth} levels deep answered {exchange.status}: {exchange.body[:200]!r}"
            problems = check_error_body(exchange.status, exchange.header("content-type"), exchange.body)
            assert not problems, "; ".join(problems)
    healthy = target.post("chat", fresh_chat("Name a river"), api_key=key)
    assert healthy.status == 200, (f"after six deeply nested requests an ordinary one got {healthy.status}: "
                                   "bad input from one client took the service down for others")
