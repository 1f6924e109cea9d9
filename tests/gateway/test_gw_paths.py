"""Paths are canonicalised once, before routing: no variant reaches anything but the canonical operation.

Unit tests pin ``canonical_path``; the HTTP tests send the whole corpus (tests/gateway/path_corpus.py)
through a real gateway in front of a real mock and judge by the mock's request log what arrived, and
prove that a tenant at its token limit gets nothing more through any variant.
"""

import http.client
import json
import re

import httpx
import pytest

from conftest import ADMIN, running_mock
from gw_proxy_support import HELLO, KEY, backend, config, running_gateway
from path_corpus import ALL, CHAT_VARIANTS, ESCAPES, Q
from aigw.gateway.paths import PathRefused, canonical_path
from aigw.gateway.routing import ApiRouter
from aigw.gateway.config import GatewayConfig

CANONICAL_CHAT = "/openai/deployments/gpt-4o/chat/completions"
ARRIVED_OK = re.compile(r"^/openai/deployments/[A-Za-z0-9._~-]+/(chat/completions|completions|embeddings)$")


def router() -> ApiRouter:
    cfg = GatewayConfig.model_validate({
        "backends": [{"id": "b", "url": "http://127.0.0.1:9"}],
        "apis": [{"id": "o", "path": "/openai", "backend": "b"}, {"id": "m", "path": "/mcp", "kind": "mcp", "backend": "b"},
                 {"id": "a", "path": "/a2a", "kind": "a2a", "backend": "b"}]})
    return ApiRouter(cfg.apis)


@pytest.mark.parametrize("raw, expected", [
    ("/openai/deployments/gpt-4o/chat/completions", CANONICAL_CHAT),
    ("/openai/deployments/x/../gpt-4o/chat/completions", CANONICAL_CHAT),
    ("/openai/deployments/x/%2E%2e/gpt-4o/./chat/completions", CANONICAL_CHAT),
    ("/openai//deployments/%67pt%2D4o/chat//completions", CANONICAL_CHAT),
    ("/openai/deployments/gpt-4o/chat/completions/", CANONICAL_CHAT + "/"),
    ("/openai/deployments/gpt-4o/chat/completions/.", CANONICAL_CHAT + "/"),
    ("/openai/a%3bb/%7e%41", "/openai/a%3Bb/~A"),
    ("/openai/caf%C3%A9", "/openai/caf%C3%A9"),
    ("/openai/100%25off", "/openai/100%25off"),
    ("/openai/x\"y", "/openai/x%22y"),
    ("/", "/"),
])
def test_canonical_forms(raw, expected):
    assert canonical_path(raw.encode(), router().floor) == expected


@pytest.mark.parametrize("raw, reason", [
    ("/openai/../_mock/config", "above the API's path prefix /openai"),
    ("/openai/%2e%2e/%2e%2e/x", "above the API's path prefix"),
    ("/mcp/..", "above the API's path prefix /mcp"),
    ("/../x", "above the root"),
    ("/openai/..%2fx", "encoded slash"),
    ("/openai/x%5cy", "encoded backslash"),
    ("/openai/x\\y", "backslash"),
    ("/openai/x%00", "encoded NUL"),
    ("/openai/%252e%252e", "percent-encoded twice"),
    ("/openai/..;/x", "dot segment with parameters"),
    ("/openai/deployments/gpt-4o;v=1/chat", "segment with ';' parameters"),
    ("/openai/%zz", "malformed percent-encoding"),
    ("/openai/x%2", "malformed percent-encoding"),
    ("/openai/x y", "control character, a space"),
    ("/openai/caf\xc3\xa9", "non-ASCII"),
    ("openai", "must start with '/'"),
])
def test_refusals_say_why(raw, reason):
    with pytest.raises(PathRefused, match=re.escape(reason)):
        canonical_path(raw.encode("latin-1"), router().floor)


def test_the_corpus_is_large_and_every_escape_is_refused_or_confined():
    assert len(ALL) >= 40 and len(set(ALL)) == len(ALL)
    for raw in ESCAPES:
        try:
            path = canonical_path(raw.encode(), router().floor)
        except PathRefused:
            continue
        assert not path.startswith(("/_mock", "/v1")) or router().match(path) is None, raw  # confined: no API owns it


