"""A deliberately broken target makes ``aigw check`` exit 1 with the failure in the right group.

The target is the mock behind a small ASGI wrapper that breaks one rule at a time: a 500 with an HTML
body for unparseable JSON (robustness), or a usage total that is not prompt + completion (schema)."""

import json
import subprocess
import sys

import orjson
import pytest

from aigw.mocks.app import MockApp
from aigw.protocol.serving import free_port, start_in_thread
from conftest import mock_config

pytestmark = pytest.mark.slow
BACKEND_AZURE_ONLY = ["--profile", "backend", "--capability", "v1_paths=false", "--capability", "seed_paths=false",
                      "--capability", "completions=false", "--capability", "embeddings=false"]


class ServerErrorOnBadJson:
    """Answers 500 text/html when the body is not JSON, instead of 400 with an error body."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/html")]})
            return await send({"type": "http.response.body", "body": b"<h1>Internal Server Error</h1>"})
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class WrongUsageSum:
    """Adds one to usage.total_tokens of every JSON answer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, parts = {}, []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return None
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            body = b"".join(parts)
            try:
                value = orjson.loads(body)
                value["usage"]["total_tokens"] += 1
                body = orjson.dumps(value)
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def _check_broken(wrapper, tmp_path, groups: str) -> tuple[int, dict]:
    port = free_port()
    server = start_in_thread(wrapper(MockApp(mock_config())), port)
    try:
        result = subprocess.run([sys.executable, "-m", "aigw.cli.main", "check", "--target", f"http://127.0.0.1:{port}",
                                 *BACKEND_AZURE_ONLY, "--include", groups, "--max-examples", "5",
                                 "--report-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    finally:
        server.should_exit = True
    return result.returncode, json.loads((tmp_path / "scorecard.json").read_text("utf-8"))


def test_server_error_on_bad_json_fails_robustness(tmp_path) -> None:
    status, card = _check_broken(ServerErrorOnBadJson, tmp_path, "robustness")
    assert status == 1
    failures = card["groups"]["robustness"]["failures"]
    assert any("test_malformed_json_is_400" in f["test"] and "server error" in f["message"] for f in failures), failures
    assert all(f["requests"] and "curl" in f["requests"][0] for f in failures)


def test_wrong_usage_sum_fails_schema_usage_arithmetic(tmp_path) -> None:
    status, card = _check_broken(WrongUsageSum, tmp_path, "schema")
    assert status == 1
    failed = {f["test"].rsplit(" ", 1)[-1].rstrip("]") for f in card["groups"]["schema"]["failures"]}
    assert "usage_arithmetic" in failed, failed
    message = next(f["message"] for f in card["groups"]["schema"]["failures"] if "usage_arithmetic]" in f["test"])
    assert "!= prompt_tokens" in message
