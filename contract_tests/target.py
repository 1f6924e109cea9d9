"""The target under test, as the suite's tests see it: HTTP only, every exchange recorded.

Tests never talk to a target any other way, so each failure can be reported with the requests that
led to it as ``curl`` lines a vendor can paste (secrets redacted). ``Target`` knows the target's
path style (Azure ``/openai/deployments/…``, ``/v1``, or the seed's ``/deployments/…``), how it
authenticates, and which deployments serve which operation; ``MockAdmin`` drives the mock's
``/_mock`` admin API when mocks sit behind the target (faults, outages, clock, counters).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import requests

from aigw.contract_tests.capabilities import Capabilities
from aigw.protocol import sse

SUFFIXES = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}
OPERATIONS = (*SUFFIXES, "models")
SECRET_HEADERS = frozenset({"api-key", "authorization", "ocp-apim-subscription-key", "x-api-key"})
SECRET_QUERY = frozenset({"subscription-key", "api-key", "key"})
MAX_STREAM_BYTES = 32 * 1024 * 1024
CURL_BODY_LIMIT = 4096
REDACTED = "REDACTED"


class TargetError(AssertionError):
    """The target did not answer (connection refused/reset, timeout): a failure of the test that sent it."""


@dataclass
class Exchange:
    """One request and its response, kept for the report's reproducers."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    response_headers: dict[str, str]
    body: bytes
    elapsed_s: float
    error: str | None = None  # set when no response arrived (status 0)

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise AssertionError(f"{self.method} {self.url} → {self.status}: body is not JSON: {self.body[:300]!r}") from None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.response_headers.items() if key.lower() == wanted), None)

    def events(self) -> list[sse.Event]:
        try:
            return sse.decode_all(self.body)
        except ValueError as exc:
            raise AssertionError(f"{self.method} {self.url}: event stream cannot be decoded: {exc}") from None

    def curl(self) -> str:
        """A reproducer with keys replaced by ``REDACTED``; bodies over 4 KiB are summarised."""
        parts = ["curl", "-sS", "-X", self.method, shlex.quote(redact_url(self.url))]
        for name, value in self.request_headers.items():
            shown = REDACTED if name.lower() in SECRET_HEADERS else value
            parts += ["-H", shlex.quote(f"{name}: {shown}")]
        body = self.request_body
        if body:
            if len(body) > CURL_BODY_LIMIT:
                parts.append(f"--data-binary @body.bin  # {len(body)} bytes, starting {body[:60]!r}")
            else:
                parts += ["--data-binary", shlex.quote(body.decode("utf-8", "replace"))]
        return " ".join(parts)

    def summary(self) -> str:
        status = self.status if self.status else f"no response ({self.error})"
        return f"{self.method} {redact_url(self.url)} → {status}"