@pytest.fixture(scope="module")
def stack():
    with running_mock() as (mock_url, _):
        limited = [{"llm-token-limit": {"counter-key": "@(context.Subscription.Id)", "token-quota": 600,
                                        "token-quota-period": "Hourly", "estimate-prompt-tokens": True}}]
        cfg = config([backend("mock", mock_url)], "mock", products=[{"id": "test"}, {"id": "limited", "policies": {"inbound": limited}}],
                     subscriptions=[{"id": "tenant", "key": KEY, "product": "test"},
                                    {"id": "capped", "key": "capped-tenant-key-02", "product": "limited"}])
        with running_gateway(cfg) as (base, _, _):
            yield base, mock_url


class Sent:
    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status_code, self.headers, self.text = status, headers, body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def send(base: str, raw_path: str, key: str = KEY) -> Sent:
    """POST with the path exactly as written: http.client sends it verbatim (httpx and requests normalise it)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", raw_path + Q, json.dumps(HELLO), {"api-key": key, "content-type": "application/json"})
        response = connection.getresponse()
        return Sent(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def arrived(mock_url: str) -> list[dict]:
    log = httpx.get(f"{mock_url}/_mock/requests", headers=ADMIN).json()["requests"]
    return [entry for entry in log if not entry["admin"]]


def test_no_variant_reaches_anything_but_a_canonical_operation(stack):
    base, mock_url = stack
    httpx.post(f"{mock_url}/_mock/reset", headers=ADMIN)
    outcomes = {raw: send(base, raw) for raw in ALL}
    for raw in ESCAPES:
        response = outcomes[raw]
        assert response.status_code in (400, 404), (raw, response.status_code, response.text[:200])
        body = response.json()
        assert "error" in body or "statusCode" in body, raw
    for raw in CHAT_VARIANTS:
        assert outcomes[raw].status_code in (200, 400, 404), (raw, outcomes[raw].status_code, outcomes[raw].text[:200])
    served = [raw for raw in CHAT_VARIANTS if outcomes[raw].status_code == 200]
    assert served and all(canonical_path(raw.encode(), router().floor).rstrip("/") == CANONICAL_CHAT for raw in served)
    upstream = arrived(mock_url)
    assert upstream, "nothing reached the backend at all"
    for entry in upstream:
        assert ARRIVED_OK.match(entry["raw_path"]), f"the backend received {entry['raw_path']!r}"
        assert entry["raw_path"] == entry["path"]  # nothing left for the backend to decode
    assert len(served) <= len(upstream) <= len(CHAT_VARIANTS)  # no escape arrived; GPT-4O did (the mock 404s it)


def test_refusals_are_openai_shaped_400s_before_auth(stack):
    base, _ = stack
    response = send(base, "/openai/../_mock/config", key="not-a-key-at-all")
    assert response.status_code == 400 and response.headers["apim-request-id"]
    assert response.json()["error"]["code"] == "invalid_path" and "path prefix" in response.json()["error"]["message"]


def test_a_tenant_at_its_limit_gets_nothing_more_through_any_variant(stack):
    """The capped tenant's hourly quota is spent with plain requests; then no variant gets an answer. (Should
    the hour turn meanwhile, the plain request is let through again and the round is repeated.)"""
    base, _ = stack
    capped = "capped-tenant-key-02"
    for _ in range(2):
        statuses = []
        for _ in range(40):  # each request reserves its prompt + 12 tokens of 600 an hour: as each variant would
            statuses.append(httpx.post(f"{base}{CANONICAL_CHAT}{Q}", json=HELLO, headers={"api-key": capped}, timeout=10).status_code)
            if statuses[-1] == 403:
                break
        assert statuses[-1] == 403 and statuses[0] == 200, statuses
        outcomes = {raw: send(base, raw, key=capped).status_code for raw in CHAT_VARIANTS}
        if httpx.post(f"{base}{CANONICAL_CHAT}{Q}", json=HELLO, headers={"api-key": capped}, timeout=10).status_code == 403:
            break  # the quota window did not turn during the round: its verdicts stand
    for raw, status in outcomes.items():
        assert status != 200, f"{raw} got through a tenant's exhausted token quota"
        assert status in (400, 403, 404), (raw, status)
