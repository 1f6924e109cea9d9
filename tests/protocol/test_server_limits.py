"""Every listener's bounds (aigw.protocol.server_limits), over raw sockets against a real uvicorn.

A tiny ASGI app echoes what it read, so each bound is seen from the client's side: JSON refusals with
the right status, closed connections, and what still works afterwards.
"""

import asyncio
import logging
import socket
import time

import orjson
import pytest

from aigw.protocol.log_limit import LogLimiter
from aigw.protocol.server_limits import LimitedHttpToolsProtocol, ServerLimits, install_exception_handler

from conftest import read_response, running_app

LIMITS = ServerLimits(header_timeout=0.6, body_timeout=0.6, keep_alive=5, max_header_bytes=4096, max_headers=20,
                      max_connections=4)


class Echo:
    server_limits = LIMITS

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        body, more = b"", True
        if scope["path"] == "/early":  # answers without reading the body (a 413 for a declared size)
            more = False
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body, more = body + message.get("body", b""), message.get("more_body", False)
        payload = orjson.dumps({"path": scope["path"], "bytes": len(body)})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def server():
    with running_app(Echo()) as (url, _):
        yield int(url.rsplit(":", 1)[1])


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def closed(sock: socket.socket, within: float = 4.0) -> bool:
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, socket.timeout):
        return False


def assert_json_refusal(response, status: int, words: str) -> None:
    code, headers, body = response
    assert code == status, (code, body)
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    error = orjson.loads(body)["error"]
    assert error["code"] == str(status) and words in error["message"], error
    assert headers["apim-request-id"]


def test_a_plain_request_passes(server):
    with connect(server) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        status, _, body = read_response(sock)
    assert status == 200 and orjson.loads(body) == {"path": "/x", "bytes": 3}


def test_headers_that_never_finish_get_408_and_the_connection_closes(server):
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n")
        for _ in range(3):  # a header line every 0.25 s: slow-loris stays under any idle timeout
            time.sleep(0.25)
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                break
        assert_json_refusal(read_response(sock), 408, "headers did not arrive")
        assert time.monotonic() - started < 3 and closed(sock)


def test_an_idle_new_connection_is_closed_silently(server):
    with connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b"" and time.monotonic() - started < 3


def test_a_body_that_drips_gets_408(server):
    with connect(server) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab")
        assert_json_refusal(read_response(sock), 408, "body did not arrive")


@pytest.mark.parametrize("case", ["one-huge-value", "many-headers", "long-url"])
def test_oversized_headers_are_refused(server, case):
    with connect(server) as sock:
        if case == "one-huge-value":
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 200_000 + b"\r\n\r\n")
            expected = (431, "larger than 4096 bytes")
        elif case == "many-headers":
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(40)) + b"\r\n")
            expected = (431, "more than 20 header fields")
        else:
            sock.sendall(b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            expected = (414, "request line is longer")
        assert_json_refusal(read_response(sock), *expected)


def test_malformed_requests_get_json_400(server):
    with connect(server) as sock:
        sock.sendall(b"GARBAGE\x01\r\n\r\n")
        assert_json_refusal(read_response(sock), 400, "Invalid HTTP request")
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n")
        status, headers, body = read_response(sock)
        assert status == 400 and headers["content-type"] == "application/json" and orjson.loads(body)["error"]


def test_connections_over_the_cap_get_503_and_the_server_recovers(server, caplog):
    held = [connect(server) for _ in range(4)]
    try:
        time.sleep(0.1)
        with caplog.at_level(logging.WARNING, "aigw.server"):
            extra = [connect(server) for _ in range(5)]
            responses = [read_response(sock) for sock in extra]
        for response in responses:
            assert_json_refusal(response, 503, "limit of 4 open connections")
            assert response[1]["retry-after"] == "1"
        assert sum("refusing connections" in r.message for r in caplog.records) <= 1  # once per interval, not per refusal
        for sock in extra:
            sock.close()
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    test_a_plain_request_passes(server)


def test_an_answer_before_the_body_is_read_closes_the_connection_after_it(server):
    with connect(server) as sock:
        sock.sendall(b"POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 65536)
        status, _, body = read_response(sock)
        assert status == 200
        sock.sendall(b"x" * 65536)  # the rest of the upload is read and dropped, then the connection closes
        assert closed(sock, within=8)


def test_the_cap_stays_under_the_file_descriptor_budget(monkeypatch):
    import aigw.protocol.server_limits as limits

    monkeypatch.setattr(limits, "fd_budget", lambda: 250)
    assert ServerLimits(max_connections=4096).connections == 250
    assert ServerLimits(max_connections=10).connections == 10
    assert issubclass(limits.protocol_for(LIMITS), LimitedHttpToolsProtocol)


def test_descriptor_exhaustion_is_logged_once_per_interval_not_as_a_traceback_storm(caplog):
    async def storm():
        install_exception_handler()
        loop = asyncio.get_running_loop()
        for _ in range(500):
            loop.call_exception_handler({"message": "Error on accept", "exception": OSError(24, "Too many open files")})

    with caplog.at_level(logging.ERROR):
        asyncio.run(storm())
    lines = [r for r in caplog.records if "Too many open files" in r.getMessage()]
    assert len(lines) == 1 and not lines[0].exc_info


def test_log_limiter_counts_what_it_held_back():
    now = [0.0]
    records = []
    logger = logging.getLogger("test.limiter")
    logger.addHandler(handler := logging.Handler())
    handler.emit = lambda record: records.append(record.getMessage())
    limiter = LogLimiter(logger, interval=10, clock=lambda: now[0])
    for _ in range(5):
        limiter.warning("k", "backend %s down", "a")
    now[0] = 11
    limiter.warning("k", "backend %s down", "a")
    limiter.warning("other", "something else")
    assert records == ["backend a down", "backend a down (4 more like it in the last 11 s)", "something else"]