def redact_url(url: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    if not query:
        return url
    pairs = [(k, REDACTED if k.lower() in SECRET_QUERY else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return urlunsplit((scheme, netloc, path, urlencode(pairs, safe="*"), fragment))


@dataclass
class MockAdmin:
    """The mock's admin API (``mocks/admin.py``); every call raises AssertionError with the reason on failure."""

    url: str
    token: str = "mock-admin"
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        url = self.url.rstrip("/") + path
        try:
            response = self.session.request(method, url, json=body, timeout=30,
                                            headers={"authorization": f"Bearer {self.token}"})
        except requests.RequestException as exc:
            raise AssertionError(f"mock admin {method} {url}: no answer: {exc}") from None
        if response.status_code >= 400:
            raise AssertionError(f"mock admin {method} {url} → {response.status_code}: {response.text[:300]}")
        return response.json()

    def health(self) -> dict:
        return self._call("GET", "/_mock/health")

    def counters(self) -> dict:
        return self._call("GET", "/_mock/counters")

    def limits(self) -> dict:
        return self._call("GET", "/_mock/limits")

    def reset(self) -> None:
        self._call("POST", "/_mock/reset")

    def set_faults(self, deployment: str, **faults: Any) -> dict:
        return self._call("PATCH", f"/_mock/faults/{deployment}", faults)

    def clear_faults(self, deployment: str) -> None:
        self._call("DELETE", f"/_mock/faults/{deployment}")

    def outage(self, deployment: str, down: bool) -> None:
        self._call("POST", f"/_mock/outage/{deployment}", {"down": down})

    def advance_clock(self, seconds: float) -> dict:
        return self._call("POST", "/_mock/clock/advance", {"seconds": seconds})

    def a2a_deliveries(self, agent: str, task_id: str) -> list[dict] | None:
        """What the mock's A2A agent POSTed to webhooks for a task, oldest first (``/_mock/a2a``); None
        when this mock has no such agent (another mock behind the target may serve it)."""
        try:
            return self._call("GET", f"/_mock/a2a/{agent}/deliveries?task={task_id}")["deliveries"]
        except AssertionError as exc:
            if "→ 404" in str(exc):
                return None
            raise

    def requests(self, limit: int = 512) -> list[dict]:
        """The last requests this mock received, as they arrived (raw path, query, headers)."""
        return self._call("GET", f"/_mock/requests?limit={limit}")["requests"]


@dataclass
class ResetHook:
    """A URL that puts the target back to its start when POSTed (``--reset-url``; the reference gateway's
    ``/_aigw/reset``): counters, breakers, caches. Raises AssertionError with the reason on failure."""

    url: str
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def reset(self) -> None:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.session.post(self.url, headers=headers, timeout=30)
        except requests.RequestException as exc:
            raise AssertionError(f"reset POST {redact_url(self.url)}: no answer: {_reason(exc)}") from None
        if response.status_code >= 300:
            raise AssertionError(f"reset POST {redact_url(self.url)} → {response.status_code}: {response.text[:300]}")


@dataclass
class Target:
    base_url: str
    profile: str = "backend"
    capabilities: Capabilities = field(default_factory=Capabilities)
    seed: int = 0
    max_examples: int = 25
    api_keys: list[str] = field(default_factory=lambda: ["contract-test-key"])
    deployment: str = "gpt-4o"
    embeddings_deployment: str = "text-embedding-3-small"
    completions_deployment: str | None = "gpt-35-turbo-instruct"
    api_version: str = "2024-10-21"
    paths: str = "azure"  # azure | v1 | seed
    mock_admins: list[MockAdmin] = field(default_factory=list)
    resets: list[ResetHook] = field(default_factory=list)
    fuzz_key: str | None = None  # an unthrottled key for bulk groups (schema, robustness); defaults to the main key
    metrics_key: str | None = None  # the metrics endpoint's bearer key, when it needs one
    exchanges: list[Exchange] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.paths not in ("azure", "v1", "seed"):
            raise ValueError(f"paths must be azure, v1 or seed (got {self.paths!r})")

    def reset_state(self) -> list[str]:
        """Everything behind the target that can be reset, back to its start (the mocks' ``/_mock/reset``, the
        ``--reset-url`` hooks); returns what could not be reset (empty: all done, or nothing to do)."""
        problems = []
        for hook in [*self.mock_admins, *self.resets]:
            try:
                hook.reset()
            except AssertionError as exc:
                problems.append(str(exc))
        return problems

    @property
    def resettable(self) -> bool:
        return bool(self.mock_admins or self.resets)

    # -- addressing ---------------------------------------------------------------------------------
    def deployment_for(self, operation: str) -> str:
        name = {"chat": self.deployment, "completions": self.completions_deployment,
                "embeddings": self.embeddings_deployment, "models": self.deployment}.get(operation)
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
        if not name:
            raise AssertionError(f"the target declares no deployment for {operation} (--deployment flags)")
        return name

    def operation_url(self, operation: str, deployment: str | None = None) -> str:
        name = deployment or self.deployment_for(operation)
        if operation == "models":
            if self.paths == "azure":
                return f"{self.base_url}/openai/models?api-version={self.api_version}"
            return f"{self.base_url}/v1/models"
        suffix = SUFFIXES[operation]
        if self.paths == "azure":
            return f"{self.base_url}/openai/deployments/{name}/{suffix}?api-version={self.api_version}"
        if self.paths == "seed":
            return f"{self.base_url}/deployments/{name}/{suffix}"
        return f"{self.base_url}/v1/{suffix}"

    def metrics_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.metrics_key}"} if self.metrics_key else {}

    @property
    def main_key(self) -> str | None:
        return self.api_keys[0] if self.api_keys else None

    def auth_headers(self, key: str | None) -> dict[str, str]:
        if key is None:
            return {}
        if self.paths == "v1" and self.profile != "gateway":
            return {"Authorization": f"Bearer {key}"}
        return {"api-key": key}

    def _key(self, key_index: int, api_key: str | None) -> str | None:
        if api_key is not None:
            return api_key
        if key_index >= len(self.api_keys):
            raise AssertionError(f"this check needs {key_index + 1} API keys (repeat --api-key); the target has {len(self.api_keys)}")
        return self.api_keys[key_index]

    # -- requests -----------------------------------------------------------------------------------
    def post(self, operation: str, body: dict[str, Any], *, key_index: int = 0, headers: dict[str, str] | None = None,
             stream: bool = False, deployment: str | None = None, timeout: float = 60, api_key: str | None = None) -> Exchange:
        """POST a model-API operation; ``stream=True`` reads the whole (bounded) event stream."""
        name = deployment or self.deployment_for(operation)
        if self.paths == "v1" and "model" not in body:
            body = {"model": name, **body}
        if stream and "stream" not in body:
            body = {**body, "stream": True}
        url = self.operation_url(operation, name)
        sent = {"Content-Type": "application/json", **self.auth_headers(self._key(key_index, api_key)), **(headers or {})}
        return self._send("POST", url, sent, orjson.dumps(body), timeout)

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
                key_index: int = 0, auth: bool = True, timeout: float = 60, api_key: str | None = None) -> Exchange:
        """A raw request to ``base_url + path`` (robustness, MCP, A2A, metrics)."""
        sent = {**(self.auth_headers(self._key(key_index, api_key)) if auth else {}), **(headers or {})}
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return self._send(method, url, sent, body, timeout)

    def raw_request(self, method: str, target: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
                    key_index: int = 0, auth: bool = True, timeout: float = 30, api_key: str | None = None) -> Exchange:
        """Send ``target`` (path and query) byte for byte: ``requests`` (urllib3) removes dot segments and
        re-quotes a path before sending, which would hide exactly what the security probes send."""
        import http.client

        sent = {**(self.auth_headers(self._key(key_index, api_key)) if auth else {}), **(headers or {})}
        scheme, netloc, base_path, _, _ = urlsplit(self.base_url)
        connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = connection_class(netloc, timeout=timeout)
        url = self.base_url + target
        started = time.perf_counter()
        try:
            connection.putrequest(method, base_path + target, skip_accept_encoding=True)
            for name, value in {**sent, "Content-Length": str(len(body or b""))}.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            content = response.read(MAX_STREAM_BYTES + 1)[:MAX_STREAM_BYTES]
            exchange = Exchange(method, url, sent, body, response.status, dict(response.getheaders()), content,
                                time.perf_counter() - started)
        except (OSError, http.client.HTTPException) as exc:
            exchange = Exchange(method, url, sent, body, 0, {}, b"", time.perf_counter() - started,
                                error=f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            connection.close()
        self.exchanges.append(exchange)
        return exchange

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> Exchange:
        # Always read as a stream, bounded: a broken target must not make the suite buffer without limit.
        started = time.perf_counter()
        try:
            response = self.session.request(method, url, headers=headers, data=body, timeout=timeout, stream=True)
            content = _read_bounded(response, MAX_STREAM_BYTES)
        except requests.RequestException as exc:
            exchange = Exchange(method, url, headers, body, 0, {}, b"", time.perf_counter() - started, error=_reason(exc))
            self.exchanges.append(exchange)
            raise TargetError(f"{exchange.summary()}") from None
        exchange = Exchange(method, url, headers, body, response.status_code, dict(response.headers), content,
                            time.perf_counter() - started)
        self.exchanges.append(exchange)
        return exchange


def _read_bounded(response: requests.Response, limit: int) -> bytes:
    parts, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            response.close()
            raise AssertionError(f"{response.request.method} {redact_url(response.url)}: response exceeds {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "Read timed out", "Max retries exceeded"):
        if marker in text:
            return f"{type(exc).__name__}: {marker}"
    return f"{type(exc).__name__}: {text[:200]}"
